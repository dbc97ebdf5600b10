"""WebSocket routes behind aad_guard's requirements, served by a real uvicorn, real clients.

uvicorn runs `tests.socket_apps` in a subprocess against a local issuer on loopback; the
`websockets` client connects as browsers and services do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from aad_guard.testing import LocalIssuer, LocalIssuerServer
from tests.helpers import serving
from tests.socket_apps import SOCKET_CASES, headers_of

# Slow: WebSockets through uvicorn subprocesses.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, LocalIssuer]]:
    """The socket apps under uvicorn on a free port, and the issuer whose tokens they accept."""
    with LocalIssuerServer() as issuer_server, pytest.MonkeyPatch.context() as environment:
        environment.setenv("AAD_GUARD_TEST_AUTHORITY", issuer_server.url)
        environment.setenv("AAD_GUARD_TEST_CLIENT_ID", issuer_server.issuer.client_id)
        command = ["uvicorn", "--factory", "tests.socket_apps:from_environment", "--port", "0"]
        with serving(command, ready="INFO:     Uvicorn running on", cwd=ROOT) as lines:
            match = re.search(r"http://127\.0\.0\.1:(\d+)", lines[-1])
            assert match is not None, lines
            yield f"ws://127.0.0.1:{match[1]}", issuer_server.issuer


def answer(url: str, headers: dict[str, str]) -> tuple[int, Mapping[str, str], bytes]:
    """Connect: the route's one message (status 200), or the HTTP refusal of the handshake."""
    try:
        with connect(url, additional_headers=headers, open_timeout=10) as websocket:
            return 200, {}, websocket.recv(timeout=10).encode()  # type: ignore[union-attr]
    except InvalidStatus as refused:
        response = refused.response
        return (
            response.status_code,
            response.headers,
            bytes(response.body or b""),
        )  # case-insensitive


@pytest.mark.parametrize(("path", "who", "status", "named"), SOCKET_CASES)
def test_fastapi_dependencies_on_websocket_routes(
    path: str, who: str, status: int, named: str, served: tuple[str, LocalIssuer]
) -> None:
    base, issuer = served
    got_status, headers, body = answer(base + path, headers_of(issuer, who))
    assert got_status == status
    if status == 200:
        tenant = None if who == "anonymous" else issuer.tenant_id
        assert json.loads(body) == {"tenant": tenant}
    elif status == 401:
        assert headers["WWW-Authenticate"] == "Bearer"
    else:
        assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
        assert f'scope="{named}"' in headers["WWW-Authenticate"]
        assert json.loads(body)["error"] == "insufficient_scope"


@pytest.mark.parametrize("path", ["/starlette/ws", "/starlette/ws/endpoint"])
@pytest.mark.parametrize(("who", "status"), [("reader", 200), ("other", 403), ("anonymous", 401)])
def test_starlette_requires_on_websocket_routes(
    path: str, who: str, status: int, served: tuple[str, LocalIssuer]
) -> None:
    base, issuer = served
    got_status, headers, _ = answer(base + path, headers_of(issuer, who))
    assert got_status == status
    if status != 200:
        challenge = headers["WWW-Authenticate"]
        assert challenge == "Bearer" if status == 401 else 'scope="Tasks.Read"' in challenge
