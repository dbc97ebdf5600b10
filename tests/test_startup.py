"""A misconfigured guard serves nothing: its server fails to start, or it answers 503."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from aad_guard import AADGuardMiddleware, TokenValidator
from tests.docs_samples import samples
from tests.helpers import run_uvicorn

CLIENT_ID = "6e5a2b8c-0000-4000-8000-0000000a0001"
TENANT_ID = "72f988bf-0000-4000-8000-00000000a001"

# README.md's quickstart as the page shows it; each test puts one setting wrong.
QUICKSTART = next(sample for sample in samples() if sample.page.name == "README.md")

# One bad setting each, as (text of the quickstart, its replacement), with the words of the
# message it must produce.
BAD_SETTINGS = {
    "tenant": (('"<tenant-id>"', '"not a tenant"'), "tenant 'not a tenant'"),
    "client id": (('"<api-client-id>"', '""'), "client_id must be"),
    "authority": (
        (
            'tenant="<tenant-id>",',
            'tenant="<tenant-id>", authority="http://login.microsoftonline.com",',
        ),
        "authority 'http://login.microsoftonline.com' must use https",
    ),
}


def write_quickstart(directory: Path, change: tuple[str, str]) -> None:
    text, replacement = change
    assert text in QUICKSTART.code
    sample = replace(QUICKSTART, code=QUICKSTART.code.replace(text, replacement))
    (directory / "app.py").write_text(sample.source(), encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(BAD_SETTINGS))
def test_uvicorn_with_default_flags_exits_before_serving_a_misconfigured_quickstart(
    setting: str, tmp_path: Path
) -> None:
    change, words = BAD_SETTINGS[setting]
    write_quickstart(tmp_path, change)
    returncode, output, answers = run_uvicorn(tmp_path, get=["/tasks"])
    assert [answer.status_code for answer in answers] == [], output
    assert returncode == 3, output  # uvicorn's code for a failed startup
    assert f"ERROR:    aad_guard is misconfigured: {words}" in output
    assert "Application startup failed. Exiting." in output


@pytest.mark.slow
def test_uvicorn_without_lifespan_answers_503_to_a_misconfigured_quickstart(
    tmp_path: Path,
) -> None:
    change, words = BAD_SETTINGS["tenant"]
    write_quickstart(tmp_path, change)
    returncode, output, answers = run_uvicorn(tmp_path, "--lifespan", "off", get=["/tasks"])
    assert [answer.status_code for answer in answers] == [503], output
    assert answers[0].json()["error"] == "misconfigured"
    assert returncode == 0, output
    # The aad_guard logger has no handler here: Python's last resort prints errors to stderr.
    assert f"aad_guard is misconfigured: {words}" in output
    assert "; answered GET /tasks with 503" in output


def misconfigured_app(**options: Any) -> Starlette:
    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    options.setdefault("exclude_paths", ["/health"])
    return Starlette(
        routes=[Route("/health", health), Route("/tasks", health), WebSocketRoute("/ws", socket)],
        middleware=[Middleware(AADGuardMiddleware, **options)],
    )


def on_error_without_arguments() -> PlainTextResponse:
    return PlainTextResponse("never")


MISCONFIGURATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "bad tenant": ({"client_id": CLIENT_ID, "tenant": "not a tenant"}, "tenant"),
    "blank client id": ({"client_id": " "}, "client_id"),
    "no client id": ({}, "client_id"),
    "http authority": (
        {"client_id": CLIENT_ID, "authority": "http://login.example.com"},
        "authority",
    ),
    "unknown option": ({"client_id": CLIENT_ID, "tennant": TENANT_ID}, "tennant"),
    "validator and options": (
        {"validator": TokenValidator(client_id=CLIENT_ID), "client_id": CLIENT_ID},
        "either validator= or",
    ),
    "whole-app exclusion": ({"client_id": CLIENT_ID, "exclude_paths": ["/"]}, "exclude_paths"),
    "realm not ASCII": ({"client_id": CLIENT_ID, "realm": "caf\u00e9"}, "realm 'caf"),
    "realm with a line break": ({"client_id": CLIENT_ID, "realm": "a\nb"}, "realm 'a\\nb'"),
    "realm not a string": ({"client_id": CLIENT_ID, "realm": 5}, "realm must be a string"),
    "validator not a validator": ({"validator": "x"}, "validator must be a TokenValidator"),
    "on_error signature": (
        {"client_id": CLIENT_ID, "on_error": on_error_without_arguments},
        "on_error must be a callable (connection, error)",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(MISCONFIGURATIONS))
@pytest.mark.parametrize("path", ["/tasks", "/health"])
async def test_without_lifespan_every_request_gets_503_and_an_error_log(
    name: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    options, words = MISCONFIGURATIONS[name]
    transport = httpx.ASGITransport(app=misconfigured_app(**options))  # sends no lifespan
    with caplog.at_level(logging.INFO, logger="aad_guard"):
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            response = await client.get(path)
    assert response.status_code == 503
    assert "WWW-Authenticate" not in response.headers
    assert response.json() == {
        "error": "misconfigured",
        "error_description": (
            "The API's authentication is not configured correctly; its log says why."
        ),
    }
    (record,) = [r for r in caplog.records if r.name == "aad_guard"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("aad_guard is misconfigured: ")
    assert words in record.getMessage()
    assert record.getMessage().endswith(f"; answered GET {path} with 503")
    assert record.__dict__["aad_guard_reason"] == "misconfigured"
    assert record.__dict__["aad_guard_status"] == 503


@pytest.mark.anyio
async def test_lifespan_startup_fails_with_the_message_and_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    app = misconfigured_app(client_id=CLIENT_ID, tenant="not a tenant")
    with pytest.raises(ValueError, match="not a tenant"):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    assert sent[0]["message"].startswith("aad_guard is misconfigured: tenant 'not a tenant'")


def test_test_client_with_lifespan_raises_the_configuration_error() -> None:
    with (
        pytest.raises(ValueError, match="not a tenant"),
        TestClient(misconfigured_app(client_id=CLIENT_ID, tenant="not a tenant")),
    ):
        pass  # pragma: no cover - startup fails before the block runs


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extensions", "expected"),
    [({"websocket.http.response": {}}, {"status": 503}), ({}, {"code": 1011})],
    ids=["http response", "close"],
)
async def test_a_websocket_is_refused_with_503_or_closed_with_1011(
    extensions: dict[str, object], expected: dict[str, int]
) -> None:
    app = misconfigured_app(client_id=CLIENT_ID, tenant="not a tenant")
    sent: list[Message] = []
    scope: Scope = {"type": "websocket", "path": "/ws", "headers": [], "extensions": extensions}

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    ((key, value),) = expected.items()
    assert sent[0][key] == value
    assert not any(message["type"] == "websocket.accept" for message in sent)


@pytest.mark.anyio
async def test_other_connection_types_pass_through_as_they_would_configured() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        raise AssertionError("not called")  # pragma: no cover

    async def send(message: Message) -> None:
        raise AssertionError("not called")  # pragma: no cover

    guard = AADGuardMiddleware(app, client_id=CLIENT_ID, tenant="not a tenant")
    await guard({"type": "custom"}, receive, send)
    assert seen == ["custom"]
