"""The key store through the validator: fetches and the cache (docs/design.md, rules 8-15)."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from aad_guard import TokenValidator
from aad_guard.errors import (
    InvalidIssuerError,
    InvalidSignatureError,
    KeysUnavailableError,
    UnknownKeyError,
)
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import run_concurrently

pytestmark = pytest.mark.anyio

# A bound on waits that must not happen at all: only a hang would reach it.
HANG = 5.0


async def settle() -> None:
    """Let background fetches run to completion."""
    await anyio.wait_all_tasks_blocked()


# -- where documents come from: rules 8-9 -------------------------------------------------


async def test_metadata_comes_from_the_authority_and_tenant_only(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(tenant="organizations")
    await validator.validate(issuer.token())
    assert sorted(str(r.url) for r in issuer.requests) == [
        "https://login.microsoftonline.com/organizations/.well-known/openid-configuration",
        "https://login.microsoftonline.com/organizations/discovery/v2.0/keys",
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
    ]
    assert validator.metadata_url == (
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
    )


async def test_token_issuer_never_becomes_a_url(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token(claims={"iss": f"https://attacker.example/{issuer.tenant_id}/v2.0"})
    with pytest.raises(InvalidIssuerError):
        await make_validator().validate(token)
    assert {r.url.host for r in issuer.requests} == {"login.microsoftonline.com"}


@pytest.mark.parametrize(
    "authority",
    [
        "http://login.microsoftonline.com",
        "ftp://login.microsoftonline.com",
        "https://user:pw@login.microsoftonline.com",
        "https://login.microsoftonline.com/common",
        "login.microsoftonline.com",
        "http://10.0.0.1:8080",
    ],
)
def test_authority_must_be_an_https_origin(authority: str) -> None:
    with pytest.raises(ValueError, match=r"authority|https|URL|credentials"):
        TokenValidator(client_id="api", authority=authority)


@pytest.mark.parametrize(
    "authority", ["http://127.0.0.1:8400", "http://localhost:9", "http://[::1]:8080"]
)
def test_plain_http_is_allowed_to_loopback_only(authority: str) -> None:
    validator = TokenValidator(client_id="api", authority=authority, tenant="common")
    assert validator.metadata_url.startswith(authority.rstrip("/"))


@pytest.mark.parametrize("tenant", ["72f988bf-0000-4000-8000-00000000a001", "consumers"])
async def test_metadata_of_another_tenant_is_refused_for_fixed_issuers(
    tenant: str, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.simulate("wrong_issuer", only="metadata")
    with pytest.raises(KeysUnavailableError):
        await make_validator(tenant=tenant).validate(issuer.token())
    assert issuer.count("jwks") == 0


async def test_non_200_answers_are_failed_fetches(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.simulate("status", status=404)
    with pytest.raises(KeysUnavailableError):
        await make_validator().validate(issuer.token())


async def test_document_size_is_capped(issuer: LocalIssuer, make_validator: MakeValidator) -> None:
    validator = make_validator(max_document_bytes=1000)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    # Entra's metadata (~1.8 KB, like the local issuer's) does not fit: no keys are fetched.
    assert issuer.count("metadata") >= 1 and issuer.count("jwks") == 0


async def test_hanging_provider_times_out_into_keys_unavailable(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.simulate("hang")
    validator = make_validator(fetch_timeout=0.05)
    with anyio.fail_after(HANG), pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())


async def test_redirects_are_not_followed_even_by_a_client_that_would(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    async with httpx.AsyncClient(transport=issuer.transport, follow_redirects=True) as client:
        issuer.simulate("redirect")
        with pytest.raises(KeysUnavailableError):
            await make_validator(http_client=client).validate(issuer.token())
    assert all(r.url.host == "login.microsoftonline.com" for r in issuer.requests)


async def test_custom_signing_keys_are_fetched_with_the_app_id(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    custom = issuer.keys.add_custom(issuer.client_id)
    validator = make_validator(custom_signing_keys=True)
    await validator.validate(issuer.token(key=custom))
    jwks_request = next(r for r in issuer.requests if r.url.path.endswith("/keys"))
    assert jwks_request.url.params["appid"] == issuer.client_id
    with pytest.raises(UnknownKeyError):
        await make_validator().validate(issuer.token(key=custom))


# -- single flight: rule 10 ---------------------------------------------------------------


async def test_concurrent_cold_validations_share_one_fetch_per_document(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    token = issuer.token()
    principals = await run_concurrently(100, lambda: validator.validate(token))
    assert len(principals) == 100
    assert issuer.count("jwks") == 1
    assert issuer.count("metadata") == 2  # v2, and v1 for the v1 issuer template


async def test_without_v1_tokens_only_the_v2_metadata_is_fetched(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    await make_validator(accept_v1_tokens=False).validate(issuer.token())
    assert issuer.count("metadata") == 1


# -- background refresh: rule 11 ----------------------------------------------------------


async def test_keys_refresh_in_the_background_after_the_interval(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(refresh_interval=600)
    token = issuer.token()
    await validator.validate(token)
    clock.advance(539)  # within the interval, even with the largest jitter (10%)
    await validator.validate(token)
    await settle()
    assert issuer.count("jwks") == 1
    clock.advance(61)
    issuer.simulate("slow", delay=0.2)
    with anyio.fail_after(HANG):
        await validator.validate(token)  # served from the cache while the refresh is slow
    assert issuer.count("jwks") == 1
    await validator.refresh()  # joins the refresh under way
    assert issuer.count("jwks") == 2


async def test_refresh_picks_up_new_keys_without_a_miss(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(kid_miss_cooldown=10**6)
    await validator.validate(issuer.token())
    new_key = issuer.keys.rotate()
    clock.advance(3600)
    await validator.validate(issuer.token(key=issuer.keys.listed[0]))  # starts the refresh
    await settle()
    await validator.validate(issuer.token(key=new_key))
    assert issuer.count("jwks") == 2


# -- unknown kid: rule 12 -----------------------------------------------------------------


async def test_first_token_of_a_rotated_in_key_validates(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    await validator.validate(issuer.token())
    clock.advance(31)
    issuer.keys.rotate()
    await validator.validate(issuer.token())
    assert issuer.count("jwks") == 2


async def test_unknown_kids_refetch_at_most_once_per_cooldown(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    valid = issuer.token()
    await validator.validate(valid)
    clock.advance(30)
    unknown = [issuer.token(headers={"kid": f"unknown-{i}"}) for i in range(300)]
    failures = 0

    async def miss(token: str) -> None:
        nonlocal failures
        try:
            await validator.validate(token)
        except UnknownKeyError:
            failures += 1

    async with anyio.create_task_group() as group:
        for token in unknown:
            group.start_soon(miss, token)
            group.start_soon(validator.validate, valid)
    assert failures == 300
    assert issuer.count("jwks") == 2
    clock.advance(29)
    await miss(unknown[0])
    assert issuer.count("jwks") == 2  # still inside the cooldown: no I/O
    clock.advance(1)
    await miss(unknown[0])
    assert issuer.count("jwks") == 3


async def test_unknown_kid_right_after_a_fetch_fails_fast(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    with pytest.raises(UnknownKeyError) as caught:
        await validator.validate(issuer.token(headers={"kid": "no-such-key"}))
    assert caught.value.kid == "no-such-key"
    assert issuer.count("jwks") == 1  # the cold fetch counts for the cooldown


async def test_known_kid_with_a_bad_signature_never_refetches(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    await validator.validate(issuer.token())
    clock.advance(100)
    forged = issuer.token(key=issuer.keys.listed[1], headers={"kid": issuer.keys.signing.kid})
    for _ in range(10):
        with pytest.raises(InvalidSignatureError):
            await validator.validate(forged)
    assert issuer.count("jwks") == 1


# -- outages: rule 13 ---------------------------------------------------------------------


async def test_cached_keys_serve_while_the_provider_is_down(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    await validator.validate(issuer.token())
    issuer.simulate("down")
    for _ in range(5):
        clock.advance(3600)
        await validator.validate(issuer.token())
        await settle()


async def test_keys_older_than_max_stale_are_not_used(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(max_stale=7200)
    await validator.validate(issuer.token())
    issuer.simulate("down")
    clock.advance(7200)
    await validator.validate(issuer.token())
    await settle()
    clock.advance(1)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    issuer.simulate(None)
    clock.advance(300)
    await validator.validate(issuer.token())


async def test_cold_start_with_the_provider_down_is_keys_unavailable(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.simulate("down")
    with pytest.raises(KeysUnavailableError) as caught:
        await make_validator().validate(issuer.token())
    assert caught.value.retry_after == 1
    assert caught.value.reason == "keys_unavailable"


async def test_failed_fetches_back_off_exponentially(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    issuer.simulate("down")
    validator = make_validator(accept_v1_tokens=False)
    token = issuer.token(lifetime=86400)
    attempts = []
    for _ in range(600):  # a request every half second for five minutes
        with pytest.raises(KeysUnavailableError):
            await validator.validate(token)
        attempts.append(issuer.count())
        clock.advance(0.5)
    fetch_times = [i * 0.5 for i in range(1, len(attempts)) if attempts[i] > attempts[i - 1]]
    gaps = [round(b - a) for a, b in zip([0.0, *fetch_times], fetch_times, strict=False)]
    assert gaps == [1, 2, 4, 8, 16, 32, 64, 128]
    assert issuer.count() == 9


async def test_backoff_is_capped_at_five_minutes(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    issuer.simulate("down")
    validator = make_validator(accept_v1_tokens=False)
    token = issuer.token(lifetime=10**6)
    for _ in range(20):
        with pytest.raises(KeysUnavailableError) as caught:
            await validator.validate(token)
        clock.advance(caught.value.retry_after)
    assert caught.value.retry_after == 300


async def test_retry_after_from_the_provider_is_honoured(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    issuer.simulate("status", status=429, retry_after=42)
    validator = make_validator(accept_v1_tokens=False)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    with pytest.raises(KeysUnavailableError) as caught:
        await validator.validate(issuer.token())
    assert caught.value.retry_after == 42
    assert issuer.count() == 1
    clock.advance(42)
    issuer.simulate(None)
    await validator.validate(issuer.token())


# -- a slow provider: rule 14 -------------------------------------------------------------


async def test_hanging_provider_delays_no_validation_with_cached_keys(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(fetch_timeout=60)
    await validator.validate(issuer.token())
    issuer.simulate("hang")
    clock.advance(3600)
    with anyio.fail_after(HANG):
        for _ in range(50):
            await validator.validate(issuer.token())


async def test_concurrent_misses_wait_for_one_slow_fetch_together(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.simulate("slow", delay=0.2)
    validator = make_validator(accept_v1_tokens=False)
    token = issuer.token()
    principals = await run_concurrently(20, lambda: validator.validate(token))
    assert len(principals) == 20
    assert issuer.count() == 2  # metadata, then JWKS: one of each for all twenty


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.simulate("slow", delay=0.1)
    validator = make_validator(accept_v1_tokens=False)
    token = issuer.token()
    with anyio.move_on_after(0.01):
        await validator.validate(token)
    await validator.validate(token)
    assert issuer.count() == 2


# -- which keys are used: rule 15 ---------------------------------------------------------


async def test_key_dropped_from_the_jwks_is_no_longer_used(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    old = issuer.keys.signing
    await validator.validate(issuer.token(key=old))
    issuer.keys.rotate()
    issuer.keys.retire(old.kid)
    clock.advance(3600)
    await validator.validate(issuer.token())
    await settle()
    with pytest.raises(UnknownKeyError):
        await validator.validate(issuer.token(key=old))


@pytest.mark.parametrize(
    ("member", "value"),
    [("use", "enc"), ("kty", "EC"), ("key_ops", ["encrypt"]), ("alg", "HS256"), ("kid", 7)],
)
async def test_keys_not_meant_for_rs256_signatures_are_never_used(
    member: str, value: object, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    original = issuer.keys.jwks

    def altered(*, app_id: str | None = None) -> dict[str, list[dict[str, object]]]:
        document = original(app_id=app_id)
        document["keys"][0][member] = value
        return document

    issuer.keys.jwks = altered  # type: ignore[method-assign]
    with pytest.raises(UnknownKeyError):
        await make_validator().validate(issuer.token(key=issuer.keys.listed[0]))


async def test_keys_shorter_than_2048_bits_are_never_used(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from aad_guard.testing import LocalKey

    weak = LocalKey("weak-key", rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505
    issuer.keys.listed.append(weak)
    token = issuer.token(key=weak)
    with pytest.raises(UnknownKeyError):
        await make_validator().validate(token)


async def test_a_kid_listed_twice_names_no_key(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    twin = issuer.keys.listed[1]
    issuer.keys.listed.append(type(twin)(issuer.keys.signing.kid, twin.private_key))
    with pytest.raises(UnknownKeyError):
        await make_validator().validate(issuer.token())


async def test_refresh_fetches_now_and_reports_failure(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    await validator.refresh()
    assert issuer.count("jwks") == 1
    issuer.simulate("down")
    await validator.refresh()  # the cached keys still serve: no error
    cold = make_validator()
    with pytest.raises(KeysUnavailableError):
        await cold.refresh()


async def test_owned_client_is_created_and_closed(issuer: LocalIssuer) -> None:
    validator = TokenValidator(client_id="api", authority="http://127.0.0.1:9", fetch_timeout=1)
    with pytest.raises(KeysUnavailableError):  # nothing listens on the discard port
        await validator.validate(issuer.token(audience="api", issued_at=time.time()))
    await validator.aclose()
    await validator.aclose()  # closing twice is harmless
