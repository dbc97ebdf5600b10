"""What AADGuardMiddleware leaves to the app: its own answers, other schemes, other scopes."""

from __future__ import annotations

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aad_guard import AADGuardMiddleware, InsufficientScopeError
from aad_guard.testing import LocalIssuer

pytestmark = pytest.mark.anyio


async def answer_with_the_user(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI app that names the user the middleware set, or `none`."""
    user = scope.get("user")
    name = b"none" if user is None else repr(user.is_authenticated).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": name})


async def answer_500_itself(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 500, "headers": []})
    await send({"type": "http.response.body", "body": b"the app's own error page"})


async def refuse_after_starting(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise InsufficientScopeError(scopes=["Tasks.Read"])


def guarded(app: ASGIApp, issuer: LocalIssuer) -> AADGuardMiddleware:
    """`app` behind a guard that trusts `issuer` and lets anonymous requests through."""
    return AADGuardMiddleware(
        app, client_id=issuer.client_id, http_client=issuer.client(), required=False
    )


async def get(app: ASGIApp, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get("/", headers=headers)


async def test_another_scheme_passes_as_anonymous_when_no_token_is_required(
    local_issuer: LocalIssuer,
) -> None:
    guard = guarded(answer_with_the_user, local_issuer)
    response = await get(guard, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 200
    assert response.text == "False"


async def test_a_500_the_app_answers_without_raising_reaches_the_client_unchanged(
    local_issuer: LocalIssuer,
) -> None:
    response = await get(guarded(answer_500_itself, local_issuer))
    assert response.status_code == 500
    assert response.text == "the app's own error page"


async def test_a_refusal_after_the_answer_began_is_not_answered_twice(
    local_issuer: LocalIssuer,
) -> None:
    guard = guarded(refuse_after_starting, local_issuer)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "server": ("api", 80),
        "client": ("127.0.0.1", 50000),
    }
    # The server owns a response that broke half-way; a second answer would corrupt it.
    with pytest.raises(InsufficientScopeError):
        await guard(scope, receive, send)
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200


async def test_a_connection_of_another_kind_reaches_the_app_untouched(
    local_issuer: LocalIssuer,
) -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope))

    guard = AADGuardMiddleware(
        app, client_id=local_issuer.client_id, http_client=local_issuer.client()
    )

    async def receive() -> Message:
        raise AssertionError("the guard must not read another protocol's messages")

    async def send(message: Message) -> None:
        raise AssertionError("the guard must not answer another protocol")

    scope: Scope = {"type": "webtransport", "path": "/", "headers": []}
    await guard(scope, receive, send)
    assert seen == [scope]
    assert "user" not in seen[0]
