"""`validator.warm()`, `validator.status()`, and the middleware's warm-up at lifespan startup."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from aad_guard import AADGuardMiddleware, KeyStatus, TokenValidator
from aad_guard.errors import KeysUnavailableError
from aad_guard.testing import LocalIssuer, external_id_issuer
from tests.conftest import FakeClock, MakeValidator

pytestmark = pytest.mark.anyio


async def test_status_before_any_fetch_is_not_ready(make_validator: MakeValidator) -> None:
    assert make_validator().status() == KeyStatus(
        ready=False, key_age=None, keys=0, last_fetch=None, last_fetch_error=None, refreshing=False
    )


async def test_warm_fetches_once_and_reports_ready(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator()
    status = await validator.warm()
    assert (status.ready, status.key_age, status.keys, status.last_fetch) == (
        True,
        0,
        len(issuer.keys.listed),
        "success",
    )
    fetched = issuer.count()
    clock.advance(30)
    assert (await validator.warm()).key_age == 30
    assert issuer.count() == fetched  # usable keys: no second fetch
    assert validator.status().as_dict() == {
        "ready": True,
        "key_age": 30,
        "keys": len(issuer.keys.listed),
        "last_fetch": "success",
        "last_fetch_error": None,
        "refreshing": False,
    }


async def test_warm_during_an_outage_raises_and_status_says_why(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.simulate("status", status=503)
    validator = make_validator()
    with pytest.raises(KeysUnavailableError):
        await validator.warm()
    status = validator.status()
    assert (status.ready, status.last_fetch, status.last_fetch_error) == (False, "failure", "503")


async def test_kept_keys_stay_ready_through_an_outage_until_max_stale(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    validator = make_validator(refresh_interval=60, max_stale=600)
    await validator.warm()
    issuer.simulate("down")
    clock.advance(120)
    await validator.refresh()  # fails, and the kept keys still serve
    status = validator.status()
    assert (status.ready, status.key_age) == (True, 120)
    assert (status.last_fetch, status.last_fetch_error) == ("failure", "transport_error")
    clock.advance(600)
    assert not validator.status().ready


# -- the middleware's warm-up ---------------------------------------------------------------


async def lifespan_startup(app: AADGuardMiddleware) -> list[Message]:
    """Run the lifespan's startup, then its shutdown; the startup messages the app sent."""
    sent: list[Message] = []
    started = anyio.Event()
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Message:
        if sent:
            await started.wait()
        return next(messages)

    async def send(message: Message) -> None:
        if message["type"].startswith("lifespan.startup."):
            sent.append(message)
            started.set()

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


Guard = Callable[..., AADGuardMiddleware]


@pytest.fixture
def guard(make_validator: MakeValidator) -> Guard:
    def build(**options: object) -> AADGuardMiddleware:
        app = Starlette()
        return AADGuardMiddleware(app, validator=make_validator(), **options)  # type: ignore[arg-type]

    return build


async def test_warm_up_fetches_keys_before_startup_completes(
    issuer: LocalIssuer, guard: Guard
) -> None:
    app = guard(warm_up=5)
    assert [m["type"] for m in await lifespan_startup(app)] == ["lifespan.startup.complete"]
    assert issuer.count("jwks") == 1
    assert app.validator.status().ready


async def test_without_warm_up_startup_fetches_nothing(issuer: LocalIssuer, guard: Guard) -> None:
    assert [m["type"] for m in await lifespan_startup(guard())] == ["lifespan.startup.complete"]
    assert issuer.count() == 0


async def test_startup_completes_when_entra_is_down_and_says_so(
    issuer: LocalIssuer, guard: Guard, caplog: pytest.LogCaptureFixture
) -> None:
    issuer.simulate("down")
    app = guard(warm_up=5)
    with caplog.at_level(logging.WARNING, logger="aad_guard"):
        sent = await lifespan_startup(app)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete"]
    assert "aad_guard has no signing keys at startup" in caplog.text
    assert not app.validator.status().ready


async def test_startup_fails_when_keys_are_required_and_entra_is_down(
    issuer: LocalIssuer, guard: Guard
) -> None:
    issuer.simulate("status", status=503)
    sent = await lifespan_startup(guard(warm_up=5, require_keys_at_startup=True))
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert sent[0]["message"].startswith("aad_guard has no signing keys at startup")


async def test_warm_up_is_bounded_by_its_timeout(issuer: LocalIssuer, guard: Guard) -> None:
    issuer.simulate("slow", delay=0.5)
    app = guard(warm_up=0.05, require_keys_at_startup=True)
    sent = await lifespan_startup(app)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "no answer within 0.05 s" in sent[0]["message"]
    assert app.validator.status().refreshing  # the fetch goes on, for the first requests
    await app.validator.refresh()
    assert app.validator.status().ready


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"warm_up": 0}, "warm_up must be a positive"),
        ({"warm_up": "5"}, "warm_up must be a number"),
        ({"require_keys_at_startup": True}, "require_keys_at_startup needs warm_up"),
    ],
)
async def test_warm_up_settings_are_checked_at_startup(
    guard: Guard, options: dict[str, object], error: str
) -> None:
    sent = await lifespan_startup_expecting_error(guard(**options))
    assert error in sent


async def lifespan_startup_expecting_error(app: AADGuardMiddleware) -> str:
    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    with pytest.raises((TypeError, ValueError)):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return str(messages[0]["message"])


async def test_warm_up_warms_every_validator_and_fails_for_the_one_without_keys(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    """With several validators, each fetches its keys at startup; any one failing tells."""
    ciam = external_id_issuer()
    async with ciam.client() as client:
        workforce = make_validator()
        external = TokenValidator(
            client_id=ciam.client_id, authority=ciam.authority, http_client=client
        )

        def guard() -> AADGuardMiddleware:
            return AADGuardMiddleware(
                Starlette(),
                validators=[workforce, external],
                warm_up=5,
                require_keys_at_startup=True,
            )

        assert [m["type"] for m in await lifespan_startup(guard())] == ["lifespan.startup.complete"]
        assert workforce.status().ready
        assert external.status().ready

        await external.aclose()
        ciam.simulate("status", status=503)
        external = TokenValidator(
            client_id=ciam.client_id, authority=ciam.authority, http_client=client
        )
        sent = await lifespan_startup(guard())
        await external.aclose()
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert sent[0]["message"].startswith("aad_guard has no signing keys at startup")
