"""The Principal: readable attributes over the raw claims, a Starlette user."""

from __future__ import annotations

import copy
import pickle

import pytest
from starlette.authentication import BaseUser

from aad_guard import Principal
from aad_guard.testing import LocalIssuer
from tests.conftest import MakeValidator

pytestmark = pytest.mark.anyio


async def test_v2_delegated_token_maps_to_readable_attributes(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(scopes=["Tasks.Read", "Tasks.Write"], claims={"name": "Ada"})
    principal = await make_validator().validate(token)
    assert principal.object_id == principal.claims["oid"]
    assert principal.subject == principal.claims["sub"]
    assert principal.client_id == principal.claims["azp"]
    assert principal.username == "local.user@contoso.example"
    assert principal.name == principal.display_name == "Ada"
    assert principal.scopes == frozenset({"Tasks.Read", "Tasks.Write"})
    assert principal.has_scope("Tasks.Read")
    assert not principal.has_scope("tasks.read")  # case-sensitive
    assert principal.expires_at == principal.claims["exp"]


async def test_v1_token_takes_client_from_appid_and_username_from_upn(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    principal = await make_validator().validate(issuer.token(version="1.0"))
    assert principal.client_id == principal.claims["appid"]
    assert principal.username == principal.claims["upn"]


async def test_app_only_token_is_an_app_with_roles(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    principal = await make_validator().validate(issuer.token(app_only=True, roles=["Jobs.Run"]))
    assert principal.is_app
    assert principal.has_role("Jobs.Run")
    assert principal.display_name == principal.client_id


async def test_user_token_with_roles_is_not_an_app(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    principal = await make_validator().validate(issuer.token(roles=["Admin"]))
    assert not principal.is_app
    assert principal.roles == frozenset({"Admin"})


async def test_token_with_roles_and_idtyp_user_is_not_an_app(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(scopes=None, roles=["Admin"], claims={"idtyp": "user"})
    principal = await make_validator().validate(token)
    assert not principal.is_app


async def test_scopes_split_on_any_whitespace(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(scopes=None, claims={"scp": " a  b\tc "})
    principal = await make_validator().validate(token)
    assert principal.scopes == frozenset({"a", "b", "c"})


async def test_principal_is_a_read_only_starlette_user(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    principal = await make_validator().validate(issuer.token())
    assert isinstance(principal, BaseUser)
    assert principal.is_authenticated
    assert principal.identity == principal.object_id
    with pytest.raises(TypeError):
        principal.claims["oid"] = "someone else"  # type: ignore[index]
    with pytest.raises(AttributeError):
        principal.tenant_id = "other"  # type: ignore[misc]
    assert "claims" not in repr(principal)


def test_principal_is_hashable_and_equal_by_identity_fields() -> None:
    claims = {"tid": "t", "exp": 1, "oid": "o", "scp": "a"}
    one = Principal.from_claims(claims, token_version="2.0")
    two = Principal.from_claims(dict(claims, extra=1), token_version="2.0")
    assert one == two
    assert hash(one) == hash(two)


async def test_accepted_id_token_is_not_an_app(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(scopes=None, remove=["azp"])
    principal = await make_validator(accept_id_tokens=True).validate(token)
    assert not principal.is_app
    assert principal.client_id is None


async def test_a_principal_keeps_its_token_to_itself(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token()
    principal = await make_validator().validate(token)
    # It holds the bearer token to decode its claims: never written out or copied with it.
    for write_out in (pickle.dumps, copy.deepcopy):
        with pytest.raises(TypeError):
            write_out(principal)
    assert token not in repr(principal)
    assert token not in repr(principal.source)
    assert token not in repr(principal.claims)
    assert len(principal.claims) == len(dict(principal.claims)) > 0
