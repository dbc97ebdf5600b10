"""Every claim the validator reads has one type; JSON `null` is a wrong type, never absence."""

from __future__ import annotations

from typing import Any

import pytest

from aad_guard.errors import AADGuardError
from aad_guard.testing import LocalIssuer
from tests.conftest import MakeValidator

pytestmark = pytest.mark.anyio

# (claim, token options, validator options, the reason a wrong type of that claim gets).
NULLED: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("exp", {}, {}, "invalid_claim"),
    ("nbf", {}, {}, "invalid_claim"),
    ("iat", {}, {}, "invalid_claim"),
    ("aud", {}, {}, "invalid_audience"),
    ("tid", {}, {}, "invalid_claim"),
    ("iss", {}, {}, "invalid_claim"),
    ("ver", {}, {}, "version_mismatch"),
    ("scp", {}, {}, "invalid_claim"),
    ("scp", {"roles": ["Tasks.All"]}, {}, "invalid_claim"),
    ("roles", {"app_only": True}, {}, "invalid_claim"),
    ("roles", {}, {}, "invalid_claim"),
    ("azp", {}, {}, "invalid_claim"),
    ("azp", {}, {"accept_id_tokens": True}, "invalid_claim"),
    ("appid", {"version": "1.0"}, {}, "invalid_claim"),
    ("idtyp", {"app_only": True, "roles": ["Tasks.All"]}, {}, "invalid_claim"),
    ("oid", {}, {}, "invalid_claim"),
    ("sub", {}, {}, "invalid_claim"),
    ("name", {}, {}, "invalid_claim"),
    ("preferred_username", {}, {}, "invalid_claim"),
    ("upn", {"version": "1.0"}, {}, "invalid_claim"),
    ("unique_name", {"version": "1.0"}, {}, "invalid_claim"),
]


def _id(case: tuple[str, dict[str, Any], dict[str, Any], str]) -> str:
    claim, token_options, options, _ = case
    return "-".join([claim, *token_options, *options])


@pytest.mark.parametrize("case", NULLED, ids=[_id(case) for case in NULLED])
async def test_a_null_claim_is_refused_as_a_wrong_type(
    case: tuple[str, dict[str, Any], dict[str, Any], str],
    issuer: LocalIssuer,
    make_validator: MakeValidator,
) -> None:
    claim, token_options, options, reason = case
    token = issuer.token(**token_options, claims={claim: None})
    with pytest.raises(AADGuardError) as caught:
        await make_validator(**options).validate(token)
    assert caught.value.reason == reason
    if reason == "invalid_claim":
        assert getattr(caught.value, "claim", None) == claim


@pytest.mark.parametrize(
    "claim",
    ["idtyp", "oid", "sub", "name", "preferred_username", "upn", "unique_name"],
)
@pytest.mark.parametrize("value", [7, ["x"], {"x": 1}, True])
async def test_identity_claims_must_be_strings(
    claim: str, value: object, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(AADGuardError) as caught:
        await make_validator().validate(issuer.token(claims={claim: value}))
    assert (caught.value.reason, getattr(caught.value, "claim", None)) == ("invalid_claim", claim)


async def test_null_scp_does_not_make_a_user_token_app_only(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    """The token of a signed-in user with `"scp": null` is no app's token."""
    token = issuer.token(roles=["Tasks.All"], claims={"scp": None})
    with pytest.raises(AADGuardError) as caught:
        await make_validator().validate(token)
    assert caught.value.reason == "invalid_claim"
    assert "'scp' is not a string: None" in str(caught.value)


async def test_a_v2_principal_takes_its_client_from_azp_only(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    """A v2 ID token's `appid` names no caller: it is no app and has no client id."""
    token = issuer.token(scopes=None, remove=["azp"], claims={"appid": "someone"})
    principal = await make_validator(accept_id_tokens=True).validate(token)
    assert (principal.client_id, principal.is_app) == (None, False)
