"""Every Entra flavour through TokenValidator and the middleware: B2C user flows under
`metadata_url`, External ID (CIAM) authorities and custom domains, guests, allowed clients
and groups. B2C documents are the real ones of tests/data/vectors; tokens are signed with a
local issuer's keys (served without a JWK `issuer`, as B2C serves its keys).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aad_guard import AADGuardMiddleware, Principal, TokenValidator
from aad_guard.errors import (
    ClientNotAllowedError,
    GuestNotAllowedError,
    InvalidIssuerError,
    KeysUnavailableError,
    MissingClaimError,
    UserFlowNotAllowedError,
    VersionMismatchError,
)
from aad_guard.testing import DEFAULT_API_CLIENT_ID, DEFAULT_CALLER_CLIENT_ID, LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import bearer, decoded
from tests.vectors import FakeEntra, openid_configuration, real_tokens, real_tokens_jwks

pytestmark = pytest.mark.anyio

NOW: Final = 1_800_000_000
# b2c_msal_net_fixture.json: MSAL.NET's B2C metadata (issuer `.../{tid}/v2.0/`).
B2C_DOCUMENT: Final = openid_configuration("b2c_msal_net_fixture.json")
B2C_TENANT_ID: Final = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
B2C_METADATA_URL: Final = (
    "https://mytenant.com.b2clogin.com/mytenant.com.onmicrosoft.com/b2c_1_signin/v2.0/"
    ".well-known/openid-configuration"
)
OTHER_TENANT_ID: Final = "0b1c2d3e-0000-4000-8000-000000000bbb"
CIAM_TENANT_ID: Final = "3c5d6e7f-0000-4000-8000-00000000c1a0"
CIAM_ISSUER: Final = f"https://{CIAM_TENANT_ID}.ciamlogin.com/{CIAM_TENANT_ID}/v2.0"
CIAM_METADATA_URL: Final = (
    "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
)


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()


@pytest.fixture
async def http_client(entra: FakeEntra) -> AsyncIterator[httpx.AsyncClient]:
    async with entra.client() as client:
        yield client


def unbound_keys(issuer: LocalIssuer) -> dict[str, Any]:
    """The local issuer's JWKS without `issuer` members, as B2C and External ID serve keys."""
    for key in issuer.keys.listed:
        issuer.keys.issuers[key.kid] = None
    return issuer.keys.jwks()


def serve_b2c(entra: FakeEntra, document: dict[str, Any] | None = None) -> LocalIssuer:
    """Serve the real B2C metadata at `B2C_METADATA_URL`, and a local issuer's keys."""
    issuer = LocalIssuer()
    document = document or copy.deepcopy(B2C_DOCUMENT)
    entra.serve(B2C_METADATA_URL, document)
    entra.serve(document["jwks_uri"], unbound_keys(issuer))
    return issuer


