"""Metadata and keys shared through a real redis-server: warm replicas, one fetch, faults.

Each `TokenValidator` here stands for one replica of the API; they share the local issuer,
whose request log counts the fetches that reach the identity provider.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import redis
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aad_guard import AADGuardMiddleware, SharedKeyCache, TokenValidator
from aad_guard.errors import KeyIssuerMismatchError, KeysUnavailableError
from aad_guard.testing import LocalIssuer, b2c_issuer, b2c_metadata_url, b2c_token
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import run_concurrently
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# A bound on waits that must not happen at all: only a hang would reach it.
HANG = 10.0
PREFIX = "api-test:"
# Long enough that a loaded machine never makes a healthy Redis look slow; a paused one
# still costs this much at most per command.
TIMEOUT = 2.0


@pytest.fixture
def anyio_backend() -> str:
    """redis-py's asyncio client runs on asyncio only; trio has its own test below."""
    return "asyncio"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    connection = Redis.from_url(redis_server.url)
    yield connection
    await connection.aclose()


@pytest.fixture
def shared(client: Redis) -> SharedKeyCache:
    return SharedKeyCache(client, prefix=PREFIX, timeout=TIMEOUT, lease=2.0)


def fetches(issuer: LocalIssuer) -> tuple[int, int]:
    return issuer.count("metadata"), issuer.count("jwks")


def stored(redis_server: RedisServer) -> dict[bytes, bytes]:
    """Every key in Redis with its value, read by a separate synchronous client."""
    with redis.Redis(port=redis_server.port) as direct:
        return {key: direct.get(key) or b"" for key in direct.keys("*")}


def entry_key(redis_server: RedisServer) -> bytes:
    (key,) = [key for key in stored(redis_server) if key.startswith(b"api-test:keys:")]
    return key


# -- a fleet fetches once ------------------------------------------------------------------


async def test_a_new_replica_starts_warm_from_redis(
    issuer: LocalIssuer, make_validator: MakeValidator, shared: SharedKeyCache
) -> None:
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (2, 1)  # v2 and v1 metadata, one JWKS
    principal = await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert principal.tenant_id == issuer.tenant_id
    assert fetches(issuer) == (2, 1)


async def test_replicas_starting_together_fetch_each_document_once(
    issuer: LocalIssuer, make_validator: MakeValidator, shared: SharedKeyCache
) -> None:
    replicas = [make_validator(shared_key_cache=shared) for _ in range(4)]
    token = issuer.token()
    served = iter(replicas)
    with anyio.fail_after(HANG):
        principals = await run_concurrently(4, lambda: next(served).validate(token))
    assert len(principals) == 4
    assert fetches(issuer) == (2, 1)


