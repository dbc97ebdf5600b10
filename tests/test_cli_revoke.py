"""`aad-guard revoke`: writes what the API's RedisRevocationStore reads, on a real Redis."""

from __future__ import annotations

import anyio
import pytest
from redis.asyncio import Redis

from aad_guard import RedisRevocationStore
from aad_guard.cli import main
from tests.redis_server import RedisServer

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def lookup(url: str, *keys: str | None) -> tuple[float | None, float | None, float | None]:
    async def read() -> tuple[float | None, float | None, float | None]:
        client = Redis.from_url(url)
        try:
            found = await RedisRevocationStore(client, prefix="api:").lookup(TENANT, *keys)
        finally:
            await client.aclose()
        return found.user, found.token, found.client

    return anyio.run(read)


@pytest.mark.parametrize(
    ("kind", "options", "keys", "expected"),
    [
        ("user", ["--tenant", TENANT, "--object-id", "u-1"], ("u-1", None, None), 0),
        ("token", ["--uti", "t-1"], (None, "t-1", None), 1),
        ("client", ["--tenant", TENANT, "--client-app", "app-1"], (None, None, "app-1"), 2),
    ],
)
def test_each_kind_is_written_where_the_store_reads_it(
    kind: str,
    options: list[str],
    keys: tuple[str | None, str | None, str | None],
    expected: int,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["revoke", kind, *options, "--since", "1800000000.5", "--prefix", "api:"]
    assert main([*arguments, "--redis-url", redis_server.url]) == 0
    assert capsys.readouterr().out.startswith(f"revoked {kind}: ")
    found = lookup(redis_server.url, *keys)
    assert found[expected] == 1800000000.0
    assert [value for i, value in enumerate(found) if i != expected] == [None, None]


def test_the_url_comes_from_the_environment_too(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AAD_GUARD_REDIS_URL", redis_server.url)
    assert (
        main(["revoke", "user", "--tenant", TENANT, "--object-id", "u-2", "--prefix", "api:"]) == 0
    )
    assert "are refused" in capsys.readouterr().out
    assert lookup(redis_server.url, "u-2", None, None)[0] is not None


def test_without_a_redis_it_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AAD_GUARD_REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["revoke", "token", "--uti", "t"])
    assert exited.value.code == 2
    assert "AAD_GUARD_REDIS_URL" in capsys.readouterr().err


def test_a_redis_that_is_down_fails_with_exit_code_1(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_server.stop()
    assert main(["revoke", "token", "--uti", "t", "--redis-url", redis_server.url]) == 1
    assert "Redis did not take the revocation: ConnectionError" in capsys.readouterr().out
