"""TokenValidator through its public API: intake and claims (docs/design.md, rules 4-7, 16-21)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pytest

from aad_guard import Principal, TokenValidator
from aad_guard.errors import (
    AADGuardError,
    CriticalHeaderError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidSignatureError,
    KeyIssuerMismatchError,
    MalformedTokenError,
    MissingClaimError,
    MissingKeyIdError,
    NoScopesOrRolesError,
    NotAnAccessTokenError,
    TenantNotAllowedError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenTooLargeError,
    UnknownKeyError,
    UnsupportedAlgorithmError,
    VersionMismatchError,
)
from aad_guard.testing import MSA_TENANT_ID, LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import b64

pytestmark = pytest.mark.anyio

OTHER_TENANT = "11111111-2222-4333-8444-555555555555"


def unsigned(header: Mapping[str, object], payload: Mapping[str, object]) -> str:
    """A token with a made-up signature: for checks that must happen before verification."""
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(b"\x01" * 256)]
    )


def claims_of(issuer: LocalIssuer, **options: object) -> dict[str, object]:
    token = issuer.token(**options)  # type: ignore[arg-type]
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


# -- intake: rules 4-7 --------------------------------------------------------------------


async def test_valid_v2_token_gives_its_principal(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    principal = await make_validator().validate(issuer.token(scopes=["Tasks.Read", "Tasks.Write"]))
    assert isinstance(principal, Principal)
    assert principal.tenant_id == issuer.tenant_id
    assert principal.scopes == {"Tasks.Read", "Tasks.Write"}
    assert principal.token_version == "2.0"
    assert not principal.is_app


async def test_token_longer_than_the_limit_is_refused_before_any_io(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(claims={"padding": "x" * 2000})
    with pytest.raises(TokenTooLargeError) as caught:
        await make_validator(max_token_length=1000).validate(token)
    assert caught.value.reason == "token_too_large"
    assert issuer.count() == 0


async def test_default_length_limit_admits_a_large_real_token(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    groups = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(200)]
    token = issuer.token(claims={"groups": groups})
    assert 10_000 < len(token) < 32 * 1024
    await make_validator().validate(token)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "e30.e30.", "e30.e30.AQ=="],
    ids=["empty", "one", "two", "four", "jwe-five", "empty-segments", "no-sig", "padded-sig"],
)
async def test_anything_but_a_compact_jws_is_malformed(
    token: str, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(MalformedTokenError):
        await make_validator().validate(token)
    assert issuer.count() == 0


async def test_duplicate_claim_names_are_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    header = b64(json.dumps({"alg": "RS256", "kid": issuer.keys.signing.kid}).encode())
    payload = b64(b'{"aud": "x", "aud": "y"}')
    with pytest.raises(MalformedTokenError, match="duplicate"):
        await make_validator().validate(f"{header}.{payload}.AQAB")


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256", "RS512", "PS256", "XYZ"])
async def test_algorithms_other_than_rs256_are_refused_before_key_lookup(
    alg: str, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = unsigned({"alg": alg, "kid": issuer.keys.signing.kid}, claims_of(issuer))
    with pytest.raises(UnsupportedAlgorithmError):
        await make_validator().validate(token)
    assert issuer.count() == 0


async def test_hs256_signed_with_the_public_key_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    import hashlib
    import hmac

    jwk = json.dumps(issuer.keys.signing.public_jwk()).encode()
    header = b64(json.dumps({"alg": "HS256", "kid": issuer.keys.signing.kid}).encode())
    payload = b64(json.dumps(claims_of(issuer)).encode())
    mac = hmac.new(jwk, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(UnsupportedAlgorithmError):
        await make_validator().validate(f"{header}.{payload}.{b64(mac)}")


async def test_crit_header_is_refused(issuer: LocalIssuer, make_validator: MakeValidator) -> None:
    token = issuer.token(headers={"kid": issuer.keys.signing.kid, "crit": ["exp"], "exp": 1})
    with pytest.raises(CriticalHeaderError):
        await make_validator().validate(token)


async def test_keys_named_by_the_token_are_never_fetched(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    attacker = "https://attacker.example/keys"
    token = issuer.token(
        headers={
            "kid": issuer.keys.signing.kid,
            "jku": attacker,
            "x5u": attacker,
            "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            "x5c": ["MIIB"],
        }
    )
    await make_validator().validate(token)
    assert {request.url.host for request in issuer.requests} == {"login.microsoftonline.com"}


async def test_x5t_alone_names_the_key_of_old_v1_tokens(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(version="1.0", headers={"x5t": issuer.keys.signing.kid})
    principal = await make_validator().validate(token)
    assert principal.token_version == "1.0"


async def test_kid_wins_when_both_kid_and_x5t_are_present(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    good = issuer.keys.signing.kid
    await validator.validate(issuer.token(headers={"kid": good, "x5t": "not-a-key"}))
    with pytest.raises(UnknownKeyError):
        await validator.validate(issuer.token(headers={"kid": "not-a-key", "x5t": good}))


async def test_token_without_kid_or_x5t_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(MissingKeyIdError):
        await make_validator().validate(issuer.token(headers={}))


async def test_tampered_payload_fails_the_signature(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    header, _, signature = issuer.token(scopes=["Tasks.Read"]).split(".")
    forged = b64(json.dumps(claims_of(issuer, scopes=["Tasks.Admin"])).encode())
    with pytest.raises(InvalidSignatureError):
        await make_validator().validate(f"{header}.{forged}.{signature}")


async def test_token_signed_by_a_foreign_key_with_a_known_kid_fails_the_signature(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    stranger = LocalIssuer(clock=clock)
    stranger.keys.rotate()  # a different key material than `issuer`'s signing key
    token = stranger.token(key=stranger.keys.signing, headers={"kid": issuer.keys.signing.kid})
    with pytest.raises(InvalidSignatureError):
        await make_validator().validate(token)


# -- lifetime: rule 16 --------------------------------------------------------------------


async def test_token_without_exp_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(MissingClaimError) as caught:
        await make_validator().validate(issuer.token(remove=["exp"]))
    assert caught.value.claim == "exp"


async def test_expired_token_is_refused_after_the_clock_skew(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    token = issuer.token(lifetime=60)
    clock.advance(60 + 299)
    await validator.validate(token)
    clock.advance(1)
    with pytest.raises(TokenExpiredError):
        await validator.validate(token)


async def test_clock_skew_is_configurable(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    token = issuer.token(lifetime=60)
    clock.advance(61)
    with pytest.raises(TokenExpiredError):
        await make_validator(clock_skew=0).validate(token)


async def test_token_not_yet_valid_is_refused_beyond_the_clock_skew(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    await validator.validate(issuer.token(issued_at=clock.now + 300))
    with pytest.raises(TokenNotYetValidError):
        await validator.validate(issuer.token(issued_at=clock.now + 301))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    [
        *("1800000000", True, None, [1800000000], {"n": 1}),
        # Integers beyond any float are no time either (and must not raise OverflowError).
        pytest.param(10**400, id="10**400"),
        pytest.param(-(10**400), id="-10**400"),
    ],
    ids=repr,
)
async def test_time_claims_must_be_finite_numbers(
    claim: str, value: object, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(InvalidClaimError) as caught:
        await make_validator().validate(issuer.token(claims={claim: value}))
    assert caught.value.claim == claim


@pytest.mark.parametrize("literal", ["1e400", "-1e400"])
async def test_time_claims_that_overflow_to_infinity_are_refused(
    literal: str, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    header, _payload, signature = issuer.token().split(".")
    document = json.dumps(claims_of(issuer)).replace('"exp": ', f'"exp": {literal}, "x": ', 1)
    with pytest.raises(InvalidClaimError) as caught:
        await make_validator().validate(f"{header}.{b64(document.encode())}.{signature}")
    assert caught.value.claim == "exp"


async def test_float_time_claims_are_accepted(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    token = issuer.token(claims={"exp": clock.now + 10.5, "nbf": clock.now - 0.5})
    principal = await make_validator().validate(token)
    assert principal.expires_at == clock.now + 10.5


async def test_nbf_after_exp_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    token = issuer.token(claims={"nbf": clock.now + 100, "exp": clock.now + 50})
    with pytest.raises(InvalidClaimError) as caught:
        await make_validator().validate(token)
    assert caught.value.claim == "nbf"


# -- audience: rule 17 --------------------------------------------------------------------


@pytest.mark.parametrize("form", ["client_id", "app_id_uri"])
async def test_default_audiences_are_the_client_id_and_its_app_id_uri(
    form: str, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    audience = issuer.client_id if form == "client_id" else f"api://{issuer.client_id}"
    await make_validator().validate(issuer.token(audience=audience))


async def test_configured_audiences_replace_the_defaults(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(audiences=["https://api.contoso.example"])
    await validator.validate(issuer.token(audience="https://api.contoso.example"))
    with pytest.raises(InvalidAudienceError):
        await validator.validate(issuer.token())


async def test_token_for_another_audience_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(InvalidAudienceError):
        await make_validator().validate(
            issuer.token(audience="00000003-0000-0000-c000-000000000000")
        )


async def test_one_element_audience_list_is_tolerated(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    await make_validator().validate(issuer.token(claims={"aud": [issuer.client_id]}))


@pytest.mark.parametrize(
    "aud",
    [["a", "b"], [], [None], 7, {"aud": "x"}],
    ids=["two", "empty", "null-item", "number", "object"],
)
async def test_audience_must_be_a_single_string(
    aud: object, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(InvalidAudienceError):
        await make_validator().validate(issuer.token(claims={"aud": aud}))


async def test_token_addressed_to_several_audiences_is_refused_even_if_one_is_ours(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(claims={"aud": [issuer.client_id, "other"]})
    with pytest.raises(InvalidAudienceError):
        await make_validator().validate(token)


async def test_token_without_aud_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(MissingClaimError):
        await make_validator().validate(issuer.token(remove=["aud"]))


# -- issuer and tenant id: rule 18 --------------------------------------------------------


async def test_v1_token_passes_with_the_v1_issuer(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    principal = await make_validator().validate(issuer.token(version="1.0"))
    assert principal.token_version == "1.0"
    assert principal.claims["iss"] == f"https://sts.windows.net/{issuer.tenant_id}/"


async def test_v1_tokens_are_refused_when_not_accepted(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(InvalidIssuerError):
        await make_validator(accept_v1_tokens=False).validate(issuer.token(version="1.0"))
    assert issuer.count("metadata") == 1  # no v1 document is fetched either


async def test_token_without_tid_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(MissingClaimError) as caught:
        await make_validator().validate(issuer.token(remove=["tid"]))
    assert caught.value.claim == "tid"


@pytest.mark.parametrize(
    "tid",
    ["contoso.onmicrosoft.com", "72F988BF-0000-4000-8000-00000000A001", "{tenantid}", 1, "", None],
)
async def test_tid_must_be_a_lower_case_guid(
    tid: object, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(InvalidClaimError) as caught:
        await make_validator().validate(issuer.token(claims={"tid": tid}))
    assert caught.value.claim == "tid"


@pytest.mark.parametrize(
    "iss",
    [
        "https://login.microsoftonline.com/{tid}/v2.0/",
        "https://login.microsoftonline.com/{tid}",
        "https://LOGIN.microsoftonline.com/{tid}/v2.0",
        "https://login.microsoftonline.com.evil.example/{tid}/v2.0",
        "https://login.microsoftonline.us/{tid}/v2.0",
        "http://login.microsoftonline.com/{tid}/v2.0",
        "https://login.microsoftonline.com/" + OTHER_TENANT + "/v2.0",
        "https://sts.windows.net/{tid}",
        "https://sts.windows.net/{tid}/v2.0",
    ],
)
async def test_issuer_must_equal_the_template_filled_with_tid(
    iss: str, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(claims={"iss": iss.replace("{tid}", issuer.tenant_id)})
    with pytest.raises(InvalidIssuerError):
        await make_validator().validate(token)


async def test_issuer_of_another_tenant_than_tid_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(claims={"iss": issuer.issuer(OTHER_TENANT)})
    with pytest.raises(InvalidIssuerError):
        await make_validator(tenant="common").validate(token)


async def test_token_without_iss_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(MissingClaimError):
        await make_validator().validate(issuer.token(remove=["iss"]))


@pytest.mark.parametrize(("version", "ver"), [("2.0", "1.0"), ("1.0", "2.0"), ("2.0", 2)])
async def test_ver_must_agree_with_the_issuer(
    version: str, ver: object, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(version=version, claims={"ver": ver})  # type: ignore[arg-type]
    with pytest.raises(VersionMismatchError):
        await make_validator().validate(token)


async def test_token_without_ver_is_refused(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(MissingClaimError):
        await make_validator().validate(issuer.token(remove=["ver"]))


# -- signing-key binding: rule 19 ---------------------------------------------------------


async def test_key_bound_to_the_template_signs_v1_and_v2_tokens(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    await validator.validate(issuer.token(version="2.0"))
    await validator.validate(issuer.token(version="1.0"))


async def test_key_bound_to_another_tenant_cannot_sign_for_this_one(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    bound = issuer.keys.rotate()
    issuer.keys.issuers[bound.kid] = issuer.issuer(OTHER_TENANT)
    with pytest.raises(KeyIssuerMismatchError):
        await make_validator().validate(issuer.token(key=bound))
    await make_validator(tenant="common").validate(issuer.token(key=bound, tenant_id=OTHER_TENANT))


# -- tenant policy: rule 20 ---------------------------------------------------------------


async def test_single_tenant_admits_only_its_tenant(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant=issuer.tenant_id)
    await validator.validate(issuer.token())
    with pytest.raises(InvalidIssuerError):  # the tenant's metadata has a fixed issuer
        await validator.validate(issuer.token(tenant_id=OTHER_TENANT))


async def test_single_tenant_by_verified_domain_resolves_through_metadata(
    clock: FakeClock,
) -> None:
    issuer = LocalIssuer(clock=clock, domains={"contoso.example": OTHER_TENANT})
    async with issuer.client() as client:
        validator = TokenValidator(
            client_id=issuer.client_id, tenant="Contoso.Example", clock=clock, http_client=client
        )
        principal = await validator.validate(issuer.token(tenant_id=OTHER_TENANT))
        assert principal.tenant_id == OTHER_TENANT
        with pytest.raises(InvalidIssuerError):
            await validator.validate(issuer.token())
    paths = {request.url.path for request in issuer.requests}
    assert "/contoso.example/v2.0/.well-known/openid-configuration" in paths


async def test_organizations_refuses_personal_accounts(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant="organizations")
    await validator.validate(issuer.token(tenant_id=OTHER_TENANT))
    with pytest.raises(TenantNotAllowedError) as caught:
        await validator.validate(issuer.token(personal=True))
    assert caught.value.tenant_id == MSA_TENANT_ID


async def test_consumers_admits_only_personal_accounts(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant="consumers")
    principal = await validator.validate(issuer.token(personal=True))
    assert principal.tenant_id == MSA_TENANT_ID
    with pytest.raises(InvalidIssuerError):
        await validator.validate(issuer.token())


async def test_common_admits_work_and_personal_accounts(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant="common")
    await validator.validate(issuer.token(personal=True))
    await validator.validate(issuer.token(tenant_id=OTHER_TENANT))


async def test_allowed_tenants_narrows_common(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant="common", allowed_tenants=[issuer.tenant_id.upper()])
    await validator.validate(issuer.token())
    with pytest.raises(TenantNotAllowedError):
        await validator.validate(issuer.token(tenant_id=OTHER_TENANT))
    with pytest.raises(TenantNotAllowedError):
        await validator.validate(issuer.token(personal=True))


async def test_allowed_tenants_cannot_widen_organizations_to_personal_accounts(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant="organizations", allowed_tenants=[MSA_TENANT_ID])
    with pytest.raises(TenantNotAllowedError):
        await validator.validate(issuer.token(personal=True))


async def test_sync_tenant_policy_decides_after_the_signature(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    seen: list[tuple[str, str, str]] = []

    def policy(tenant_id: str, iss: str, claims: Mapping[str, object]) -> bool:
        seen.append((tenant_id, iss, str(claims["oid"])))
        return tenant_id == issuer.tenant_id

    validator = make_validator(tenant="common", tenant_policy=policy)
    await validator.validate(issuer.token())
    with pytest.raises(TenantNotAllowedError):
        await validator.validate(issuer.token(tenant_id=OTHER_TENANT))
    forged = issuer.token().rsplit(".", 1)[0] + "." + b64(b"\x00" * 256)
    with pytest.raises(InvalidSignatureError):
        await validator.validate(forged)
    assert [tenant for tenant, _, _ in seen] == [issuer.tenant_id, OTHER_TENANT]
    assert seen[0][1] == issuer.issuer(issuer.tenant_id)


async def test_async_tenant_policy_is_awaited(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    subscribed = {issuer.tenant_id}

    async def policy(tenant_id: str, iss: str, claims: Mapping[str, object]) -> bool:
        return tenant_id in subscribed

    validator = make_validator(tenant="organizations", tenant_policy=policy)
    await validator.validate(issuer.token())
    subscribed.clear()
    with pytest.raises(TenantNotAllowedError):
        await validator.validate(issuer.token())


async def test_tenant_policy_must_answer_true_exactly(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant_policy=lambda tid, iss, claims: "yes")
    with pytest.raises(TenantNotAllowedError):
        await validator.validate(issuer.token())


async def test_every_tenant_condition_must_pass(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(
        tenant="organizations",
        allowed_tenants=[issuer.tenant_id, OTHER_TENANT],
        tenant_policy=lambda tid, iss, claims: tid == OTHER_TENANT,
    )
    await validator.validate(issuer.token(tenant_id=OTHER_TENANT))
    with pytest.raises(TenantNotAllowedError):  # the list admits it, the policy does not
        await validator.validate(issuer.token())


# -- access-token shape: rule 21 ----------------------------------------------------------


async def test_app_only_token_with_roles_passes_as_an_app(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    principal = await make_validator().validate(issuer.token(app_only=True, roles=["Tasks.All"]))
    assert principal.is_app
    assert principal.roles == {"Tasks.All"}
    assert principal.scopes == frozenset()


async def test_token_with_neither_scp_nor_roles_is_refused_unless_acl_tokens_are_allowed(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(app_only=True)
    with pytest.raises(NoScopesOrRolesError):
        await make_validator().validate(token)
    principal = await make_validator(allow_acl_tokens=True).validate(token)
    assert principal.is_app


@pytest.mark.parametrize(("version", "claim"), [("2.0", "azp"), ("1.0", "appid")])
async def test_id_token_without_client_claim_is_refused_unless_admitted(
    version: str, claim: str, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(version=version, scopes=None, remove=[claim])  # type: ignore[arg-type]
    with pytest.raises(NotAnAccessTokenError):
        await make_validator().validate(token)
    principal = await make_validator(accept_id_tokens=True).validate(token)
    assert principal.client_id is None


async def test_v2_token_must_name_its_client_in_azp_not_appid(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(remove=["azp"], claims={"appid": "x"})
    with pytest.raises(NotAnAccessTokenError):
        await make_validator().validate(token)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("scp", ["a"]), ("scp", 1), ("roles", "Admin"), ("roles", [1]), ("azp", 5)],
)
async def test_scope_role_and_client_claims_must_have_their_types(
    claim: str, value: object, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    with pytest.raises(InvalidClaimError) as caught:
        await make_validator().validate(issuer.token(claims={claim: value}))
    assert caught.value.claim == claim


# -- errors -------------------------------------------------------------------------------


async def test_error_messages_never_contain_the_token_or_signature(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(audience="someone-else")
    with pytest.raises(AADGuardError) as caught:
        await make_validator().validate(token)
    for part in token.split("."):
        assert part not in str(caught.value)
    assert caught.value.description == "The access token was issued for another audience."