async def test_without_the_shared_cache_each_replica_fetches(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    for _ in range(3):
        await make_validator().validate(issuer.token())
    assert fetches(issuer) == (6, 3)


async def test_keys_are_written_under_the_prefix_with_an_expiry(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
) -> None:
    await make_validator(shared_key_cache=shared, refresh_interval=600).validate(issuer.token())
    assert all(key.startswith(PREFIX.encode()) for key in stored(redis_server))
    with redis.Redis(port=redis_server.port) as direct:
        ttl = direct.pttl(entry_key(redis_server))
    assert 0 < ttl <= 540_000  # never kept past the earliest refresh (90% of the interval)


async def test_an_unknown_kid_is_fetched_once_by_the_fleet(
    issuer: LocalIssuer, make_validator: MakeValidator, shared: SharedKeyCache, clock: FakeClock
) -> None:
    first, second = (make_validator(shared_key_cache=shared) for _ in range(2))
    await first.validate(issuer.token())
    await second.validate(issuer.token())
    clock.advance(31)  # past kid_miss_cooldown
    issuer.keys.rotate()
    rotated = issuer.token()
    # The shared entry predates the new key: the first replica goes to the provider...
    await first.validate(rotated)
    assert fetches(issuer) == (4, 2)
    # ...and the second finds the newer entry in Redis.
    await second.validate(rotated)
    assert fetches(issuer) == (4, 2)


# -- what Redis may supply: the checks of a fetch ------------------------------------------


def _plant(redis_server: RedisServer, change: Callable[[dict[str, Any]], None]) -> None:
    key = entry_key(redis_server)
    with redis.Redis(port=redis_server.port) as direct:
        entry = json.loads(direct.get(key) or b"")
        change(entry)
        direct.set(key, json.dumps(entry))


def _documents(entry: dict[str, Any], suffix: str) -> dict[str, Any]:
    (document,) = [d for url, d in entry["documents"].items() if url.endswith(suffix)]
    return dict(document)


def _foreign_jwks_uri(entry: dict[str, Any]) -> None:
    for url, document in list(entry["documents"].items()):
        if url.endswith("v2.0/.well-known/openid-configuration"):
            document["jwks_uri"] = "https://attacker.example/keys"
            entry["documents"]["https://attacker.example/keys"] = _documents(entry, "/keys")


def _weak_key(entry: dict[str, Any]) -> None:
    for url, document in entry["documents"].items():
        if url.endswith("/keys"):
            for key in document["keys"]:
                key["n"] = key["n"][:170]  # about 1020 bits


def _other_tenant(entry: dict[str, Any]) -> None:
    for document in entry["documents"].values():
        if "issuer" in document:
            document["issuer"] = document["issuer"].replace(
                "{tenantid}", "00000000-0000-4000-8000-00000000dead"
            )


def _old(entry: dict[str, Any]) -> None:
    entry["fetched_at"] -= 3600


def _future(entry: dict[str, Any]) -> None:
    entry["fetched_at"] += 3600


def _no_time(entry: dict[str, Any]) -> None:
    entry["fetched_at"] = "yesterday"


def _no_jwks(entry: dict[str, Any]) -> None:
    entry["documents"] = {
        url: d for url, d in entry["documents"].items() if not url.endswith("/keys")
    }


def _no_v1_metadata(entry: dict[str, Any]) -> None:
    entry["documents"] = {
        url: d for url, d in entry["documents"].items() if "/v2.0/" in url or "keys" in url
    }


def _not_documents(entry: dict[str, Any]) -> None:
    entry["documents"] = ["keys"]


@pytest.mark.parametrize(
    "tamper",
    [
        _foreign_jwks_uri,
        _weak_key,
        _other_tenant,
        _old,
        _future,
        _no_time,
        _no_jwks,
        _no_v1_metadata,
        _not_documents,
    ],
)
async def test_an_entry_a_fetch_would_refuse_is_refused_and_replaced(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
    tamper: Callable[[dict[str, Any]], None],
) -> None:
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    _plant(redis_server, tamper)
    # A new replica refuses the planted entry, fetches for itself and writes a good one.
    principal = await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert principal.tenant_id == issuer.tenant_id
    assert fetches(issuer) == (4, 2)
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (4, 2)


async def test_a_named_metadata_entry_passes_the_same_issuer_rules_as_its_fetch(
    shared: SharedKeyCache, redis_server: RedisServer
) -> None:
    """A B2C user flow's documents, shared: its issuer form is accepted, `tfp` refused."""
    now = 1_750_000_000.0
    issuer = b2c_issuer(clock=lambda: now)
    async with issuer.client() as client:

        async def replica_validates() -> None:
            validator = TokenValidator(
                client_id=issuer.client_id,
                metadata_url=b2c_metadata_url(issuer),
                shared_key_cache=shared,
                clock=lambda: now,
                http_client=client,
            )
            try:
                principal = await validator.validate(b2c_token(issuer))
            finally:
                await validator.aclose()
            assert principal.tenant_id == issuer.tenant_id

        await replica_validates()
        await replica_validates()  # warm from Redis: B2C's issuer form passes there too
        assert fetches(issuer) == (1, 1)

        def tfp_issuer(entry: dict[str, Any]) -> None:
            for document in entry["documents"].values():
                if "issuer" in document:
                    host = document["issuer"].split("/")[2]
                    document["issuer"] = f"https://{host}/tfp/{issuer.tenant_id}/b2c_1_x/v2.0/"

        _plant(redis_server, tfp_issuer)
        await replica_validates()  # the planted entry is refused, as a fetch of it would be
        assert fetches(issuer) == (2, 2)


@pytest.mark.parametrize("value", [b"not json", b"{}", b'{"format": 1, "a": 1, "a": 2}', b"\xff"])
async def test_a_malformed_entry_is_ignored(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
    value: bytes,
) -> None:
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    with redis.Redis(port=redis_server.port) as direct:
        direct.set(entry_key(redis_server), value)
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (4, 2)


async def test_an_oversized_entry_is_ignored_unread(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
) -> None:
    await make_validator(shared_key_cache=shared, max_document_bytes=4096).validate(issuer.token())
    with redis.Redis(port=redis_server.port) as direct:
        direct.set(entry_key(redis_server), b" " * 20_000)
    await make_validator(shared_key_cache=shared, max_document_bytes=4096).validate(issuer.token())
    assert fetches(issuer) == (4, 2)


async def test_a_key_planted_past_the_rules_does_not_verify_tokens(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
) -> None:
    # An attacker who can write Redis lists a key of its own, bound to another issuer.
    attacker = LocalIssuer().keys.rotate()

    def plant(entry: dict[str, Any]) -> None:
        for url, document in entry["documents"].items():
            if url.endswith("/keys"):
                document["keys"] = [
                    attacker.public_jwk(issuer="https://attacker.example/{tenantid}/v2.0")
                ]

    await make_validator(shared_key_cache=shared).validate(issuer.token())
    _plant(redis_server, plant)
    with pytest.raises(KeyIssuerMismatchError):
        await make_validator(shared_key_cache=shared).validate(issuer.token(key=attacker))


async def test_a_failed_fetch_gives_the_lease_back(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
) -> None:
    issuer.simulate("status", status=500)
    with pytest.raises(KeysUnavailableError):
        await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert stored(redis_server) == {}
    issuer.simulate(None)
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert entry_key(redis_server)


# -- faults: Redis down, hung, flushed, back ----------------------------------------------


async def test_redis_down_serves_from_the_provider_and_comes_back(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis_server.stop()
    replica = make_validator(shared_key_cache=shared)
    with anyio.fail_after(HANG):
        await replica.validate(issuer.token())
    assert fetches(issuer) == (2, 1)
    assert "shared_cache_unavailable" in {
        getattr(r, "aad_guard_reason", None) for r in caplog.records
    }
    redis_server.restart()
    await replica.refresh()  # the next fetch writes to the Redis that came back
    assert fetches(issuer) == (4, 2)
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (4, 2)


async def test_a_hung_redis_costs_a_bounded_wait_and_then_is_used_again(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
) -> None:
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    redis_server.pause()
    try:
        with anyio.fail_after(HANG):
            await make_validator(shared_key_cache=shared).validate(issuer.token())
        assert fetches(issuer) == (4, 2)
    finally:
        redis_server.resume()
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (4, 2)


async def test_a_flushed_redis_is_filled_again_by_the_next_fetch(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
) -> None:
    warm = make_validator(shared_key_cache=shared)
    await warm.validate(issuer.token())
    redis_server.flush()
    await warm.validate(issuer.token())  # process-local keys: no Redis, no fetch
    assert fetches(issuer) == (2, 1)
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (4, 2)
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (4, 2)


@pytest.mark.parametrize("held_for", [300, 60_000])
async def test_a_lease_whose_holder_vanished_delays_a_fetch_by_the_lease_at_most(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    client: Redis,
    redis_server: RedisServer,
    held_for: int,
) -> None:
    shared = SharedKeyCache(client, prefix=PREFIX, timeout=TIMEOUT, lease=0.3)
    await make_validator(shared_key_cache=shared).validate(issuer.token())
    key = entry_key(redis_server)
    with redis.Redis(port=redis_server.port) as direct:
        direct.delete(key)
        # A replica took the lease and died before writing.
        direct.set(key.replace(b":keys:", b":keys-lease:"), b"gone", px=held_for)
    with anyio.fail_after(HANG):
        await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (4, 2)
    assert key in stored(redis_server)


def _app(validator: TokenValidator) -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])
    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


