"""Real-world conformance: Microsoft-issued tokens, Entra metadata and JOSE vectors.

The material is in tests/data/vectors (its README.md says where each file comes from);
`tests/vectors.py` loads it. The identity provider is faked with `httpx.MockTransport` serving
the real metadata documents and key sets, so nothing here touches the network. Every real
token has expired, so tests that expect acceptance run the validator on a clock inside the
token's lifetime.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from aad_guard import KeysUnavailableError, TokenError, TokenValidator, _jose
from aad_guard._candidate import Candidate
from aad_guard._checks import CHECKS
from aad_guard._keys import KeySnapshot, parse_jwks
from aad_guard._policy import IssuerTemplate
from aad_guard.errors import (
    CriticalHeaderError,
    GraphTokenError,
    InvalidIssuerError,
    InvalidSignatureError,
    KeyIssuerMismatchError,
    MalformedTokenError,
    MissingClaimError,
    MissingKeyIdError,
    NoScopesOrRolesError,
    NotAnAccessTokenError,
    TokenExpiredError,
    UnknownKeyError,
    UnsupportedAlgorithmError,
)
from aad_guard.testing import DEFAULT_API_CLIENT_ID, DEFAULT_CALLER_CLIENT_ID, LocalIssuer
from tests.vectors import (
    AUTHORITY,
    MSA_TENANT_ID,
    FakeEntra,
    RealToken,
    WycheproofCase,
    jose_document,
    openid_configuration,
    openid_configuration_names,
    origin_of,
    real_tokens,
    real_tokens_jwks,
    wycheproof_signature_cases,
)

TOKENS: Final = real_tokens()
ENTRA_ACCOUNTS: Final = frozenset({"AAD", "MSA"})
SIGNATURE_CHECK: Final = next(check for check in CHECKS if check.name == "signature")


def _ids(*conditions: str) -> list[str]:
    """Ids of the real tokens that meet every named condition, in file order."""
    tests: dict[str, Callable[[RealToken], bool]] = {
        "signature_valid": lambda t: t.expected == "signature_valid",
        "entra": lambda t: t.account_type in ENTRA_ACCOUNTS,
        "b2c": lambda t: t.account_type == "B2C",
        "access": lambda t: t.token_type == "access_token",
        "id": lambda t: t.token_type == "id_token",
        "scopes_or_roles": lambda t: t.has_scopes_or_roles,
        "neither_scopes_nor_roles": lambda t: not t.has_scopes_or_roles,
        # The 2015-2016 MSAL.NET preview fixtures: `.../v2.0/`, with a trailing slash.
        "preview_v2_issuer": lambda t: t.issuer.endswith("/v2.0/"),
        "current_issuer": lambda t: not t.issuer.endswith("/v2.0/"),
        "x5t_only": lambda t: "kid" not in t.header,
    }
    return [t.id for t in TOKENS.values() if all(tests[name](t) for name in conditions)]


SIGNATURE_VALID: Final = _ids("signature_valid")
NEGATIVE: Final = [token_id for token_id in TOKENS if token_id not in SIGNATURE_VALID]
DELEGATED_ACCESS: Final = _ids("signature_valid", "entra", "access", "scopes_or_roles")
ACL_ACCESS: Final = _ids("signature_valid", "entra", "access", "neither_scopes_nor_roles")
ID_TOKENS: Final = _ids("signature_valid", "entra", "id", "current_issuer")
PREVIEW_V2_ID_TOKENS: Final = _ids("signature_valid", "entra", "id", "preview_v2_issuer")
B2C_TOKENS: Final = _ids("signature_valid", "b2c")
X5T_ONLY: Final = _ids("signature_valid", "x5t_only")

TAMPERED_V1_ID_TOKEN: Final = "aad-v1.0-idt-2016-08-16-tampered"
TAMPERED_MSA_ID_TOKEN: Final = "msa-v2.0-idt-2018-09-07-tampered"
GRAPH_TOKEN: Final = "aad-v1.0-at-2020-08-14-graphnonce"

# What a refusal at or before the signature looks like (header, key lookup, signature).
SIGNATURE_LAYER_REFUSALS: Final = (
    MalformedTokenError,
    InvalidSignatureError,
    UnsupportedAlgorithmError,
    UnknownKeyError,
    MissingKeyIdError,
    CriticalHeaderError,
)


# -- the fake Entra ID -----------------------------------------------------------------------


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()


@pytest.fixture
async def http_client(entra: FakeEntra) -> AsyncIterator[httpx.AsyncClient]:
    async with entra.client() as client:
        yield client


def _metadata_url(authority: str, tenant: str, version: str = "2.0") -> str:
    """Where a validator looks for the v2 (or v1) metadata of `tenant`."""
    prefix = "v2.0/" if version == "2.0" else ""
    return f"{authority}/{tenant}/{prefix}.well-known/openid-configuration"


def _serve_public_cloud(entra: FakeEntra, tenant: str, jwks: Mapping[str, object]) -> None:
    """Serve Entra's real metadata for `tenant`, and `jwks` at the metadata's `jwks_uri`.

    A tenant id gets the common documents with their issuer template filled in, as a
    tenant's own metadata names its fixed issuer (compare `entra_tenant_v2_6babcaad.json`).
    """
    v1: dict[str, Any] | None
    if tenant == "consumers":
        v2, v1 = openid_configuration("entra_consumers_v2.json"), None
    elif tenant == "organizations":
        v2 = openid_configuration("entra_organizations_v2.json")
        v1 = openid_configuration("entra_common_v1.json")
    else:
        v2 = openid_configuration("entra_common_v2.json")
        v1 = openid_configuration("entra_common_v1.json")
    if tenant not in ("common", "organizations", "consumers"):
        for document in (v2, v1):
            assert document is not None
            document["issuer"] = document["issuer"].replace("{tenantid}", tenant)
    entra.serve(_metadata_url(AUTHORITY, tenant), v2)
    if v1 is not None:
        entra.serve(_metadata_url(AUTHORITY, tenant, "1.0"), v1)
    entra.serve(v2["jwks_uri"], jwks)


def _validator_for(
    token: RealToken, http_client: httpx.AsyncClient, **options: Any
) -> TokenValidator:
    """A validator for the token's audience, on a clock inside the token's lifetime."""
    options.setdefault("clock", token.lifetime_midpoint)
    return TokenValidator(
        client_id=token.audience,
        audiences={token.audience},
        http_client=http_client,
        **options,
    )


def _narrowed_to(token: RealToken, narrowing: str) -> dict[str, Any]:
    """Validator options that admit only the token's own tenant."""
    tenant_id = token.tenant_id
    assert tenant_id is not None
    if narrowing == "tenant":
        return {"tenant": tenant_id}
    home = "consumers" if tenant_id == MSA_TENANT_ID else "organizations"
    return {"tenant": home, "allowed_tenants": {tenant_id}}