def b2c_token(issuer: LocalIssuer, **claims: object) -> str:
    """A B2C access token as the v2.0 endpoint issues it: `ver` 1.0, no `tid`, `tfp`."""
    payload: dict[str, object] = {
        "iss": B2C_DOCUMENT["issuer"],
        "aud": DEFAULT_API_CLIENT_ID,
        "exp": NOW + 3600,
        "nbf": NOW,
        "iat": NOW,
        "sub": "b2c-user",
        "oid": "b2c-user",
        "idp": "google.com",
        "tfp": "B2C_1_signin",
        "ver": "1.0",
        "azp": DEFAULT_CALLER_CLIENT_ID,
        "scp": "tasks.read",
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return issuer.sign(payload, headers={"kid": issuer.keys.signing.kid})


def b2c_validator(http_client: httpx.AsyncClient, **options: Any) -> TokenValidator:
    return TokenValidator(
        client_id=DEFAULT_API_CLIENT_ID,
        metadata_url=B2C_METADATA_URL,
        clock=lambda: NOW,
        http_client=http_client,
        **options,
    )


# -- 1. metadata_url -------------------------------------------------------------------------


async def test_metadata_url_is_the_one_document_fetched(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """The issuer and keys come from that document alone: no v1 metadata is fetched."""
    issuer = serve_b2c(entra)
    validator = b2c_validator(http_client)

    await validator.validate(b2c_token(issuer))

    assert validator.metadata_url == B2C_METADATA_URL
    assert entra.requests == [B2C_METADATA_URL, B2C_DOCUMENT["jwks_uri"]]


async def test_metadata_url_keys_on_another_origin_are_not_fetched(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """The origin rule holds: a jwks_uri off the metadata_url's origin is refused (503)."""
    document = copy.deepcopy(B2C_DOCUMENT)
    document["jwks_uri"] = "https://attacker.example/keys"
    issuer = serve_b2c(entra, document)

    with pytest.raises(KeysUnavailableError):
        await b2c_validator(http_client).validate(b2c_token(issuer))
    assert "https://attacker.example/keys" not in entra.requests


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"authority": "https://login.microsoftonline.com"}, "different origins"),
        ({"metadata_url": "ftp://example.com/x"}, "metadata_url"),
        ({"tenant": "common"}, "cannot be used with metadata_url"),
        ({"metadata_url": "http://127.0.0.1:8/x/.well-known/openid-configuration"}, "tenant="),
    ],
)
def test_metadata_url_settings_are_checked_at_construction(
    options: dict[str, Any], message: str
) -> None:
    options.setdefault("metadata_url", B2C_METADATA_URL)
    with pytest.raises(ValueError, match=message):
        TokenValidator(client_id=DEFAULT_API_CLIENT_ID, **options)


def test_metadata_url_is_exposed_for_the_other_configurations() -> None:
    validator = TokenValidator(client_id=DEFAULT_API_CLIENT_ID, tenant=B2C_TENANT_ID)
    assert validator.metadata_url == (
        f"https://login.microsoftonline.com/{B2C_TENANT_ID}/v2.0/.well-known/openid-configuration"
    )


# -- 2. B2C ----------------------------------------------------------------------------------