@pytest.mark.parametrize("fault", ["stop", "pause", "flush"])
async def test_requests_are_answered_200_whatever_redis_does(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    shared: SharedKeyCache,
    redis_server: RedisServer,
    fault: str,
) -> None:
    token = issuer.token()
    await make_validator(shared_key_cache=shared).validate(token)
    getattr(redis_server, fault)()
    try:
        transport = httpx.ASGITransport(app=_app(make_validator(shared_key_cache=shared)))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            with anyio.fail_after(HANG):
                statuses = await run_concurrently(
                    8, lambda: http.get("/", headers={"Authorization": f"Bearer {token}"})
                )
    finally:
        if fault == "pause":
            redis_server.resume()
    assert [response.status_code for response in statuses] == [200] * 8


# The ACL user docs/security.md recommends: its own prefix, these five commands only.
ACL_RULES = ["on", ">s3cret", "resetkeys", "~api-test:*", "resetchannels", "-@all"]
ACL_COMMANDS = ["+get", "+set", "+time", "+eval", "+del"]


def _acl_user(redis_server: RedisServer, name: str, rules: list[str]) -> str:
    with redis.Redis(port=redis_server.port) as direct:
        direct.execute_command("ACL", "SETUSER", name, *rules)
    return f"redis://{name}:s3cret@127.0.0.1:{redis_server.port}/0"