def _narrowed_validator(
    token: RealToken,
    entra: FakeEntra,
    http_client: httpx.AsyncClient,
    narrowing: str,
    jwks: Mapping[str, object],
    **options: Any,
) -> TokenValidator:
    """Serve the public cloud for the token's tenant and build a validator narrowed to it."""
    narrowed = _narrowed_to(token, narrowing)
    _serve_public_cloud(entra, narrowed["tenant"], jwks)
    return _validator_for(token, http_client, **options, **narrowed)


def _common_endpoint_jwks() -> dict[str, Any]:
    """`real_tokens_jwks.json` with each key bound as Entra's common `jwks_uri` binds it.

    The copies of `SsZsBNhZcF3Q9S4trpQBTByNRRI` and `huN95IvPfehq34GzBDZ1GXGirnM` were fetched
    from tenant 906aefe9-...'s own `jwks_uri` (vectors README), so their `issuer` names that
    tenant; the common key set lists work-account keys under the `{tenantid}` template.
    """
    jwks = real_tokens_jwks()
    for key in jwks["keys"]:
        issuer = key.get("issuer")
        if issuer is not None and MSA_TENANT_ID not in issuer:
            tenant_segment = urlsplit(issuer).path.split("/")[1]
            key["issuer"] = issuer.replace(tenant_segment, "{tenantid}")
    return jwks


def _key_issuer(kid: str) -> str | None:
    for key in real_tokens_jwks()["keys"]:
        if key["kid"] == kid:
            issuer = key.get("issuer")
            return issuer if isinstance(issuer, str) else None
    raise LookupError(kid)


# ID tokens whose key, as found, is bound to a tenant other than the token's.
KEY_BOUND_ELSEWHERE: Final = [
    token_id
    for token_id in ID_TOKENS
    if (issuer := _key_issuer(TOKENS[token_id].kid)) is not None
    and "{tenantid}" not in issuer
    and issuer != TOKENS[token_id].issuer
]


async def _refusal(validator: TokenValidator, token: str) -> TokenError | None:
    """The error `validate` raises for `token`, or `None` if it accepts it."""
    try:
        await validator.validate(token)
    except TokenError as exc:
        return exc
    return None


def test_real_token_selection_covers_every_vector() -> None:
    """Each token is checked by the tests of its kind, so none can drop out unnoticed."""
    assert len(TOKENS) == 49
    assert NEGATIVE == [TAMPERED_V1_ID_TOKEN, GRAPH_TOKEN, TAMPERED_MSA_ID_TOKEN]
    groups = DELEGATED_ACCESS + ACL_ACCESS + ID_TOKENS + PREVIEW_V2_ID_TOKENS + B2C_TOKENS
    assert sorted(groups) == sorted(SIGNATURE_VALID)
    assert [len(DELEGATED_ACCESS), len(ACL_ACCESS), len(ID_TOKENS)] == [7, 16, 15]
    assert [len(PREVIEW_V2_ID_TOKENS), len(B2C_TOKENS), len(KEY_BOUND_ELSEWHERE)] == [3, 5, 9]
    assert X5T_ONLY == [
        "aad-v1.0-at-2013-09-08-ok",
        "aad-v1.0-at-2014-04-18-ok",
        "aad-v1.0-idt-2014-12-22-ok",
    ]


