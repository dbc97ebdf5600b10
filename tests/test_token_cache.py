"""The verified-token cache: what a repeated token still goes through, and its bounds."""

from __future__ import annotations

import gc
import tracemalloc
import uuid

import anyio
import anyio.lowlevel
import pytest

from aad_guard import Principal, TokenValidator
from aad_guard._token_cache import TokenCache, entry_bytes
from aad_guard.errors import (
    InvalidIssuerError,
    InvalidSignatureError,
    KeysUnavailableError,
    TenantNotAllowedError,
    TokenExpiredError,
    TokenNotYetValidError,
    UnknownKeyError,
)
from aad_guard.testing import DEFAULT_TENANT_ID, LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import run_concurrently

pytestmark = pytest.mark.anyio


def distinct_tokens(issuer: LocalIssuer, count: int) -> list[str]:
    """Tokens that differ only in their `uti`, so all have the same length."""
    return [issuer.token(claims={"uti": f"cache{n:017d}"}) for n in range(count)]


def real_size_token(issuer: LocalIssuer, n: int = 0) -> str:
    """A token of Entra's common size for a user in a few dozen groups: about 2.5 KB."""
    groups = [str(uuid.UUID(int=n * 1000 + g, version=4)) for g in range(36)]
    return issuer.token(
        claims={"uti": f"real{n:018d}", "groups": groups, "name": "Ada Lovelace", "wids": []}
    )


def entry_cost(validator: TokenValidator) -> int:
    """The bytes the validator's cache charges in all."""
    assert validator._cache is not None
    return validator._cache.bytes


def cache_of(validator: TokenValidator) -> TokenCache:
    assert validator._cache is not None
    return validator._cache


