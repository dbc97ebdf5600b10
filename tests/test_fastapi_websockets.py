"""FastAPI WebSocket routes behind each aad_guard dependency, under Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import Message, Scope

from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock
from tests.socket_apps import SOCKET_CASES, headers_of, protected

INSUFFICIENT = (
    'Bearer error="insufficient_scope", error_description="The access token does not grant '
    'the scope or role this request requires.", scope="{}"'
)


def app(issuer: LocalIssuer, clock: FakeClock) -> FastAPI:
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=issuer.client())
    return protected(validator=validator)


@pytest.fixture
def client(issuer: LocalIssuer, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(app(issuer, clock)) as client:
        yield client


@pytest.mark.parametrize(("path", "who", "status", "named"), SOCKET_CASES)
def test_each_dependency_admits_or_refuses_before_accept(
    path: str, who: str, status: int, named: str, client: TestClient, issuer: LocalIssuer
) -> None:
    headers = headers_of(issuer, who)
    if status == 200:
        with client.websocket_connect(path, headers=headers) as websocket:
            tenant = None if who == "anonymous" else issuer.tenant_id
            assert websocket.receive_json() == {"tenant": tenant}
        return
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(path, headers=headers),
    ):
        pass  # pragma: no cover - the connection is refused
    answer = refused.value
    assert answer.status_code == status
    challenge = "Bearer" if status == 401 else INSUFFICIENT.format(named)
    assert answer.headers["WWW-Authenticate"] == challenge
    assert answer.json()["error"] == ("missing_token" if status == 401 else "insufficient_scope")


@pytest.mark.anyio
async def test_a_server_without_http_answers_gets_close_1008(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    sent: list[Message] = []
    scope: Scope = {
        "type": "websocket",
        "path": "/ws/scopes",
        "query_string": b"",
        "headers": [],
        "extensions": {},  # the server offers no `websocket.http.response`
    }

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(issuer, clock)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "unauthorized"}]