async def test_a_b2c_token_without_tid_and_with_ver_1_is_accepted(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    issuer = serve_b2c(entra)

    principal = await b2c_validator(http_client).validate(b2c_token(issuer))

    assert principal.tenant_id == B2C_TENANT_ID  # the issuer's path
    assert principal.user_flow == "B2C_1_signin"
    assert principal.client_id == DEFAULT_CALLER_CLIENT_ID
    assert principal.scopes == {"tasks.read"}
    assert principal.is_guest is False  # `idp` names a social provider, not a home tenant
    assert principal.accepted_by == B2C_METADATA_URL


async def test_the_user_flow_of_older_b2c_tokens_is_read_from_acr(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    issuer = serve_b2c(entra)
    token = b2c_token(issuer, tfp=None, acr="b2c_1_signin")

    principal = await b2c_validator(http_client).validate(token)

    assert principal.user_flow == "b2c_1_signin"


@pytest.mark.parametrize(
    "iss",
    [
        # Microsoft's validator refuses B2C's legacy tfp form too.
        f"https://mytenant.com.b2clogin.com/tfp/{B2C_TENANT_ID}/b2c_1_signin/v2.0/",
        f"https://mytenant.com.b2clogin.com/{OTHER_TENANT_ID}/v2.0/",
        f"https://mytenant.com.b2clogin.com/{B2C_TENANT_ID}/v2.0",  # no trailing slash
        f"https://login.microsoftonline.com/{B2C_TENANT_ID}/v2.0",
    ],
)
async def test_b2c_tokens_of_another_issuer_form_or_tenant_are_refused(
    iss: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    issuer = serve_b2c(entra)
    with pytest.raises(InvalidIssuerError) as info:
        await b2c_validator(http_client).validate(b2c_token(issuer, iss=iss))
    assert info.value.reason == "invalid_issuer"


async def test_a_b2c_token_whose_tid_is_another_tenant_is_refused(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    issuer = serve_b2c(entra)
    with pytest.raises(InvalidIssuerError):
        await b2c_validator(http_client).validate(b2c_token(issuer, tid=OTHER_TENANT_ID))


async def test_b2c_metadata_with_a_tfp_issuer_is_refused(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    document = copy.deepcopy(B2C_DOCUMENT)
    document["issuer"] = f"https://mytenant.com.b2clogin.com/tfp/{B2C_TENANT_ID}/b2c_1_signin/v2.0/"
    issuer = serve_b2c(entra, document)
    with pytest.raises(KeysUnavailableError):
        await b2c_validator(http_client).validate(b2c_token(issuer, iss=document["issuer"]))


async def test_allowed_user_flows_restricts_the_flows_case_insensitively(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    issuer = serve_b2c(entra)
    validator = b2c_validator(http_client, allowed_user_flows={"b2c_1_SignIn"})

    assert (await validator.validate(b2c_token(issuer))).user_flow == "B2C_1_signin"
    for token in (b2c_token(issuer, tfp="B2C_1_reset"), b2c_token(issuer, tfp=None)):
        with pytest.raises(UserFlowNotAllowedError) as info:
            await validator.validate(token)
        assert info.value.reason == "user_flow_not_allowed"
        assert info.value.status_code == 401


def test_allowed_user_flows_needs_a_b2c_metadata_url() -> None:
    with pytest.raises(ValueError, match="B2C"):
        TokenValidator(client_id=DEFAULT_API_CLIENT_ID, allowed_user_flows={"b2c_1_signin"})


async def test_b2c_tokens_must_carry_a_version(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    issuer = serve_b2c(entra)
    with pytest.raises(MissingClaimError):
        await b2c_validator(http_client).validate(b2c_token(issuer, ver=None))
    with pytest.raises(VersionMismatchError):
        await b2c_validator(http_client).validate(b2c_token(issuer, ver="3.0"))


async def test_a_real_b2c_id_token_validates_under_its_user_flow_metadata(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """A token Azure AD B2C issued (sameerab2c, 2020): `ver` 1.0, no `tid`, `tfp`."""
    token = real_tokens()["b2c-v1.0-idt-2020-08-02-ok"]
    host = "https://sameerab2c.b2clogin.com"
    metadata_url = (
        f"{host}/sameerab2c.onmicrosoft.com/B2C_1_signup_signin/v2.0/"
        ".well-known/openid-configuration"
    )
    document = copy.deepcopy(B2C_DOCUMENT)
    document["issuer"] = token.issuer
    document["jwks_uri"] = f"{host}/sameerab2c.onmicrosoft.com/b2c_1_signup_signin/discovery/keys"
    entra.serve(metadata_url, document)
    entra.serve(document["jwks_uri"], real_tokens_jwks())
    validator = TokenValidator(
        client_id=token.audience,
        metadata_url=metadata_url,
        accept_id_tokens=True,
        clock=token.lifetime_midpoint,
        http_client=http_client,
    )

    principal = await validator.validate(token.token)

    assert principal.tenant_id == "af6fc1aa-2377-48cd-9740-c4257211ff66"
    assert principal.user_flow == "B2C_1_signup_signin"


async def test_a_b2c_token_through_the_middleware(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    issuer = serve_b2c(entra)

    async def me(request: Request) -> JSONResponse:
        user = request.user
        assert isinstance(user, Principal)
        return JSONResponse({"tenant": user.tenant_id, "flow": user.user_flow})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(AADGuardMiddleware, validator=b2c_validator(http_client))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        accepted = await client.get("/me", headers=bearer(b2c_token(issuer)))
        refused = await client.get(
            "/me", headers=bearer(b2c_token(issuer, iss=B2C_DOCUMENT["issuer"] + "x"))
        )

    assert accepted.json() == {"tenant": B2C_TENANT_ID, "flow": "B2C_1_signin"}
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


# -- 3. External ID --------------------------------------------------------------------------


def ciam_token(issuer: LocalIssuer, **claims: object) -> str:
    payload: dict[str, object] = {
        "iss": CIAM_ISSUER,
        "aud": DEFAULT_API_CLIENT_ID,
        "tid": CIAM_TENANT_ID,
        "exp": NOW + 3600,
        "nbf": NOW,
        "iat": NOW,
        "oid": "ciam-user",
        "sub": "ciam-user",
        "idp": "google.com",
        "ver": "2.0",
        "azp": DEFAULT_CALLER_CLIENT_ID,
        "scp": "tasks.read",
    }
    payload.update(claims)
    return issuer.sign(payload, headers={"kid": issuer.keys.signing.kid})


def ciam_validator(http_client: httpx.AsyncClient, **options: Any) -> TokenValidator:
    """A validator of the External ID authority `https://contoso.ciamlogin.com/` alone."""
    return TokenValidator(
        client_id=DEFAULT_API_CLIENT_ID,
        authority="https://contoso.ciamlogin.com/",
        clock=lambda: NOW,
        http_client=http_client,
        **options,
    )


def serve_ciam(entra: FakeEntra, metadata_url: str, host: str) -> LocalIssuer:
    """External ID metadata as it is shaped: issuer `https://{tid}.ciamlogin.com/{tid}/v2.0`,
    keys on the metadata's host; there is no v1 document.
    """
    issuer = LocalIssuer()
    jwks_uri = f"{host}/{CIAM_TENANT_ID}/discovery/v2.0/keys"
    entra.serve(metadata_url, {"issuer": CIAM_ISSUER, "jwks_uri": jwks_uri})
    entra.serve(jwks_uri, unbound_keys(issuer))
    return issuer


async def test_an_external_id_authority_alone_names_its_tenant(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """`https://contoso.ciamlogin.com/` is tenant `contoso.onmicrosoft.com`; with the default
    `accept_v1_tokens=True` no v1 metadata (which External ID does not serve) is asked for.
    """
    issuer = serve_ciam(entra, CIAM_METADATA_URL, "https://contoso.ciamlogin.com")
    validator = ciam_validator(http_client)

    principal = await validator.validate(ciam_token(issuer))

    assert validator.tenant == "contoso.onmicrosoft.com"
    assert validator.metadata_url == CIAM_METADATA_URL
    assert principal.tenant_id == CIAM_TENANT_ID
    assert principal.is_guest is False  # `idp` is the social provider
    assert all(".well-known" not in url or "/v2.0/" in url for url in entra.requests)
    with pytest.raises(InvalidIssuerError):
        await validator.validate(ciam_token(issuer, tid=OTHER_TENANT_ID))


async def test_an_external_id_authority_with_its_tenant_id(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    url = f"https://contoso.ciamlogin.com/{CIAM_TENANT_ID}/v2.0/.well-known/openid-configuration"
    issuer = serve_ciam(entra, url, "https://contoso.ciamlogin.com")
    validator = TokenValidator(
        client_id=DEFAULT_API_CLIENT_ID,
        authority="https://contoso.ciamlogin.com",
        tenant=CIAM_TENANT_ID,
        clock=lambda: NOW,
        http_client=http_client,
    )

    assert (await validator.validate(ciam_token(issuer))).tenant_id == CIAM_TENANT_ID


def test_an_external_id_authority_takes_no_keyword_tenant() -> None:
    with pytest.raises(ValueError, match="External ID"):
        TokenValidator(
            client_id=DEFAULT_API_CLIENT_ID,
            authority="https://contoso.ciamlogin.com",
            tenant="common",
        )


async def test_an_external_id_custom_domain_through_metadata_url(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    url = f"https://login.contoso.com/{CIAM_TENANT_ID}/v2.0/.well-known/openid-configuration"
    issuer = serve_ciam(entra, url, "https://login.contoso.com")
    validator = TokenValidator(
        client_id=DEFAULT_API_CLIENT_ID,
        metadata_url=url,
        clock=lambda: NOW,
        http_client=http_client,
    )

    principal = await validator.validate(ciam_token(issuer))

    assert principal.tenant_id == CIAM_TENANT_ID
    without_tid = {**decoded(ciam_token(issuer), 1)}
    del without_tid["tid"]
    with pytest.raises(MissingClaimError):  # outside B2C a token names its tenant
        await validator.validate(issuer.sign(without_tid, headers={"kid": issuer.keys.signing.kid}))


# -- 4. guests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "guest"),
    [
        ({"idp": "https://sts.windows.net/0b1c2d3e-0000-4000-8000-000000000bbb/"}, True),
        ({"idp": "live.com"}, True),
        ({"acct": 1}, True),
        ({"acct": 0}, False),
        ({}, False),
    ],
)
async def test_guests_are_recognised_and_refused_when_not_allowed(
    issuer: LocalIssuer, make_validator: MakeValidator, claims: dict[str, Any], guest: bool
) -> None:
    token = issuer.token(claims=claims)

    assert (await make_validator().validate(token)).is_guest is guest
    refusing = make_validator(allow_guest_users=False)
    if not guest:
        assert (await refusing.validate(token)).is_guest is False
        return
    with pytest.raises(GuestNotAllowedError) as info:
        await refusing.validate(token)
    assert info.value.status_code == 403
    assert info.value.reason == "guest_not_allowed"
    assert "Guest users are not allowed" in info.value.description


async def test_a_personal_account_is_not_a_guest(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(personal=True, claims={"idp": "live.com"})
    validator = make_validator(tenant="common", allow_guest_users=False)
    assert (await validator.validate(token)).is_guest is False


async def test_a_guest_is_refused_with_403_by_the_middleware(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(allow_guest_users=False)
    app = Starlette(routes=[Route("/me", lambda request: JSONResponse({}))])
    app.add_middleware(AADGuardMiddleware, validator=validator)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        answer = await client.get("/me", headers=bearer(issuer.token(claims={"acct": 1})))
        member = await client.get("/me", headers=bearer(issuer.token()))

    assert answer.status_code == 403
    assert answer.json()["error_description"] == "Guest users are not allowed to call this API."
    assert member.status_code == 200


# -- 5. allowed client apps ------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
async def test_allowed_client_ids_refuses_other_clients(
    issuer: LocalIssuer, make_validator: MakeValidator, version: Any
) -> None:
    validator = make_validator(allowed_client_ids={DEFAULT_CALLER_CLIENT_ID})
    assert (await validator.validate(issuer.token(version=version))).client_id == (
        DEFAULT_CALLER_CLIENT_ID
    )
    with pytest.raises(ClientNotAllowedError) as info:
        await validator.validate(issuer.token(version=version, client_id="someone-else"))
    assert info.value.reason == "client_not_allowed"
    assert info.value.status_code == 403


# -- 6. groups (the claims) ------------------------------------------------------------------


async def test_groups_and_groups_overage(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    member = await validator.validate(issuer.token(claims={"groups": ["g1", "g2"]}))
    overage = await validator.validate(
        issuer.token(claims={"_claim_names": {"groups": "src1"}, "_claim_sources": {}})
    )
    implicit = await validator.validate(issuer.token(claims={"hasgroups": True}))
    none = await validator.validate(issuer.token())

    assert (member.groups, member.groups_overage) == (frozenset({"g1", "g2"}), False)
    assert (overage.groups, overage.groups_overage) == (frozenset(), True)
    assert implicit.groups_overage is True
    assert (none.groups, none.groups_overage) == (frozenset(), False)


# -- 6. group requirements -------------------------------------------------------------------

OVERAGE: Final = {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}}


def group_apps(validator: TokenValidator, resolver: Any) -> list[Starlette | Any]:
    """The same group-protected route in Starlette (`requires_groups`) and FastAPI."""
    from fastapi import Depends, FastAPI

    from aad_guard import require_groups, requires_groups

    @requires_groups("admins", resolver=resolver)
    async def admin(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    starlette = Starlette(routes=[Route("/admin", admin)])
    fastapi = FastAPI()

    in_admins = Depends(require_groups("admins", resolver=resolver))

    @fastapi.get("/admin")
    async def admin_route(principal: Principal = in_admins) -> dict[str, bool]:
        return {"ok": True}

    for app in (starlette, fastapi):
        app.add_middleware(AADGuardMiddleware, validator=validator)
    return [starlette, fastapi]


async def answers(app: Any, *tokens: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        return [await client.get("/admin", headers=bearer(token)) for token in tokens]


async def test_require_groups_admits_members_and_refuses_overage_without_a_resolver(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    member = issuer.token(claims={"groups": ["users", "admins"]})
    other = issuer.token(claims={"groups": ["users"]})
    overage = issuer.token(claims=OVERAGE)
    for app in group_apps(make_validator(), resolver=None):
        admitted, refused, unresolved = await answers(app, member, other, overage)
        assert admitted.status_code == 200
        assert refused.status_code == 403
        assert refused.json()["error_description"] == (
            "The caller is not in a group this request requires."
        )
        assert unresolved.status_code == 403
        assert "too many groups" in unresolved.json()["error_description"]


async def test_require_groups_asks_the_resolver_for_an_overage_token(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    asked: list[str | None] = []

    async def from_graph(principal: Principal) -> list[str]:
        asked.append(principal.object_id)
        return ["admins"] if principal.name == "Admin" else ["users"]

    admin = issuer.token(claims={**OVERAGE, "name": "Admin"})
    user = issuer.token(claims=OVERAGE)
    for app in group_apps(make_validator(), resolver=from_graph):
        admitted, refused = await answers(app, admin, user)
        assert (admitted.status_code, refused.status_code) == (200, 403)
    assert len(asked) == 4


def test_require_groups_checks_its_arguments() -> None:
    from aad_guard import requires_groups

    with pytest.raises(ValueError, match="group"):
        requires_groups()
    with pytest.raises(TypeError, match="resolver"):
        requires_groups("admins", resolver=lambda: None)  # type: ignore[arg-type,misc]


# -- 7. several authorities ------------------------------------------------------------------


async def test_the_middleware_routes_each_token_to_the_validator_of_its_issuer(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """A B2C user flow and an External ID tenant in one app; a stranger's token is refused
    with no key lookup at all.
    """
    b2c = serve_b2c(entra)
    ciam = serve_ciam(entra, CIAM_METADATA_URL, "https://contoso.ciamlogin.com")
    external_id = ciam_validator(http_client)

    async def me(request: Request) -> JSONResponse:
        user = request.user
        assert isinstance(user, Principal)
        return JSONResponse({"tenant": user.tenant_id, "by": user.accepted_by})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(AADGuardMiddleware, validators=[b2c_validator(http_client), external_id])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        from_b2c = await client.get("/me", headers=bearer(b2c_token(b2c)))
        from_ciam = await client.get("/me", headers=bearer(ciam_token(ciam)))
        fetched = list(entra.requests)
        stranger = await client.get(
            "/me", headers=bearer(ciam_token(ciam, iss="https://stranger.example/x/v2.0"))
        )
        assert entra.requests == fetched  # no key lookup, no refetch
        # Signed by the B2C issuer's key but naming External ID's issuer: External ID's
        # validator judges it, and refuses it, rather than any key that happens to verify.
        crossed = await client.get("/me", headers=bearer(ciam_token(b2c)))

    assert from_b2c.json() == {"tenant": B2C_TENANT_ID, "by": B2C_METADATA_URL}
    assert from_ciam.json() == {"tenant": CIAM_TENANT_ID, "by": CIAM_METADATA_URL}
    assert stranger.status_code == 401
    assert crossed.status_code == 401
    # The crossed token's unknown key id refetched External ID's keys, nothing else.
    assert all("b2clogin" not in url for url in entra.requests[len(fetched) :])


def test_validators_excludes_the_other_ways_to_configure() -> None:
    validator = TokenValidator(client_id=DEFAULT_API_CLIENT_ID)
    app = Starlette()
    settings: list[dict[str, Any]] = [
        {"validators": [validator], "validator": validator},
        {"validators": [validator], "client_id": DEFAULT_API_CLIENT_ID},
        {"validators": []},
        {"validators": [validator, validator]},
    ]
    for options in settings:
        guard = AADGuardMiddleware(app, **options)
        assert guard._configuration_error is not None


async def test_the_openapi_document_names_each_authority(http_client: httpx.AsyncClient) -> None:
    from fastapi import Depends, FastAPI

    from aad_guard import require_scopes

    app = FastAPI()
    reads = Depends(require_scopes("tasks.read"))

    @app.get("/tasks")
    async def tasks(principal: Principal = reads) -> list[str]:
        return []

    workforce = TokenValidator(client_id=DEFAULT_API_CLIENT_ID, tenant=CIAM_TENANT_ID)
    AADGuardMiddleware(app, validators=[workforce, b2c_validator(http_client)])

    document = app.openapi()

    schemes = document["components"]["securitySchemes"]
    flows = {name: scheme["flows"]["authorizationCode"] for name, scheme in schemes.items()}
    assert flows["EntraID"]["authorizationUrl"] == (
        f"https://login.microsoftonline.com/{CIAM_TENANT_ID}/oauth2/v2.0/authorize"
    )
    assert flows["EntraID2"]["authorizationUrl"] == (
        "https://mytenant.com.b2clogin.com/mytenant.com.onmicrosoft.com/b2c_1_signin/"
        "oauth2/v2.0/authorize"
    )
    assert schemes["EntraID2"]["description"] == f"Azure AD B2C: {B2C_METADATA_URL}"
    scope = f"api://{DEFAULT_API_CLIENT_ID}/tasks.read"
    assert document["paths"]["/tasks"]["get"]["security"] == [
        {"EntraID": [scope]},
        {"EntraID2": [scope]},
    ]


# -- 8. the local issuer's flavours ----------------------------------------------------------


async def test_the_local_issuer_serves_b2c_user_flows_and_mints_their_tokens() -> None:
    from aad_guard.testing import b2c_issuer, b2c_metadata_url, b2c_token

    issuer = b2c_issuer(clock=lambda: NOW)
    async with issuer.client() as client:
        validator = TokenValidator(
            client_id=issuer.client_id,
            metadata_url=b2c_metadata_url(issuer, "B2C_1_signup"),
            allowed_user_flows={"b2c_1_signup"},
            clock=lambda: NOW,
            http_client=client,
        )
        principal = await validator.validate(b2c_token(issuer, user_flow="B2C_1_signup"))
        with pytest.raises(UserFlowNotAllowedError):
            await validator.validate(b2c_token(issuer))

    assert "tid" not in principal.claims
    assert principal.tenant_id == issuer.tenant_id
    assert principal.user_flow == "B2C_1_signup"
    assert [request.url.params.get("p") for request in issuer.requests] == ["B2C_1_signup"] * 2


async def test_the_local_issuer_serves_external_id_and_guest_tokens() -> None:
    from aad_guard.testing import external_id_issuer, external_id_token, guest_token

    issuer = external_id_issuer(clock=lambda: NOW)
    async with issuer.client() as client:
        validator = TokenValidator(
            client_id=issuer.client_id,
            authority=issuer.authority,
            allow_guest_users=False,
            clock=lambda: NOW,
            http_client=client,
        )
        principal = await validator.validate(external_id_token(issuer))

    assert principal.claims["iss"] == (
        f"https://{issuer.tenant_id}.ciamlogin.com/{issuer.tenant_id}/v2.0"
    )
    assert principal.is_guest is False
    workforce = LocalIssuer(clock=lambda: NOW)
    async with workforce.client() as client:
        validator = TokenValidator(
            client_id=workforce.client_id, clock=lambda: NOW, http_client=client
        )
        assert (await validator.validate(guest_token(workforce))).is_guest is True


# -- 9. aad-guard token check ----------------------------------------------------------------


def cli_check(capsys: pytest.CaptureFixture[str], token: str, *options: str) -> dict[str, Any]:
    import json

    from aad_guard.cli import main

    main(["token", "check", token, *options, "--json"])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def jwks_file(issuer: LocalIssuer, tmp_path: Any) -> str:
    import json

    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.keys.jwks()))
    return str(path)


def test_token_check_says_a_b2c_token_needs_metadata_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from aad_guard.testing import b2c_issuer, b2c_token

    issuer = b2c_issuer()
    report = cli_check(
        capsys,
        b2c_token(issuer),
        "--client-id",
        issuer.client_id,
        "--jwks",
        jwks_file(issuer, tmp_path),
    )

    first = report["mistakes"][0]
    assert (report["reason"], first["code"]) == ("missing_claim", "b2c_token")
    assert "this is an azure ad b2c token" in first["message"].lower()
    assert "metadata_url" in first["message"]
    assert (
        "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/v2.0/"
        in (first["message"])
    )


def test_token_check_says_an_external_id_token_needs_its_authority(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from aad_guard.testing import external_id_issuer, external_id_token

    issuer = external_id_issuer()
    token = external_id_token(issuer)
    report = cli_check(
        capsys, token, "--client-id", issuer.client_id, "--jwks", jwks_file(issuer, tmp_path)
    )

    first = report["mistakes"][0]
    assert (report["reason"], first["code"]) == ("invalid_issuer", "external_id_token")
    assert "ciamlogin.com" in first["message"]


def test_token_check_explains_a_refused_guest(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from aad_guard.testing import guest_token

    issuer = LocalIssuer()
    options = ("--client-id", issuer.client_id, "--jwks", jwks_file(issuer, tmp_path))
    refused = cli_check(capsys, guest_token(issuer), *options, "--no-guests")
    admitted = cli_check(capsys, guest_token(issuer), *options)

    assert (refused["reason"], refused["mistakes"][0]["code"]) == ("guest_not_allowed", "guest")
    assert "guest (B2B)" in refused["mistakes"][0]["message"]
    assert {step["name"]: step["status"] for step in refused["steps"]}["guest"] == "fail"
    assert admitted["valid"] is True


async def test_routing_answers_503_when_the_issuer_may_be_an_unreachable_validators(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """B2C's metadata is down: a token naming no reachable validator's issuer may be B2C's,
    so it gets 503, not 401; a malformed token is refused as malformed.
    """
    ciam = serve_ciam(entra, CIAM_METADATA_URL, "https://contoso.ciamlogin.com")
    external_id = ciam_validator(http_client)
    app = Starlette(routes=[Route("/me", lambda request: JSONResponse({}))])
    app.add_middleware(AADGuardMiddleware, validators=[b2c_validator(http_client), external_id])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        unknown = await client.get(
            "/me", headers=bearer(ciam_token(ciam, iss=B2C_DOCUMENT["issuer"]))
        )
        known = await client.get("/me", headers=bearer(ciam_token(ciam)))
        malformed = await client.get("/me", headers=bearer("a.b.c"))
        no_issuer = await client.get("/me", headers=bearer(ciam_token(ciam, iss=None)))

    assert unknown.status_code == 503
    assert known.status_code == 200
    assert malformed.status_code == 401
    assert no_issuer.status_code == 401


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        (42, "not an HTTPS URL"),
        ("ftp://host/6babcaad-604b-40ac-a9d7-9fd97c0b779f/", "not an HTTPS URL"),
        ("https://host/tfp/6babcaad-604b-40ac-a9d7-9fd97c0b779f/b2c_1_x/v2.0/", "tfp"),
        ("https://host/no-tenant/v2.0/", "names no tenant id"),
        (f"https://host/{OTHER_TENANT_ID}/v2.0/", "does not belong"),
    ],
)
def test_a_named_metadata_documents_issuer_must_name_the_tenant(
    issuer: object, message: str
) -> None:
    from aad_guard._policy import IssuerTemplate
    from aad_guard._tenant import Tenant

    with pytest.raises(ValueError, match=message):
        IssuerTemplate.of_metadata(issuer, tenant=Tenant.parse(B2C_TENANT_ID))


async def test_a_protected_resource_names_the_first_validators_scopes_only(
    http_client: httpx.AsyncClient,
) -> None:
    """The resource's App ID URI is the first app registration's; the others keep theirs."""
    from fastapi import Depends, FastAPI

    from aad_guard import require_scopes

    app = FastAPI()
    reads = Depends(require_scopes("tasks.read"))

    @app.get("/tasks")
    async def tasks(principal: Principal = reads) -> list[str]:
        return []

    resource = "https://api.contoso.example/tasks"
    workforce = TokenValidator(client_id=DEFAULT_API_CLIENT_ID, tenant=CIAM_TENANT_ID)
    AADGuardMiddleware(app, validators=[workforce, b2c_validator(http_client)], resource=resource)

    document = app.openapi()

    schemes = document["components"]["securitySchemes"]
    assert schemes["EntraID"]["flows"]["authorizationCode"]["scopes"] == {
        f"{resource}/tasks.read": "tasks.read"
    }
    assert schemes["EntraID2"]["flows"]["authorizationCode"]["scopes"] == {
        f"api://{DEFAULT_API_CLIENT_ID}/tasks.read": "tasks.read"
    }