async def test_a_repeated_token_gives_the_principal_verified_first(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    token = issuer.token()
    first = await validator.validate(token)
    assert await validator.validate(token) is first


async def test_with_the_cache_off_every_validation_is_complete(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(max_cached_tokens=0)
    token = issuer.token()
    first = await validator.validate(token)
    second = await validator.validate(token)
    assert second == first
    assert second is not first


async def test_a_token_differing_in_one_character_is_not_served_from_the_cache(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    token = issuer.token()
    await validator.validate(token)
    head, _, signature = token.rpartition(".")
    # Flip one full base64url digit in the middle of the signature: still canonical.
    index = len(signature) // 2
    flipped = "A" if signature[index] != "A" else "B"
    forged = f"{head}.{signature[:index]}{flipped}{signature[index + 1 :]}"
    with pytest.raises(InvalidSignatureError):
        await validator.validate(forged)


async def test_a_cached_token_expires_on_time(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(clock_skew=60)
    token = issuer.token(lifetime=600)
    principal = await validator.validate(token)
    clock.advance(600 + 59)
    assert await validator.validate(token) is principal
    clock.advance(1)
    with pytest.raises(TokenExpiredError) as caught:
        await validator.validate(token)
    # The rejection log still gets its context from a cached token.
    assert caught.value.tenant_id == issuer.tenant_id
    assert caught.value.kid == issuer.keys.signing.kid
    clock.advance(-1)  # forgotten, not just refused: it is checked in full again
    fresh = await validator.validate(token)
    assert fresh == principal
    assert fresh is not principal


async def test_a_cached_token_is_refused_when_the_clock_goes_back_before_nbf(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(clock_skew=0)
    token = issuer.token()
    await validator.validate(token)
    clock.advance(-1)
    with pytest.raises(TokenNotYetValidError):
        await validator.validate(token)


async def test_a_cached_token_fails_once_its_key_leaves_the_key_set(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    old = issuer.keys.signing
    token = issuer.token()
    await validator.validate(token)
    issuer.keys.rotate()
    issuer.keys.retire(old.kid)
    await validator.refresh()
    with pytest.raises(UnknownKeyError):
        await validator.validate(token)


async def test_a_cached_token_is_checked_against_the_keys_fetched_past_max_stale(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(max_stale=7200)
    old = issuer.keys.signing
    token = issuer.token(lifetime=86400)
    await validator.validate(token)
    issuer.keys.rotate()
    issuer.keys.retire(old.kid)
    clock.advance(7201)  # the keys are too old: this use waits for the new key set
    with pytest.raises(UnknownKeyError):
        await validator.validate(token)


async def test_a_cached_token_fails_when_its_domain_moves_to_another_tenant(
    clock: FakeClock,
) -> None:
    other_tenant = "11111111-2222-4333-8444-555555555555"
    issuer = LocalIssuer(clock=clock, domains={"contoso.com": DEFAULT_TENANT_ID})
    async with (
        issuer.client() as client,
        TokenValidator(
            client_id=issuer.client_id, tenant="contoso.com", clock=clock, http_client=client
        ) as validator,
    ):
        token = issuer.token()
        await validator.validate(token)
        issuer.domains["contoso.com"] = other_tenant
        await validator.refresh()
        with pytest.raises(InvalidIssuerError):
            await validator.validate(token)


async def test_cached_tokens_survive_a_refresh_that_keeps_their_key(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    token = issuer.token()
    principal = await validator.validate(token)
    issuer.keys.rotate()  # the old key stays listed
    await validator.refresh()
    assert await validator.validate(token) is principal


async def test_a_key_that_left_while_a_token_was_checked_keeps_the_token_out(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    policy_called = anyio.Event()
    policy_may_answer = anyio.Event()

    async def slow_policy(tenant_id: str, iss: str, claims: object) -> bool:
        policy_called.set()
        await policy_may_answer.wait()
        return True

    validator = make_validator(tenant_policy=slow_policy)
    old = issuer.keys.signing
    token = issuer.token()
    admitted: list[Principal] = []

    async def check() -> None:
        admitted.append(await validator.validate(token))

    async with anyio.create_task_group() as group:
        group.start_soon(check)
        await policy_called.wait()  # the signature is verified; the policy is pending
        issuer.keys.rotate()
        issuer.keys.retire(old.kid)
        await validator.refresh()
        policy_may_answer.set()
    assert len(admitted) == 1  # verified before the key left: admitted, as without a cache
    with pytest.raises(UnknownKeyError):
        await validator.validate(token)


async def test_the_tenant_policy_runs_on_every_use_of_a_cached_token(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    subscribed = {issuer.tenant_id}
    calls: list[str] = []

    async def subscribers(tenant_id: str, iss: str, claims: object) -> bool:
        calls.append(tenant_id)
        return tenant_id in subscribed

    validator = make_validator(tenant_policy=subscribers)
    token = issuer.token()
    await validator.validate(token)
    await validator.validate(token)
    assert calls == [issuer.tenant_id, issuer.tenant_id]
    subscribed.clear()
    with pytest.raises(TenantNotAllowedError) as caught:
        await validator.validate(token)
    assert caught.value.kid == issuer.keys.signing.kid


async def test_a_cached_token_is_refused_when_the_keys_are_past_max_stale(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(max_stale=7200)
    token = issuer.token(lifetime=86400)
    await validator.validate(token)
    issuer.simulate("down")
    clock.advance(7201)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(token)


async def test_the_cache_holds_at_most_max_cached_tokens_and_drops_the_oldest(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(max_cached_tokens=2)
    first, second, third = distinct_tokens(issuer, 3)
    principals = {token: await validator.validate(token) for token in (first, second, third)}
    assert await validator.validate(third) is principals[third]
    assert await validator.validate(second) is principals[second]
    assert await validator.validate(first) is not principals[first]


async def test_the_cache_holds_at_most_max_token_cache_bytes(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    tokens = distinct_tokens(issuer, 3)
    probe = make_validator()
    await probe.validate(tokens[0])
    room_for_two = 2 * entry_cost(probe)
    validator = make_validator(max_token_cache_bytes=room_for_two + 1)
    principals = [await validator.validate(token) for token in tokens]
    assert await validator.validate(tokens[2]) is principals[2]
    assert await validator.validate(tokens[1]) is principals[1]
    assert await validator.validate(tokens[0]) is not principals[0]


async def test_a_token_larger_than_the_byte_bound_is_never_cached(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = issuer.token()
    validator = make_validator(max_token_cache_bytes=len(token))
    first = await validator.validate(token)
    assert await validator.validate(token) is not first


async def test_concurrent_requests_share_the_cache_within_its_bounds(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(max_cached_tokens=3)
    tokens = distinct_tokens(issuer, 8)
    turn = iter(range(10_000))

    async def one() -> tuple[str, Principal]:
        token = tokens[next(turn) % len(tokens)]
        await anyio.lowlevel.checkpoint()
        return token, await validator.validate(token)

    results = await run_concurrently(200, one)
    assert len(results) == 200
    assert issuer.count("jwks") == 1
    reference = make_validator(max_cached_tokens=0)
    for token, principal in results:
        assert principal == await reference.validate(token)
    cache = validator._cache
    assert cache is not None
    assert len(cache) <= 3
    assert cache.bytes == sum(entry_bytes(t, entry) for t, entry in cache._entries.items())


async def test_a_hit_makes_a_token_the_most_recent_so_the_least_recent_goes_first(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator(max_cached_tokens=2)
    first, second, third = distinct_tokens(issuer, 3)
    principals = {token: await validator.validate(token) for token in (first, second)}
    assert await validator.validate(first) is principals[first]  # now the most recent
    await validator.validate(third)
    assert await validator.validate(first) is principals[first]
    assert await validator.validate(second) is not principals[second]


async def test_the_byte_bound_counts_the_memory_an_entry_really_holds(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    count = 400
    tokens = [real_size_token(issuer, n) for n in range(count)]
    await validator.validate(real_size_token(issuer, count))  # imports and pools first
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token in tokens:
            # Each request brings its own string: the cache's is the only one that stays.
            await validator.validate((token + " ")[:-1])
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    charged = entry_cost(validator) - entry_bytes(*next(iter(cache_of(validator)._entries.items())))
    assert len(cache_of(validator)) == count + 1
    assert 0.85 * retained <= charged <= 1.2 * retained


async def test_the_default_bounds_hold_16000_real_size_tokens(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    token = real_size_token(issuer)
    assert len(token) >= 2400
    await validator.validate(token)
    defaults = TokenValidator(client_id=issuer.client_id)
    assert cache_of(defaults).max_entries >= 16_000
    assert cache_of(defaults).max_bytes >= 16_000 * entry_cost(validator)


async def test_a_refresh_leaves_the_entries_and_each_is_judged_on_its_next_hit(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    old = issuer.keys.signing
    left = distinct_tokens(issuer, 3)
    issuer.keys.rotate()
    stays = issuer.token()
    for token in left:
        await validator.validate(token)
    await validator.refresh()  # the new key is listed now
    principal = await validator.validate(stays)
    issuer.keys.retire(old.kid)
    await validator.refresh()
    assert len(cache_of(validator)) == 4  # a refresh does not walk the entries
    for token in left:
        with pytest.raises(UnknownKeyError):
            await validator.validate(token)
    assert await validator.validate(stays) is principal
    assert len(cache_of(validator)) == 1


async def test_a_key_that_left_and_came_back_does_not_revive_its_cached_tokens(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    old = issuer.keys.signing
    token = issuer.token()
    first = await validator.validate(token)
    issuer.keys.rotate()
    issuer.keys.retire(old.kid)
    await validator.refresh()
    issuer.keys.listed.append(old)
    await validator.refresh()
    second = await validator.validate(token)  # checked in full again, and admitted
    assert second == first
    assert second is not first


async def test_a_principal_from_the_cache_reads_the_claims_of_its_token(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    token = real_size_token(issuer)
    principal = await validator.validate(token)
    reference = await make_validator(max_cached_tokens=0).validate(token)
    assert dict((await validator.validate(token)).claims) == dict(reference.claims)
    assert principal.claims["groups"] == reference.claims["groups"]
