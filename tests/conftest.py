"""Shared fixtures: both anyio backends, a controllable clock, a local issuer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from hypothesis import settings

from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuer

from .redis_server import RedisServer

# `pytester` runs the documented examples of the aad_guard pytest plugin.
pytest_plugins = ["pytester"]

# Tests check behaviour, never time (bench/ measures that): no example fails for being slow
# on a loaded machine.
settings.register_profile("aad_guard", deadline=None)
settings.load_profile("aad_guard")


class MakeValidator(Protocol):
    """Builds a `TokenValidator` wired to the local issuer; keyword options override."""

    def __call__(self, **options: Any) -> TokenValidator: ...


@pytest.fixture(autouse=True, scope="session")
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Local issuers of the suite keep their CA and keys in a temporary folder, not ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("AAD_GUARD_CACHE_DIR", str(tmp_path_factory.mktemp("aad-guard-cache")))
    yield
    patch.undo()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every `@pytest.mark.anyio` test on asyncio and on trio."""
    return str(request.param)


@dataclass
class FakeClock:
    """UNIX seconds that move only when a test says so."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(clock: FakeClock) -> LocalIssuer:
    return LocalIssuer(clock=clock)


@pytest.fixture
async def make_validator(issuer: LocalIssuer, clock: FakeClock) -> AsyncIterator[MakeValidator]:
    """Build validators against the local issuer, on the shared clock; closed afterwards."""
    validators: list[TokenValidator] = []
    client = issuer.client()

    def make(**options: Any) -> TokenValidator:
        options.setdefault("client_id", issuer.client_id)
        options.setdefault("clock", clock)
        options.setdefault("http_client", client)
        validator = TokenValidator(**options)
        validators.append(validator)
        return validator

    yield make
    for validator in validators:
        await validator.aclose()
    await client.aclose()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real, empty redis-server on a loopback port for one test; stopped after it."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
