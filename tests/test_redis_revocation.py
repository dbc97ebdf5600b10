"""`RedisRevocationStore` on a real redis-server: shared state, and its faults.

Down (stopped), hung (SIGSTOP) and flushed: a request is never held past the timeout and
never answered 5xx by default; a Redis that comes back is used again. redis-py's asyncio
client runs on asyncio only, so these run there, and one test shows the error on trio.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import pytest
from redis.asyncio import Redis

from aad_guard import RedisRevocationStore
from aad_guard.errors import RevocationUnavailableError, TokenRevokedError
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.redis_server import RedisServer

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])
# Not a timing assertion: a test that would otherwise hang fails here instead.
_NEVER = 60


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.mark.anyio
@asyncio_only
async def test_entries_live_under_the_prefix_and_expire_after_the_token_lifetime(
    redis_client: Redis, clock: FakeClock
) -> None:
    store = RedisRevocationStore(redis_client, prefix="tasks-api:revoked:", clock=clock)
    since = await store.revoke_user("tenant", "user")
    await store.revoke_token("uti-1", at=since - 5)
    await store.revoke_client("tenant", "app")
    keys = sorted(
        key.decode() if isinstance(key, bytes) else key for key in await redis_client.keys("*")
    )
    assert keys == [
        "tasks-api:revoked:client:tenant:app",
        "tasks-api:revoked:token:uti-1",
        "tasks-api:revoked:user:tenant:user",
    ]
    for key in keys:
        assert 28 * 3600 - 5 <= await redis_client.ttl(key) <= 28 * 3600
    found = await store.lookup("tenant", "user", "uti-1", "app")
    assert (found.user, found.token, found.client) == (clock.now, clock.now - 5, clock.now)
    nothing = await store.lookup("tenant", None, None, None)
    assert (nothing.user, nothing.token, nothing.client) == (None, None, None)


@pytest.mark.anyio
@asyncio_only
async def test_a_revocation_written_by_one_process_refuses_in_another(
    make_validator: MakeValidator, issuer: LocalIssuer, redis_server: RedisServer, clock: FakeClock
) -> None:
    """Two clients, as two workers have: one revokes, the other's cached token is refused."""
    worker, admin = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
    try:
        validator = make_validator(revocation_store=RedisRevocationStore(worker))
        token = issuer.token(claims={"xms_cc": ["cp1"]})
        principal = await validator.validate(token)
        await validator.validate(token)  # now a cache hit
        clock.advance(3)
        await RedisRevocationStore(admin, clock=clock).revoke_user(
            principal.tenant_id, principal.identity
        )
        with pytest.raises(TokenRevokedError) as refused:
            await validator.validate(token)
        assert refused.value.revoked_at == int(clock.now)
        assert refused.value.claims is not None
        clock.advance(1)
        await validator.validate(issuer.token())  # issued after the revocation
    finally:
        await worker.aclose()
        await admin.aclose()


@pytest.mark.anyio
@asyncio_only
@pytest.mark.parametrize("fault", ["stopped", "paused"])
async def test_a_redis_that_fails_admits_within_the_timeout_then_is_used_again(
    fault: str,
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    redis_server: RedisServer,
    redis_client: Redis,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RedisRevocationStore(redis_client, clock=clock)
    validator = make_validator(revocation_store=store, revocation_timeout=0.2)
    token = issuer.token()
    principal = await validator.validate(token)
    (redis_server.stop if fault == "stopped" else redis_server.pause)()
    with caplog.at_level(logging.WARNING, logger="aad_guard"), anyio.fail_after(_NEVER):
        for _ in range(3):
            assert await validator.validate(token) == principal
    assert len(caplog.records) == 3
    assert all("revocation store" in record.getMessage() for record in caplog.records)
    (redis_server.start if fault == "stopped" else redis_server.resume)()
    clock.advance(2)
    with anyio.fail_after(_NEVER):
        await store.revoke_user(principal.tenant_id, principal.identity)
        with pytest.raises(TokenRevokedError):
            await validator.validate(token)


@pytest.mark.anyio
@asyncio_only
@pytest.mark.parametrize("fault", ["stopped", "paused"])
async def test_a_redis_that_fails_refuses_with_503_when_configured_to(
    fault: str,
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    redis_server: RedisServer,
    redis_client: Redis,
) -> None:
    validator = make_validator(
        revocation_store=RedisRevocationStore(redis_client),
        revocation_timeout=0.2,
        on_revocation_failure="refuse",
    )
    token = issuer.token()
    await validator.validate(token)
    (redis_server.stop if fault == "stopped" else redis_server.pause)()
    with anyio.fail_after(_NEVER), pytest.raises(RevocationUnavailableError):
        await validator.validate(token)
    (redis_server.start if fault == "stopped" else redis_server.resume)()
    with anyio.fail_after(_NEVER):
        await validator.validate(token)


@pytest.mark.anyio
@asyncio_only
async def test_a_flushed_redis_forgets_its_revocations(
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    redis_server: RedisServer,
    redis_client: Redis,
    clock: FakeClock,
) -> None:
    """What FLUSHALL or a failover to an empty node costs: the revocations, nothing else."""
    store = RedisRevocationStore(redis_client, clock=clock)
    validator = make_validator(revocation_store=store)
    token = issuer.token()
    principal = await validator.validate(token)
    clock.advance(1)
    await store.revoke_user(principal.tenant_id, principal.identity)
    with pytest.raises(TokenRevokedError):
        await validator.validate(token)
    redis_server.flush()
    assert await validator.validate(token) == principal


@pytest.mark.anyio
@asyncio_only
async def test_an_entry_that_is_not_a_time_is_a_fault_not_a_verdict(
    make_validator: MakeValidator, issuer: LocalIssuer, redis_client: Redis
) -> None:
    validator = make_validator(
        revocation_store=RedisRevocationStore(redis_client), on_revocation_failure="refuse"
    )
    token = issuer.token()
    principal = await validator.validate(token)
    await redis_client.set(
        f"aad_guard:revoked:user:{principal.tenant_id}:{principal.identity}", "x"
    )
    with pytest.raises(RevocationUnavailableError, match="not a time"):
        await validator.validate(token)


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_on_trio_the_store_says_it_needs_asyncio(
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The client is only created: redis-py connects on the first command, which never comes.
    store = RedisRevocationStore(Redis.from_url(redis_server.url))
    with pytest.raises(RuntimeError, match="asyncio only"):
        await store.revoke_user(issuer.tenant_id, "user")
    validator = make_validator(revocation_store=store, on_revocation_failure="refuse")
    with (
        caplog.at_level(logging.WARNING, logger="aad_guard"),
        pytest.raises(RevocationUnavailableError, match="asyncio only"),
    ):
        await validator.validate(issuer.token())
    assert "asyncio only" in caplog.records[0].getMessage()


def test_the_prefix_and_lifetime_are_checked_when_given(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    with pytest.raises(ValueError, match="prefix"):
        RedisRevocationStore(client, prefix="")
    with pytest.raises(ValueError, match="entry_lifetime"):
        RedisRevocationStore(client, entry_lifetime=0.5)
