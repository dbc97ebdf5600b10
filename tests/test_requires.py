"""`aad_guard.requires` on Starlette endpoints answers exactly as the FastAPI dependencies."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient, WebSocketDenialResponse

import aad_guard
from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock
from tests.socket_apps import CALLERS, headers_of, protected


@pytest.fixture
def client(issuer: LocalIssuer, clock: FakeClock) -> Iterator[TestClient]:
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=issuer.client())
    with TestClient(protected(validator=validator, realm="tasks")) as client:
        yield client


@pytest.mark.parametrize("path", ["/starlette/tasks", "/starlette/tasks/endpoint"])
@pytest.mark.parametrize("who", CALLERS)
def test_http_answers_match_the_fastapi_dependency(
    path: str, who: str, client: TestClient, issuer: LocalIssuer
) -> None:
    headers = headers_of(issuer, who)
    starlette = client.get(path, headers=headers)
    fastapi = client.get("/tasks", headers=headers)  # behind require_scopes("Tasks.Read")
    expected = {"reader": 200, "other": 403, "app": 403, "anonymous": 401}[who]
    assert starlette.status_code == fastapi.status_code == expected
    assert starlette.headers.get("WWW-Authenticate") == fastapi.headers.get("WWW-Authenticate")
    assert starlette.json() == fastapi.json()


def test_refusals_carry_the_challenge_and_json_body(
    client: TestClient, issuer: LocalIssuer
) -> None:
    anonymous = client.get("/starlette/tasks")
    refused = client.get("/starlette/tasks", headers=headers_of(issuer, "other"))
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="tasks"'
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer realm="tasks", error="insufficient_scope", error_description="The access token '
        'does not grant the scope or role this request requires.", scope="Tasks.Read"'
    )
    assert refused.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(("who", "status"), [("reader", 200), ("app", 200), ("other", 403)])
def test_sync_endpoints_admit_any_one_scope_or_role(
    who: str, status: int, client: TestClient, issuer: LocalIssuer
) -> None:
    response = client.get("/starlette/tasks/sync", headers=headers_of(issuer, who))
    assert response.status_code == status
    if status == 403:
        assert 'scope="Tasks.Read Tasks.All"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", ["/starlette/ws", "/starlette/ws/endpoint"])
def test_websockets_are_admitted_or_refused_before_accept_as_fastapi_does(
    path: str, client: TestClient, issuer: LocalIssuer
) -> None:
    with client.websocket_connect(path, headers=headers_of(issuer, "reader")) as websocket:
        assert websocket.receive_json() == {"tenant": issuer.tenant_id}
    for who, status in [("anonymous", 401), ("other", 403)]:
        answers = []
        for route in (path, "/ws/scopes"):  # the FastAPI route behind require_scopes
            with (
                pytest.raises(WebSocketDenialResponse) as refused,
                client.websocket_connect(route, headers=headers_of(issuer, who)),
            ):
                pass  # pragma: no cover - the connection is refused
            answer = refused.value
            answers.append((answer.status_code, answer.headers["WWW-Authenticate"], answer.json()))
        assert answers[0] == answers[1]
        assert answers[0][0] == status


@pytest.mark.anyio
async def test_an_endpoint_without_a_connection_is_a_type_error() -> None:
    @aad_guard.requires("Tasks.Read")
    async def no_request() -> PlainTextResponse:  # pragma: no cover - never reached
        return PlainTextResponse("")

    with pytest.raises(TypeError, match="Request or WebSocket"):
        await no_request()


@pytest.mark.parametrize(
    ("scopes", "roles", "message"),
    [
        ((), (), "at least one"),
        (("",), (), "non-empty"),
        (("Tasks.Read",), "Admin", "not a string"),
    ],
)
def test_requires_must_name_scopes_or_roles(
    scopes: tuple[str, ...], roles: tuple[str, ...] | str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        aad_guard.requires(*scopes, roles=roles)


@pytest.mark.slow
def test_requires_does_not_import_fastapi() -> None:
    check = (
        "import sys, aad_guard\n"
        "@aad_guard.requires('Tasks.Read')\n"
        "async def endpoint(request): ...\n"
        "assert 'fastapi' not in sys.modules, 'fastapi was imported'\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True)  # noqa: S603


def test_a_request_argument_passed_by_keyword_is_found(issuer: LocalIssuer) -> None:
    @aad_guard.requires("Tasks.Read")
    def endpoint(*, request: Request) -> str:
        return str(request.user.tenant_id)

    scope = {"type": "http", "user": None}
    with pytest.raises(aad_guard.errors.MissingTokenError):
        endpoint(request=Request(scope))