async def test_an_acl_user_limited_to_the_prefix_is_enough(
    issuer: LocalIssuer, make_validator: MakeValidator, redis_server: RedisServer
) -> None:
    url = _acl_user(redis_server, "aad-guard", ACL_RULES + ACL_COMMANDS)
    async with Redis.from_url(url, decode_responses=True) as limited:
        shared = SharedKeyCache(limited, prefix=PREFIX, timeout=TIMEOUT)
        for _ in range(2):
            await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (2, 1)
    assert not any(key.endswith(b"keys-lease:") for key in stored(redis_server))


async def test_a_user_who_may_not_write_the_entry_still_serves(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Reads the entry, holds leases, cannot write the keys themselves.
    rules = ["on", ">s3cret", "resetkeys", "%R~api-test:keys:*", "~api-test:keys-lease:*"]
    url = _acl_user(redis_server, "reader", [*rules, "-@all", *ACL_COMMANDS])
    async with Redis.from_url(url) as reader:
        shared = SharedKeyCache(reader, prefix=PREFIX, timeout=TIMEOUT)
        await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (2, 1)
    assert stored(redis_server) == {}  # the lease was given back, nothing written
    assert "shared_cache_unavailable" in {
        getattr(r, "aad_guard_reason", None) for r in caplog.records
    }


async def test_a_lease_that_cannot_be_given_back_expires(
    issuer: LocalIssuer, make_validator: MakeValidator, redis_server: RedisServer
) -> None:
    commands = [command for command in ACL_COMMANDS if command != "+eval"]
    url = _acl_user(redis_server, "no-scripts", ACL_RULES + commands)
    async with Redis.from_url(url) as limited:
        shared = SharedKeyCache(limited, prefix=PREFIX, timeout=TIMEOUT, lease=5)
        await make_validator(shared_key_cache=shared).validate(issuer.token())
        await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (2, 1)
    with redis.Redis(port=redis_server.port) as direct:
        (lease,) = direct.keys("api-test:keys-lease:*")
        assert 0 < direct.pttl(lease) <= 5000


# -- configuration and trio ----------------------------------------------------------------


def test_the_client_must_be_redis_asyncio() -> None:
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        SharedKeyCache(redis.Redis())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"prefix": ""}, ValueError),
        ({"prefix": "a\nb"}, ValueError),
        ({"prefix": 3}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": float("inf")}, ValueError),
        ({"lease": "10"}, TypeError),
        ({"lease": True}, TypeError),
    ],
)
def test_settings_are_checked_when_the_cache_is_built(
    options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        SharedKeyCache(Redis(), **options)


def test_the_validator_takes_only_a_shared_key_cache() -> None:
    with pytest.raises(TypeError, match="shared_key_cache must be a SharedKeyCache"):
        TokenValidator(client_id="api", shared_key_cache=Redis())  # type: ignore[arg-type]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_under_trio_the_cache_is_bypassed_with_an_error_in_the_log(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = SharedKeyCache(Redis.from_url(redis_server.url), prefix=PREFIX)
    with caplog.at_level(logging.ERROR, logger="aad_guard"):
        await make_validator(shared_key_cache=shared).validate(issuer.token())
    assert fetches(issuer) == (2, 1)
    assert stored(redis_server) == {}
    assert [getattr(r, "aad_guard_reason", None) for r in caplog.records] == [
        "shared_cache_needs_asyncio"
    ]