# -- 1. access tokens ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("narrowing", ["allowed_tenants", "tenant"])
@pytest.mark.parametrize("token_id", DELEGATED_ACCESS)
async def test_access_token_validates_for_its_audience_and_tenant(
    token_id: str, narrowing: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    token = TOKENS[token_id]
    validator = _narrowed_validator(token, entra, http_client, narrowing, real_tokens_jwks())

    principal = await validator.validate(token.token)

    assert principal.tenant_id == token.tenant_id
    assert principal.token_version == token.version
    assert principal.client_id == token.client_id
    assert principal.scopes == token.scopes
    assert principal.scopes
    assert not principal.is_app


@pytest.mark.anyio
@pytest.mark.parametrize("token_id", X5T_ONLY)
async def test_x5t_only_v1_token_finds_its_key_by_thumbprint(
    token_id: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """The 2013-14 v1 tokens name their key by `x5t` alone; Entra keys have kid == x5t."""
    token = TOKENS[token_id]
    assert "kid" not in token.header
    validator = _narrowed_validator(
        token,
        entra,
        http_client,
        "allowed_tenants",
        real_tokens_jwks(),
        accept_id_tokens=True,
        allow_acl_tokens=True,
    )

    principal = await validator.validate(token.token)

    assert principal.tenant_id == token.tenant_id
    assert principal.token_version == "1.0"


# Each kind of real token that an API refuses unless an option admits it, with its reason.
REFUSED_BY_DEFAULT = [
    *((token_id, NoScopesOrRolesError, real_tokens_jwks) for token_id in ACL_ACCESS),
    *((token_id, NotAnAccessTokenError, _common_endpoint_jwks) for token_id in ID_TOKENS),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("token_id", "error", "jwks"), REFUSED_BY_DEFAULT, ids=[case[0] for case in REFUSED_BY_DEFAULT]
)
async def test_tokens_without_scopes_or_roles_and_id_tokens_are_refused_by_default(
    token_id: str,
    error: type[TokenError],
    jwks: Callable[[], dict[str, Any]],
    entra: FakeEntra,
    http_client: httpx.AsyncClient,
) -> None:
    token = TOKENS[token_id]
    validator = _narrowed_validator(token, entra, http_client, "allowed_tenants", jwks())

    with pytest.raises(error) as info:
        await validator.validate(token.token)
    assert info.value.reason == error.reason


@pytest.mark.anyio
@pytest.mark.parametrize("narrowing", ["allowed_tenants", "tenant"])
@pytest.mark.parametrize("token_id", ACL_ACCESS)
async def test_access_token_without_scopes_or_roles_validates_with_allow_acl_tokens(
    token_id: str, narrowing: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    token = TOKENS[token_id]
    validator = _narrowed_validator(
        token, entra, http_client, narrowing, real_tokens_jwks(), allow_acl_tokens=True
    )

    principal = await validator.validate(token.token)

    assert principal.tenant_id == token.tenant_id
    assert principal.token_version == token.version
    assert principal.client_id == token.client_id
    assert principal.scopes == frozenset()
    assert principal.roles == frozenset()
    assert principal.is_app


# -- 2. ID tokens and B2C tokens -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("token_id", ID_TOKENS)
async def test_id_token_validates_with_accept_id_tokens(
    token_id: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """AAD ID tokens under their tenant; the MSA one under `tenant="consumers"`.

    The key set is served as Entra's common `jwks_uri` publishes it (see
    `_common_endpoint_jwks`); the copy as found binds two keys to another tenant, which the
    next test shows.
    """
    token = TOKENS[token_id]
    validator = _narrowed_validator(
        token, entra, http_client, "allowed_tenants", _common_endpoint_jwks(), accept_id_tokens=True
    )

    principal = await validator.validate(token.token)

    assert principal.tenant_id == token.tenant_id
    assert principal.token_version == token.version
    assert principal.client_id is None


@pytest.mark.anyio
async def test_personal_account_id_token_validates_under_consumers(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    token = TOKENS["msa-v2.0-idt-2021-11-25-ok"]
    _serve_public_cloud(entra, "consumers", real_tokens_jwks())
    validator = _validator_for(token, http_client, tenant="consumers", accept_id_tokens=True)

    principal = await validator.validate(token.token)

    assert principal.tenant_id == MSA_TENANT_ID
    # Personal accounts have no v1 metadata: only the consumers v2 document and its keys.
    assert sorted(entra.requests) == [
        "https://login.microsoftonline.com/consumers/discovery/v2.0/keys",
        "https://login.microsoftonline.com/consumers/v2.0/.well-known/openid-configuration",
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("token_id", KEY_BOUND_ELSEWHERE)
async def test_key_bound_to_another_tenant_does_not_verify_its_tokens(
    token_id: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """Rule 19: these keys were copied from tenant 906aefe9-...'s own key set, whose `issuer`
    names that tenant, so they must not verify tokens of tenant 49f548d0-... or 90b8faa8-...
    """
    token = TOKENS[token_id]
    validator = _narrowed_validator(
        token, entra, http_client, "allowed_tenants", real_tokens_jwks(), accept_id_tokens=True
    )

    with pytest.raises(KeyIssuerMismatchError) as info:
        await validator.validate(token.token)
    assert info.value.reason == "key_issuer_mismatch"


@pytest.mark.anyio
@pytest.mark.parametrize("token_id", PREVIEW_V2_ID_TOKENS)
async def test_preview_v2_issuer_with_trailing_slash_is_refused_even_for_id_tokens(
    token_id: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """The 2015-2016 v2 preview issued `https://login.microsoftonline.com/{tid}/v2.0/`.

    Today's metadata template is `https://login.microsoftonline.com/{tenantid}/v2.0`, without
    the trailing slash, and the issuer must equal the filled template exactly (rule 18): no
    normalising of slashes, because a lenient comparison is how issuer checks get bypassed.
    So these genuinely signed tokens are refused on their issuer, whatever `accept_id_tokens`.
    """
    token = TOKENS[token_id]
    assert token.issuer == f"https://login.microsoftonline.com/{token.tenant_id}/v2.0/"
    for narrowing in ("allowed_tenants", "tenant"):
        _serve_public_cloud(entra, _narrowed_to(token, narrowing)["tenant"], real_tokens_jwks())
    validators = [
        _validator_for(token, http_client, accept_id_tokens=True, **_narrowed_to(token, n))
        for n in ("allowed_tenants", "tenant")
    ]

    for validator in validators:
        refusal = await _refusal(validator, token.token)
        assert isinstance(refusal, InvalidIssuerError)
        assert refusal.reason == "invalid_issuer"


@pytest.mark.anyio
@pytest.mark.parametrize("token_id", B2C_TOKENS)
async def test_b2c_token_is_refused_for_having_no_tenant_id(
    token_id: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """Azure AD B2C tokens are not Entra ID tokens: no `tid`, and a B2C-policy issuer.

    Even the most permissive configuration refuses them, before any metadata is fetched.
    """
    token = TOKENS[token_id]
    assert token.tenant_id is None
    _serve_public_cloud(entra, "common", real_tokens_jwks())
    validator = _validator_for(
        token, http_client, tenant="common", accept_id_tokens=True, allow_acl_tokens=True
    )

    with pytest.raises(MissingClaimError) as info:
        await validator.validate(token.token)
    assert info.value.reason == "missing_claim"
    assert info.value.claim == "tid"
    assert entra.requests == []


# -- 3. the real clock -----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("token_id", SIGNATURE_VALID)
async def test_every_real_token_is_expired_under_the_real_clock(
    token_id: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    token = TOKENS[token_id]
    _serve_public_cloud(entra, "common", real_tokens_jwks())
    validator = _validator_for(
        token,
        http_client,
        tenant="common",
        accept_id_tokens=True,
        allow_acl_tokens=True,
        clock=time.time,
    )

    with pytest.raises(TokenExpiredError) as info:
        await validator.validate(token.token)
    assert info.value.reason == "token_expired"
    assert entra.requests == []  # refused before any I/O


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("token_id", "reason"),
    [
        (TAMPERED_V1_ID_TOKEN, "malformed_token"),
        (TAMPERED_MSA_ID_TOKEN, "malformed_token"),
        (GRAPH_TOKEN, "graph_token"),
    ],
)
async def test_negative_tokens_are_refused_for_their_defect_before_their_expiry(
    token_id: str, reason: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """Under the real clock the three negatives are expired too, but the structural checks
    (encoding, header) come first, so their refusal names the defect.
    """
    token = TOKENS[token_id]
    validator = _validator_for(token, http_client, tenant="common", clock=time.time)

    refusal = await _refusal(validator, token.token)

    assert refusal is not None
    assert refusal.reason == reason
    assert entra.requests == []


# -- 4. the real negatives -------------------------------------------------------------------


@pytest.mark.anyio
async def test_tampered_v1_id_token_is_malformed_for_its_non_canonical_signature(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """passport-azure-ad changed the token's last character, `Q` to `q`, to break it.

    The signature segment is 342 characters, so its last character carries 2 bits of the last
    byte and 4 bits that must be zero (RFC 4648 §3.5). `Q` is 010000, `q` is 101010: its
    padding bits are set, so the segment is non-canonical base64url. aad_guard refuses it as
    malformed before any key is looked up; a lenient decoder would decode a different last
    byte and report an invalid signature instead (PyJWT: "Invalid crypto padding").
    """
    token = TOKENS[TAMPERED_V1_ID_TOKEN]
    sibling = TOKENS["aad-v1.0-idt-2016-08-16-ok"]
    assert token.token[:-1] == sibling.token[:-1]
    assert (sibling.token[-1], token.token[-1]) == ("Q", "q")
    validator = _narrowed_validator(
        token, entra, http_client, "allowed_tenants", real_tokens_jwks(), accept_id_tokens=True
    )

    with pytest.raises(MalformedTokenError) as info:
        await validator.validate(token.token)
    assert info.value.reason == "malformed_token"
    assert entra.requests == []


@pytest.mark.anyio
async def test_tampered_msa_id_token_is_malformed_for_its_base64_padding(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """The Microsoft docs sample id_token keeps an `=` in its payload; JWS base64url has none."""
    token = TOKENS[TAMPERED_MSA_ID_TOKEN]
    assert "=" in token.token.split(".")[1]
    _serve_public_cloud(entra, "consumers", real_tokens_jwks())
    validator = _validator_for(token, http_client, tenant="consumers", accept_id_tokens=True)

    with pytest.raises(MalformedTokenError) as info:
        await validator.validate(token.token)
    assert info.value.reason == "malformed_token"
    assert entra.requests == []


def _without_padding(token: str) -> str:
    return ".".join(segment.rstrip("=") for segment in token.split("."))


@pytest.mark.anyio
async def test_tampered_msa_id_token_without_padding_fails_the_issuer_tenant_cross_check(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """With the `=` stripped the token parses, and the docs authors' edit shows: `tid` was
    changed to 3338040d-... while `iss` still names the MSA tenant 9188040d-..., so `iss` is
    not the issuer of `tid` (rule 18). The check runs before the signature, which would fail
    too (see `test_tampered_msa_id_token_signature_does_not_verify`).
    """
    token = TOKENS[TAMPERED_MSA_ID_TOKEN]
    assert token.tenant_id == "3338040d-6c67-4c5b-b112-36a304b66dad"
    assert token.issuer == f"https://login.microsoftonline.com/{MSA_TENANT_ID}/v2.0"
    for tenant in ("consumers", "common"):
        _serve_public_cloud(entra, tenant, real_tokens_jwks())
    validators = [
        _validator_for(token, http_client, tenant=tenant, accept_id_tokens=True)
        for tenant in ("consumers", "common")
    ]

    for validator in validators:
        refusal = await _refusal(validator, _without_padding(token.token))
        assert isinstance(refusal, InvalidIssuerError)
        assert refusal.reason == "invalid_issuer"


@pytest.mark.anyio
async def test_graph_token_is_refused_as_a_graph_token(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """A Microsoft Graph token (header `nonce`) gets its own explanation, not "bad signature"."""
    token = TOKENS[GRAPH_TOKEN]
    assert "nonce" in token.header
    validator = _narrowed_validator(
        token, entra, http_client, "allowed_tenants", real_tokens_jwks()
    )

    with pytest.raises(GraphTokenError) as info:
        await validator.validate(token.token)
    assert info.value.reason == "graph_token"
    assert entra.requests == []


# -- 5. a changed payload --------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _with_changed_scope(token: RealToken) -> str:
    """The token with one character of its `scp` value changed; canonical base64url."""
    header, payload, signature = token.token.split(".")
    claims = _jose.b64url_decode(payload)
    scp = token.claims["scp"]
    assert isinstance(scp, str)
    original = json.dumps({"scp": scp}, separators=(",", ":"))[1:-1].encode()
    changed = original[:-2] + original[-2:-1].swapcase() + original[-1:]
    assert claims.count(original) == 1
    assert changed != original
    return ".".join([header, _b64url(claims.replace(original, changed)), signature])


@pytest.mark.anyio
@pytest.mark.parametrize("token_id", ["aad-v1.0-at-2014-04-18-ok", "aad-v2.0-at-2024-06-17-ok"])
async def test_real_token_with_a_changed_payload_fails_the_signature(
    token_id: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    token = TOKENS[token_id]
    validator = _narrowed_validator(
        token, entra, http_client, "allowed_tenants", real_tokens_jwks()
    )
    await validator.validate(token.token)  # the configuration admits the untouched token
    changed = _with_changed_scope(token)

    with pytest.raises(InvalidSignatureError) as info:
        await validator.validate(changed)
    assert info.value.reason == "invalid_signature"


# -- 6. metadata documents -------------------------------------------------------------------

METADATA_NAMES: Final = openid_configuration_names()
ENTRA_METADATA: Final = [
    name
    for name in METADATA_NAMES
    if name.startswith(("entra_", "usgov_", "china_", "windowsnet_alias_"))
]
GERMANY_METADATA: Final = "germany_common_v2_legacy.json"
B2C_METADATA: Final = [name for name in METADATA_NAMES if name.startswith("b2c_")]

NOW: Final = 1_800_000_000
WORK_TENANT_ID: Final = "5b2f0d0e-1d3a-4c5e-9f00-0000000000aa"
# For each issuer host, a host of another cloud whose issuer a token may not carry instead.
OTHER_CLOUD_HOST: Final = {
    "login.microsoftonline.com": "login.microsoftonline.us",
    "sts.windows.net": "login.microsoftonline.us",  # US Government's v1 issuer host
}


@dataclass(frozen=True)
class Cloud:
    """How one metadata document is served: the authority and tenant path it answers for."""

    name: str
    version: str
    authority: str
    tenant: str
    v2: Mapping[str, Any]
    v1: Mapping[str, Any] | None

    @classmethod
    def of(cls, name: str) -> Cloud:
        """Authority and tenant come from the document's own `jwks_uri`; its v1/v2 partner is
        the Entra document for the same authority and tenant, if the vectors have one.
        """
        documents = {other: openid_configuration(other) for other in ENTRA_METADATA}

        def place(document: Mapping[str, Any]) -> tuple[str, str, str]:
            jwks_uri = document["jwks_uri"]
            version = "2.0" if document["issuer"].endswith("/v2.0") else "1.0"
            return origin_of(jwks_uri), urlsplit(jwks_uri).path.split("/")[1], version

        authority, tenant, version = place(documents[name])
        partners = {
            place(document)[2]: document
            for document in documents.values()
            if place(document)[:2] == (authority, tenant)
        }
        return cls(name, version, authority, tenant, partners["2.0"], partners.get("1.0"))

    @property
    def document(self) -> Mapping[str, Any]:
        document = self.v1 if self.version == "1.0" else self.v2
        assert document is not None
        return document

    @property
    def tenant_id(self) -> str:
        if self.tenant == "consumers":
            return MSA_TENANT_ID
        if self.tenant in ("common", "organizations"):
            return WORK_TENANT_ID
        return self.tenant

    def serve(self, entra: FakeEntra, issuer: LocalIssuer) -> list[str]:
        """Serve the documents and the local issuer's keys, bound like Entra's to the v2
        issuer; return the URLs a validator should fetch.
        """
        jwks = issuer.keys.jwks()
        keys = jwks["keys"]
        assert isinstance(keys, list)
        for key in keys:
            key["issuer"] = self.v2["issuer"]
        urls = [_metadata_url(self.authority, self.tenant), self.v2["jwks_uri"]]
        entra.serve(urls[0], self.v2)
        entra.serve(urls[1], jwks)
        if self.v1 is not None:
            urls.append(_metadata_url(self.authority, self.tenant, "1.0"))
            entra.serve(urls[2], self.v1)
        return urls

    def validator(self, http_client: httpx.AsyncClient) -> TokenValidator:
        return TokenValidator(
            client_id=DEFAULT_API_CLIENT_ID,
            tenant=self.tenant,
            authority=self.authority,
            accept_v1_tokens=self.v1 is not None,
            clock=lambda: NOW,
            http_client=http_client,
        )

    def issuer_for_token(self) -> str:
        return str(self.document["issuer"]).replace("{tenantid}", self.tenant_id)

    def foreign_issuers(self) -> list[str]:
        """The token's issuer on other hosts: another cloud's, and the authority's own host
        where it differs from the issuer's (China: keys on login.chinacloudapi.cn, issuer
        login.partner.microsoftonline.cn).
        """
        issuer = self.issuer_for_token()
        issuer_host = urlsplit(issuer).netloc
        hosts = [OTHER_CLOUD_HOST.get(issuer_host, "login.microsoftonline.com")]
        if urlsplit(self.authority).netloc != issuer_host:
            hosts.append(urlsplit(self.authority).netloc)
        return [urlunsplit(urlsplit(issuer)._replace(netloc=host)) for host in hosts]


def _mint(issuer: LocalIssuer, *, iss: str, tenant_id: str, version: str = "2.0") -> str:
    """An Entra-shaped delegated access token signed with the local issuer's key."""
    payload: dict[str, object] = {
        "aud": DEFAULT_API_CLIENT_ID,
        "iss": iss,
        "tid": tenant_id,
        "ver": version,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "scp": "access_as_user",
        "azp" if version == "2.0" else "appid": DEFAULT_CALLER_CLIENT_ID,
    }
    return issuer.sign(payload, headers={"kid": issuer.keys.signing.kid})


def _serve_common_document(
    entra: FakeEntra, http_client: httpx.AsyncClient, document: Mapping[str, Any], authority: str
) -> tuple[LocalIssuer, TokenValidator]:
    """Serve `document` as `authority`'s common v2 metadata, with a local issuer's keys at
    its `jwks_uri`; return that issuer and a v2-only validator configured for `authority`.
    """
    issuer = LocalIssuer(authority=authority)
    entra.serve(_metadata_url(authority, "common"), document)
    entra.serve(document["jwks_uri"], issuer.keys.jwks())
    validator = TokenValidator(
        client_id=DEFAULT_API_CLIENT_ID,
        tenant="common",
        authority=authority,
        accept_v1_tokens=False,
        clock=lambda: NOW,
        http_client=http_client,
    )
    return issuer, validator


async def _assert_metadata_refused(
    validator: TokenValidator,
    token: str,
    entra: FakeEntra,
    caplog: pytest.LogCaptureFixture,
    *,
    metadata_url: str,
    logged: str,
) -> None:
    """The metadata fetch counts as failed: 503 `keys_unavailable`, no JWKS fetched."""
    with (
        caplog.at_level(logging.WARNING, logger="aad_guard"),
        pytest.raises(KeysUnavailableError) as info,
    ):
        await validator.validate(token)
    assert info.value.reason == "keys_unavailable"
    assert entra.requests == [metadata_url]
    assert logged in caplog.text


def test_every_metadata_document_is_checked() -> None:
    assert len(METADATA_NAMES) == 17
    assert sorted([*ENTRA_METADATA, GERMANY_METADATA, *B2C_METADATA]) == METADATA_NAMES
    clouds = [Cloud.of(name) for name in ENTRA_METADATA]
    assert [cloud.name for cloud in clouds if cloud.version == "1.0"] == [
        "entra_common_v1.json",
        "entra_tenant_v1_6babcaad.json",
    ]
    assert len(clouds) == 13


@pytest.mark.anyio
@pytest.mark.parametrize("name", ENTRA_METADATA)
async def test_entra_metadata_issuer_template_admits_its_own_tokens(
    name: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """The real document, served for its authority, is accepted and its `issuer` (filled
    with the token's `tid`) is the issuer a token must carry; v1 documents drive v1 tokens.
    """
    cloud = Cloud.of(name)
    issuer = LocalIssuer(authority=cloud.authority)
    urls = cloud.serve(entra, issuer)
    validator = cloud.validator(http_client)
    token = _mint(
        issuer, iss=cloud.issuer_for_token(), tenant_id=cloud.tenant_id, version=cloud.version
    )

    principal = await validator.validate(token)

    assert principal.tenant_id == cloud.tenant_id
    assert principal.token_version == cloud.version
    assert sorted(entra.requests) == sorted(urls)  # one GET per document, all on the authority


@pytest.mark.anyio
@pytest.mark.parametrize("name", ENTRA_METADATA)
async def test_entra_metadata_refuses_the_issuer_of_another_host(
    name: str, entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    cloud = Cloud.of(name)
    issuer = LocalIssuer(authority=cloud.authority)
    cloud.serve(entra, issuer)
    validator = cloud.validator(http_client)
    tokens = [
        _mint(issuer, iss=iss, tenant_id=cloud.tenant_id, version=cloud.version)
        for iss in cloud.foreign_issuers()
    ]

    for token in tokens:
        refusal = await _refusal(validator, token)
        assert isinstance(refusal, InvalidIssuerError)
        assert refusal.reason == "invalid_issuer"


@pytest.mark.anyio
async def test_retired_germany_metadata_is_refused_in_place_of_the_public_cloud(
    entra: FakeEntra, http_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Its keys are on login.microsoftonline.de, not on the configured authority (rule 8)."""
    document = openid_configuration(GERMANY_METADATA)
    issuer, validator = _serve_common_document(entra, http_client, document, AUTHORITY)
    iss = document["issuer"].replace("{tenantid}", WORK_TENANT_ID)
    token = _mint(issuer, iss=iss, tenant_id=WORK_TENANT_ID)

    await _assert_metadata_refused(
        validator,
        token,
        entra,
        caplog,
        metadata_url=_metadata_url(AUTHORITY, "common"),
        logged="jwks_uri",
    )


@pytest.mark.anyio
async def test_retired_germany_cloud_works_when_configured_as_the_authority(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """Nothing in aad_guard knows which clouds are retired: naming the authority opts in."""
    document = openid_configuration(GERMANY_METADATA)
    authority = "https://login.microsoftonline.de"
    issuer, validator = _serve_common_document(entra, http_client, document, authority)
    iss = document["issuer"].replace("{tenantid}", WORK_TENANT_ID)

    principal = await validator.validate(_mint(issuer, iss=iss, tenant_id=WORK_TENANT_ID))

    assert principal.tenant_id == WORK_TENANT_ID


@pytest.mark.anyio
@pytest.mark.parametrize("name", B2C_METADATA)
async def test_b2c_metadata_is_refused_as_entra_metadata(
    name: str, entra: FakeEntra, http_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """B2C issuers (`https://{host}/{tid}/` or `.../{tid}/v2.0/`) have no `{tenantid}/v2.0`
    template form: the fetch counts as failed, no key set is fetched, and `validate` answers
    "keys unavailable" (503) rather than trusting the document.
    """
    document = openid_configuration(name)
    authority = origin_of(document["jwks_uri"])
    issuer, validator = _serve_common_document(entra, http_client, document, authority)
    token = _mint(issuer, iss=document["issuer"], tenant_id=WORK_TENANT_ID)

    await _assert_metadata_refused(
        validator,
        token,
        entra,
        caplog,
        metadata_url=_metadata_url(authority, "common"),
        logged="is not a v2.0 Entra issuer",
    )


@pytest.mark.anyio
async def test_real_token_validates_against_the_published_common_key_set(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """`3PaK4EfyBNQu3CtjYsa3YmhQ5E0` is in the 2024-10-26 snapshot of the live common JWKS."""
    token = TOKENS["aad-v1.0-at-2024-10-10-ok"]
    _serve_public_cloud(entra, "common", openid_configuration("entra_common_v2.jwks.json"))
    validator = _validator_for(token, http_client, tenant="common", allow_acl_tokens=True)

    principal = await validator.validate(token.token)

    assert principal.tenant_id == token.tenant_id


@pytest.mark.anyio
async def test_token_of_a_retired_key_is_unknown_to_the_published_common_key_set(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """The cold fetch has just ended, so the unknown `kid` does not refetch (rule 12)."""
    token = TOKENS["aad-v2.0-at-2024-06-17-ok"]
    jwks_uri = openid_configuration("entra_common_v2.json")["jwks_uri"]
    _serve_public_cloud(entra, "common", openid_configuration("entra_common_v2.jwks.json"))
    validator = _validator_for(token, http_client, tenant="common")

    with pytest.raises(UnknownKeyError) as info:
        await validator.validate(token.token)
    assert info.value.reason == "unknown_kid"
    assert entra.requests.count(jwks_uri) == 1


# -- 7. JOSE vectors -------------------------------------------------------------------------
#
# No Wycheproof, RFC 7515 A.2 or RFC 7520 4.1 token can reach the signature through
# `validate`: Wycheproof and RFC 7520 payloads are not JSON objects (rule 5), and RFC 7515 A.2
# names no key (rule 7). The public-API tests show those refusals; the signature-layer tests
# then run the validator's own parts (strict base64url, header rules, the key store's JWK
# rules, `TokenValidator._verify_signature`) with only the claims skipped.

RSA_GROUPS: Final = frozenset(
    {
        "rs256",
        "rs384",
        "rs512",
        "ps256",
        "ps384",
        "ps512",
        "rfc7520",
        "rfc7520WithKeyOps",
        "rsa_encryption",
    }
)
WYCHEPROOF: Final = wycheproof_signature_cases(RSA_GROUPS)
ALL_RSA_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# RFC 7520 figure 20 (tcId 346, 350): a PS384 token, marked valid, whose key says "alg":
# "PS256". aad_guard pins a key to its `alg`, as Wycheproof's own `WrongPrimitive` cases
# (ps512 group) require; the two sets of vectors disagree and aad_guard sides with the latter.
KEY_ALG_PINNED: Final = frozenset({346, 350})
# A usable RSA key with another kid, listed next to each vector's key as Entra always lists
# several: a JWKS whose only key is unusable would be a failed fetch, not an unknown key.
FILLER_KEY: Final = {**real_tokens_jwks()["keys"][0], "kid": "filler-not-a-vector-key"}


def _header_alg(token: str) -> object:
    try:
        return _jose.loads_object(_jose.b64url_decode(token.split(".", maxsplit=1)[0])).get("alg")
    except ValueError:
        return None


def _jwks_of(case: WycheproofCase) -> dict[str, object]:
    keys: list[object] = [FILLER_KEY]
    if case.public_jwk is not None:
        keys.insert(0, dict(case.public_jwk))
    return {"keys": keys}


def _decode_compact(token: str) -> _jose.CompactJWS:
    """`_jose.parse` without its one claims rule: the payload may be any bytes."""
    segments = token.split(".")
    if len(segments) != 3:
        raise MalformedTokenError("not three segments")
    try:
        header = _jose.loads_object(_jose.b64url_decode(segments[0]))
        _jose.b64url_decode(segments[1])
        signature = _jose.b64url_decode(segments[2])
    except ValueError as exc:
        raise MalformedTokenError(str(exc)) from exc
    if not signature:
        raise MalformedTokenError("empty signature")
    signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
    return _jose.CompactJWS(header, {}, signing_input, signature)


def _verify_with_jwks(
    validator: TokenValidator, jws: _jose.CompactJWS, ref: _jose.KeyRef, jwks: Mapping[str, object]
) -> None:
    """Look `ref` up as the key store does (rule 15) and verify as `validate` does."""
    keys, keys_by_x5t = parse_jwks(jwks)
    template = IssuerTemplate("https://login.microsoftonline.com/{tenantid}/v2.0", "2.0", None)
    key = KeySnapshot(template, None, keys, keys_by_x5t, 0.0).find(ref)
    if key is None:
        raise UnknownKeyError(kid=ref.value)
    candidate = Candidate("")
    candidate.jws, candidate.key = jws, key
    SIGNATURE_CHECK.run(candidate, validator._context)


def _signature_layer(validator: TokenValidator, token: str, jwks: Mapping[str, object]) -> None:
    """Everything `validate` does up to and including the signature, except the claims."""
    jws = _decode_compact(token)
    ref = _jose.check_header(jws.header, validator.settings.allowed_algorithms)
    _verify_with_jwks(validator, jws, ref, jwks)


def _signature_verdict(validator: TokenValidator, case: WycheproofCase) -> TokenError | None:
    try:
        _signature_layer(validator, case.jws, _jwks_of(case))
    except TokenError as exc:
        return exc
    return None


def test_wycheproof_rs256_signature_layer_agrees_with_every_vector() -> None:
    """Default `allowed_algorithms` (RS256): valid RS256 vectors verify, and everything
    else is refused at the header, key lookup or signature. The `rsa_encryption` keys
    (`use: enc`, `key_ops: [encrypt]`) are ignored by the key store, so their tokens name an
    unknown key; non-RS256 algorithms, `none` included, are unsupported.
    """
    validator = TokenValidator(client_id="wycheproof")
    disagreements: list[tuple[int, str, str]] = []
    checked_rs256 = verified = 0
    for case in WYCHEPROOF:
        refusal = _signature_verdict(validator, case)
        rs256 = _header_alg(case.jws) == "RS256"
        checked_rs256 += rs256
        if rs256 and case.result == "valid":
            verified += refusal is None
            agrees = refusal is None
        elif case.group == "rsa_encryption":
            # The key store drops keys for encryption (rule 15): the kid names no usable key.
            agrees = isinstance(refusal, UnknownKeyError)
        else:
            agrees = isinstance(refusal, SIGNATURE_LAYER_REFUSALS)
        if not agrees:
            disagreements.append((case.tc_id, case.comment, type(refusal).__name__))

    assert disagreements == []
    assert (len(WYCHEPROOF), checked_rs256, verified) == (322, 231, 8)


def test_wycheproof_rsa_signature_layer_agrees_with_every_rsa_algorithm_allowed() -> None:
    """With all six RSA algorithms allowed, the RS384/RS512/PS* vectors are judged too."""
    validator = TokenValidator(client_id="wycheproof", allowed_algorithms=ALL_RSA_ALGORITHMS)
    disagreements: list[tuple[int, str, str]] = []
    verified = 0
    for case in WYCHEPROOF:
        refusal = _signature_verdict(validator, case)
        should_verify = (
            case.result == "valid"
            and _header_alg(case.jws) in ALL_RSA_ALGORITHMS
            and case.tc_id not in KEY_ALG_PINNED
        )
        verified += refusal is None
        if should_verify != (refusal is None) or not (
            refusal is None or isinstance(refusal, SIGNATURE_LAYER_REFUSALS)
        ):
            disagreements.append((case.tc_id, case.comment, type(refusal).__name__))
        if case.tc_id in KEY_ALG_PINNED:
            assert isinstance(refusal, InvalidSignatureError)

    assert disagreements == []
    assert verified == 30


@pytest.mark.anyio
async def test_wycheproof_rsa_vectors_are_all_refused_by_validate_before_any_fetch(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """Through the public API every vector is refused without I/O, valid ones included."""
    validator = TokenValidator(
        client_id="wycheproof",
        tenant="common",
        clock=lambda: NOW,
        http_client=http_client,
    )
    unexpected: list[tuple[int, str, str]] = []
    reasons: Counter[str] = Counter()
    for case in WYCHEPROOF:
        _serve_public_cloud(entra, "common", _jwks_of(case))
        refusal = await _refusal(validator, case.jws)
        if not isinstance(refusal, SIGNATURE_LAYER_REFUSALS):
            unexpected.append((case.tc_id, case.comment, type(refusal).__name__))
        else:
            reasons[refusal.reason] += 1

    assert unexpected == []
    # Not one payload is a JSON object, so every case stops at parsing (rule 5).
    assert reasons == {"malformed_token": 322}
    assert entra.requests == []


@pytest.mark.anyio
async def test_valid_wycheproof_rs256_vectors_stop_at_the_payload_not_the_signature(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """Their payloads ("foo", "", "It's a dangerous business, ...") are not claims objects,
    so `validate` refuses them as malformed before it looks at the signature (rule 5).
    """
    valid_rs256 = [
        case for case in WYCHEPROOF if case.result == "valid" and _header_alg(case.jws) == "RS256"
    ]
    validator = TokenValidator(client_id="wycheproof", clock=lambda: NOW, http_client=http_client)

    refusals = [await _refusal(validator, case.jws) for case in valid_rs256]

    assert len(refusals) == 8
    for refusal in refusals:
        assert isinstance(refusal, MalformedTokenError)
        assert refusal.reason == "malformed_token"
        assert "payload" in refusal.message
    assert entra.requests == []


RFC7515_A2: Final = jose_document("rfc7515_A2_rs256.json")
RFC7520_4_1: Final = jose_document("rfc7520_4_1_rsa_v15_signature.json")
PUBLIC_JWK_MEMBERS: Final = ("kty", "kid", "use", "alg", "n", "e")


@pytest.mark.anyio
async def test_rfc7515_a2_is_refused_for_naming_no_signing_key(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    """Its header is `{"alg":"RS256"}`: no `kid`, no `x5t` (rule 7)."""
    expires = json.loads(RFC7515_A2["payload_utf8"])["exp"]
    validator = TokenValidator(client_id="joe", clock=lambda: expires - 60, http_client=http_client)

    with pytest.raises(MissingKeyIdError) as info:
        await validator.validate(RFC7515_A2["compact"])
    assert info.value.reason == "missing_kid"
    assert entra.requests == []


def test_rfc7515_a2_signature_verifies_with_the_validators_rs256() -> None:
    jwk = {**RFC7515_A2["jwk_public"], "kid": "rfc7515-a2"}
    jws = _decode_compact(RFC7515_A2["compact"])

    _verify_with_jwks(
        TokenValidator(client_id="joe"), jws, _jose.KeyRef("rfc7515-a2", None), {"keys": [jwk]}
    )


@pytest.mark.parametrize(
    "case", RFC7515_A2["derived_negative_cases"], ids=lambda case: str(case["name"])
)
def test_rfc7515_a2_derived_tampering_fails_the_signature(case: Mapping[str, str]) -> None:
    jwk = {**RFC7515_A2["jwk_public"], "kid": "rfc7515-a2"}
    jws = _decode_compact(case["compact"])
    ref = _jose.KeyRef("rfc7515-a2", None)

    with pytest.raises(InvalidSignatureError):
        _verify_with_jwks(TokenValidator(client_id="joe"), jws, ref, {"keys": [jwk]})


@pytest.mark.anyio
async def test_rfc7520_4_1_is_refused_by_validate_because_its_payload_is_not_claims(
    entra: FakeEntra, http_client: httpx.AsyncClient
) -> None:
    validator = TokenValidator(client_id="bilbo", clock=lambda: NOW, http_client=http_client)

    with pytest.raises(MalformedTokenError) as info:
        await validator.validate(RFC7520_4_1["output"]["compact"])
    assert info.value.reason == "malformed_token"
    assert "payload" in info.value.message
    assert entra.requests == []


def test_rfc7520_4_1_passes_the_signature_layer() -> None:
    """Header rules (RS256, `kid` bilbo.baggins@hobbiton.example), key lookup, signature."""
    key = RFC7520_4_1["input"]["key"]
    public = {name: key[name] for name in PUBLIC_JWK_MEMBERS if name in key}

    _signature_layer(
        TokenValidator(client_id="bilbo"), RFC7520_4_1["output"]["compact"], {"keys": [public]}
    )


def test_tampered_msa_id_token_signature_does_not_verify() -> None:
    """Its signature is authentic (vectors README) but covers the original payload, before
    the docs authors changed `tid`: the real key `1LTMzakihiRla_8z2BEJVXeWMqo` refuses it.
    """
    token = _without_padding(TOKENS[TAMPERED_MSA_ID_TOKEN].token)

    with pytest.raises(InvalidSignatureError):
        _signature_layer(TokenValidator(client_id="msa"), token, real_tokens_jwks())
