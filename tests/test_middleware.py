"""AADGuardMiddleware end to end, through httpx's ASGITransport and Starlette's TestClient."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Message, Scope
from starlette.websockets import WebSocket

from aad_guard import AADGuardMiddleware, Principal, TokenValidator
from aad_guard._exclusions import Exclusions
from aad_guard.errors import AADGuardError, InsufficientScopeError
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock
from tests.helpers import bearer, run_concurrently, run_uvicorn

pytestmark = pytest.mark.anyio


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {
            "authenticated": user.is_authenticated,
            "name": user.display_name,
            "auth": sorted(request.auth.scopes),
        }
    )


@requires("Tasks.Write")
async def write(request: Request) -> PlainTextResponse:
    return PlainTextResponse("written")


async def audit(request: Request) -> PlainTextResponse:
    if not (isinstance(request.user, Principal) and request.user.has_scope("Audit.Read")):
        raise InsufficientScopeError(scopes=["Audit.Read"])
    return PlainTextResponse("audit")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"tenant": websocket.user.tenant_id})
    await websocket.close()


def build(validator: TokenValidator, **options: Any) -> Starlette:
    app = Starlette(
        routes=[
            Route("/me", whoami),
            Route("/tasks", write, methods=["POST"]),
            Route("/audit", audit),
            Route("/health", health),
            Route("/healthz", health),
            WebSocketRoute("/ws", socket),
        ]
    )
    app.add_middleware(AADGuardMiddleware, validator=validator, **options)
    return app


@pytest.fixture
async def validator(issuer: LocalIssuer, clock: FakeClock) -> AsyncIterator[TokenValidator]:
    async with issuer.client() as client:
        yield TokenValidator(client_id=issuer.client_id, clock=clock, http_client=client)


@pytest.fixture
async def client(validator: TokenValidator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build(validator))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


# -- the happy path -----------------------------------------------------------------------


async def test_valid_token_reaches_the_route_with_user_and_auth(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.token(scopes=["Tasks.Read"], roles=["Admin"])
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "authenticated": True,
        "name": "Local User",
        "auth": ["Admin", "Tasks.Read"],
    }


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
async def test_scheme_is_case_insensitive(
    scheme: str, client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/me", headers={"Authorization": f"{scheme} {issuer.token()}"})
    assert response.status_code == 200


async def test_starlette_requires_uses_the_token_scopes(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    allowed = await client.post("/tasks", headers=bearer(issuer.token(scopes=["Tasks.Write"])))
    refused = await client.post("/tasks", headers=bearer(issuer.token(scopes=["Tasks.Read"])))
    assert allowed.status_code == 200
    assert refused.status_code == 403


async def test_insufficient_scope_raised_by_a_route_is_answered_with_a_challenge(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    refused = await client.get("/audit", headers=bearer(issuer.token(scopes=["Tasks.Read"])))
    allowed = await client.get("/audit", headers=bearer(issuer.token(scopes=["Audit.Read"])))
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"].endswith('scope="Audit.Read"')
    assert allowed.text == "audit"


# -- refusals: rules 1-3, 23 --------------------------------------------------------------


async def test_missing_token_gets_a_challenge_without_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "error": "missing_token",
        "error_description": "An access token is required.",
    }


async def test_realm_is_part_of_every_challenge(
    validator: TokenValidator, issuer: LocalIssuer
) -> None:
    app = build(validator, realm='tasks "api"')
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        missing = await c.get("/me")
        invalid = await c.get("/me", headers=bearer("a.b.c"))
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="tasks \\"api\\""'
    assert invalid.headers["WWW-Authenticate"].startswith('Bearer realm="tasks \\"api\\"", error=')


async def test_token_in_the_query_string_is_ignored(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/me", params={"access_token": issuer.token()})
    assert response.status_code == 401


async def test_invalid_token_gets_invalid_token_with_a_fixed_description(
    client: httpx.AsyncClient, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = issuer.token(lifetime=60)
    clock.advance(3600)
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token has expired."'
    )
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The access token has expired.",
    }
    assert token.split(".")[1] not in response.text


async def test_two_authorization_headers_are_a_bad_request(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    response = await client.get("/me", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer\ta", "Bearer é", "Bearer =a", "@@"],
)
async def test_malformed_bearer_values_are_a_bad_request(
    value: str, client: httpx.AsyncClient
) -> None:
    response = await client.get("/me", headers={b"Authorization": value.encode("utf-8")})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_other_schemes_are_treated_as_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_no_keys_is_503_with_retry_after(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    issuer.simulate("down")
    response = await client.get("/me", headers=bearer(issuer.token()))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"] == "temporarily_unavailable"


# -- exclusions, anonymous mode, hooks ----------------------------------------------------


async def test_excluded_paths_and_their_subpaths_need_no_token(validator: TokenValidator) -> None:
    app = build(validator, exclude_paths=["/health", "/me/"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/health")).status_code == 200
        assert (await c.get("/me")).json()["authenticated"] is False
        assert (await c.get("/healthz")).status_code == 401


@pytest.mark.parametrize("entry", ["/", "", "//", "///"])
def test_an_exclusion_covering_the_whole_app_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ValueError, match="would exclude every path"):
        Exclusions([entry])


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ("/health", TypeError),
        ([b"/health"], TypeError),
        (["health"], ValueError),
        (["/a//b"], ValueError),
        (["/a/./b"], ValueError),
        (["/a/.."], ValueError),
    ],
    ids=repr,
)
def test_exclusions_must_be_normalized_paths(entries: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="exclude_paths"):
        Exclusions(entries)


@pytest.mark.parametrize(
    ("path", "covered"),
    [
        ("/health", True),
        ("/health/", True),
        ("/health/live", True),
        ("/healthz", False),
        ("/healt", False),
        ("/", False),
        ("//health", False),
        ("/x/health", False),
        ("/health/../admin", False),
        ("/health/./live", False),
        ("/Health", False),
    ],
)
def test_exclusions_match_whole_segments(path: str, covered: bool) -> None:
    assert Exclusions(["/health/"]).cover({"type": "http", "path": path}) is covered


@pytest.mark.parametrize(
    ("root_path", "path", "covered"),
    [
        ("/api", "/api/health", True),
        ("/api", "/api/health/live", True),
        ("/api", "/api", False),
        ("/api", "/apihealth", False),
        ("/api", "/api/api/health", False),
        ("/api", "/health", True),  # outside the root path: taken as it is, as Starlette does
    ],
)
def test_exclusions_match_the_path_without_the_root_path(
    root_path: str, path: str, covered: bool
) -> None:
    scope = {"type": "http", "path": path, "root_path": root_path}
    assert Exclusions(["/health"]).cover(scope) is covered


@given(st.lists(st.text(alphabet="/.ah", max_size=6), max_size=3), st.text(alphabet="/.ah"))
def test_no_accepted_exclusion_covers_the_root_or_escapes_its_prefix(
    entries: list[str], path: str
) -> None:
    try:
        exclusions = Exclusions(entries)
    except ValueError:
        return
    assert not exclusions.cover({"type": "http", "path": "/"})
    assert not exclusions.cover({"type": "http", "path": ""})
    if exclusions.cover({"type": "http", "path": path}):
        segments = path.split("/")
        assert "." not in segments and ".." not in segments
        assert any(path == e.rstrip("/") or path.startswith(e.rstrip("/") + "/") for e in entries)


async def test_exclusions_under_a_mount_name_the_paths_of_the_mounted_app(
    validator: TokenValidator,
) -> None:
    inner = build(validator, exclude_paths=["/health"])
    app = Starlette(routes=[Mount("/api", app=inner)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/api/health")).text == "ok"
        assert (await c.get("/api/healthz")).status_code == 401
        assert (await c.get("/api/me")).status_code == 401


async def test_a_guard_around_a_mount_names_the_full_paths(validator: TokenValidator) -> None:
    inner = Starlette(routes=[Route("/health", health), Route("/me", whoami)])
    app = Starlette(routes=[Mount("/api", app=inner)])
    app.add_middleware(AADGuardMiddleware, validator=validator, exclude_paths=["/api/health"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/api/health")).text == "ok"
        assert (await c.get("/api/me")).status_code == 401


@pytest.mark.slow
def test_exclusions_under_uvicorns_root_path_name_the_paths_of_the_app(tmp_path: Path) -> None:
    """Uvicorn prefixes `path` with `--root-path`; routes and exclusions both match without it."""
    (tmp_path / "app.py").write_text(
        "from starlette.applications import Starlette\n"
        "from starlette.responses import PlainTextResponse\n"
        "from starlette.routing import Route\n"
        "from aad_guard import AADGuardMiddleware\n"
        "async def health(request):\n"
        "    return PlainTextResponse(request.scope['path'])\n"
        "app = Starlette(routes=[Route('/health', health)])\n"
        "app.add_middleware(AADGuardMiddleware, client_id='api', exclude_paths=['/health'])\n",
        encoding="utf-8",
    )
    returncode, output, answers = run_uvicorn(
        tmp_path, "--root-path", "/api", get=["/health", "/api/health", "/healthz"]
    )
    assert returncode == 0, output
    assert [(a.status_code, a.text if a.status_code == 200 else "") for a in answers] == [
        (200, "/api/health"),
        (401, ""),
        (401, ""),
    ]


async def test_requirement_errors_on_excluded_paths_are_answered_not_500(
    validator: TokenValidator,
) -> None:
    app = build(validator, exclude_paths=["/audit"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/audit")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


async def test_optional_mode_lets_anonymous_requests_through(
    validator: TokenValidator, issuer: LocalIssuer
) -> None:
    app = build(validator, required=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        anonymous = await c.get("/me")
        signed_in = await c.get("/me", headers=bearer(issuer.token()))
        invalid = await c.get("/me", headers=bearer(issuer.token(audience="other")))
    assert anonymous.json() == {"authenticated": False, "name": "", "auth": []}
    assert signed_in.json()["authenticated"] is True
    assert invalid.status_code == 401


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_error_answers_refusals(
    kind: str, validator: TokenValidator, issuer: LocalIssuer
) -> None:
    def handler(connection: HTTPConnection, error: AADGuardError) -> Response:
        return JSONResponse({"reason": error.reason, "path": connection.url.path}, 418)

    async def async_handler(connection: HTTPConnection, error: AADGuardError) -> Response:
        return handler(connection, error)

    app = build(validator, on_error=handler if kind == "sync" else async_handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/me", headers=bearer(issuer.token(audience="other")))
    assert response.status_code == 418
    assert response.json() == {"reason": "invalid_audience", "path": "/me"}


async def test_each_refusal_is_logged_once_with_reason_tenant_and_kid(
    client: httpx.AsyncClient, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(audience="other")
    with caplog.at_level(logging.INFO, logger="aad_guard"):
        await client.get("/me", headers=bearer(token))
    records = [r for r in caplog.records if r.name == "aad_guard"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    assert record.__dict__["aad_guard_reason"] == "invalid_audience"
    assert record.__dict__["aad_guard_tenant_id"] == issuer.tenant_id
    assert record.__dict__["aad_guard_kid"] == issuer.keys.signing.kid
    for part in token.split("."):
        assert part not in record.getMessage()
    assert "other" not in record.getMessage()


@pytest.mark.parametrize(
    ("path", "kid"),
    [
        ("/me", "k\nINFO aad_guard accepted GET /admin"),
        ("/me\r\nforged", "k"),
        ("/me", "k\x00"),
        ("/me", "k\x1b[2J\x1b]0;pwned\x07"),
        ("/me", "k\u202egnp.exe"),
    ],
)
async def test_log_lines_cannot_be_forged_with_control_characters(
    path: str,
    kid: str,
    validator: TokenValidator,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build(validator)
    transport = httpx.ASGITransport(app=app)
    token = issuer.token(headers={"kid": kid})
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        with caplog.at_level(logging.INFO, logger="aad_guard"):
            await c.get(path.replace("\r", "%0D").replace("\n", "%0A"), headers=bearer(token))
    (record,) = [r for r in caplog.records if r.name == "aad_guard" and r.levelno == logging.INFO]
    fields = [record.getMessage()] + [
        value for name, value in vars(record).items() if name.startswith("aad_guard_")
    ]
    for field in fields:
        assert str(field).isascii() and str(field).isprintable(), field
    # The escaped form still tells what was sent.
    assert record.__dict__["aad_guard_kid"] == kid.encode("unicode_escape").decode("ascii")


async def test_a_refusal_reaches_a_utf8_log_file_whatever_the_kid_holds(
    validator: TokenValidator, issuer: LocalIssuer, tmp_path: Path
) -> None:
    """A lone surrogate cannot be encoded in UTF-8: the record would be lost, not written."""
    log_file = tmp_path / "aad_guard.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter(
            "%(levelname)s %(message)s | reason=%(aad_guard_reason)s "
            "tenant=%(aad_guard_tenant_id)s kid=%(aad_guard_kid)s status=%(aad_guard_status)s"
        )
    )
    logger = logging.getLogger("aad_guard")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    kid = "k\ud800\x1b[2J\nINFO aad_guard accepted GET /admin"
    try:
        transport = httpx.ASGITransport(app=build(validator))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
            response = await c.get("/me", headers=bearer(issuer.token(headers={"kid": kid})))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        handler.close()
    assert response.status_code == 401
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines == [
        (
            "INFO aad_guard refused GET /me: unknown_kid "
            f"(tenant={issuer.tenant_id}, "
            "kid=k\\ud800\\x1b[2J\\nINFO aad_guard accepted GET /admin)"
            f" | reason=unknown_kid tenant={issuer.tenant_id} "
            "kid=k\\ud800\\x1b[2J\\nINFO aad_guard accepted GET /admin status=401"
        )
    ]


# -- concurrency and hostile headers ------------------------------------------------------


async def test_concurrent_cold_requests_all_pass_with_one_key_fetch(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.token()
    responses = await run_concurrently(200, lambda: client.get("/me", headers=bearer(token)))
    assert [response.status_code for response in responses] == [200] * 200
    assert issuer.count("jwks") == 1


@pytest.fixture
def sync_client(issuer: LocalIssuer, clock: FakeClock) -> Iterator[TestClient]:
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=issuer.client())
    with TestClient(build(validator), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.binary(max_size=80).filter(
            lambda b: b"\r" not in b and b"\n" not in b and b"\x00" not in b
        ),
        max_size=3,
    )
)
def test_no_authorization_header_value_causes_a_server_error(
    sync_client: TestClient, values: list[bytes]
) -> None:
    headers = [(b"authorization", value) for value in values]
    response = sync_client.get("/me", headers=headers)
    assert response.status_code in {200, 400, 401}
    assert set(response.json()) <= {"error", "error_description", "authenticated", "name", "auth"}


# -- WebSocket and lifespan ---------------------------------------------------------------


def test_websocket_with_a_valid_token_is_accepted(
    sync_client: TestClient, issuer: LocalIssuer
) -> None:
    with sync_client.websocket_connect("/ws", headers=bearer(issuer.token())) as ws:
        assert ws.receive_json() == {"tenant": issuer.tenant_id}


def test_websocket_without_a_token_is_refused_with_an_http_answer(
    sync_client: TestClient,
) -> None:
    from starlette.testclient import WebSocketDenialResponse

    with pytest.raises(WebSocketDenialResponse) as caught, sync_client.websocket_connect("/ws"):
        pass
    assert caught.value.status_code == 401
    assert caught.value.headers["WWW-Authenticate"] == "Bearer"


async def test_websocket_is_closed_1008_when_the_server_cannot_answer_http(
    validator: TokenValidator,
) -> None:
    sent: list[Message] = []
    scope: Scope = {"type": "websocket", "path": "/ws", "headers": [], "extensions": {}}

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await build(validator)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "unauthorized"}]


def test_lifespan_passes_through_and_closes_an_owned_validator(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield

    async def aclose(self: TokenValidator) -> None:
        events.append("closed")

    monkeypatch.setattr(TokenValidator, "aclose", aclose)
    app = Starlette(routes=[Route("/health", health)], lifespan=lifespan)
    guarded = AADGuardMiddleware(app, client_id=issuer.client_id, exclude_paths=["/health"])
    with TestClient(guarded) as client:
        assert client.get("/health").text == "ok"
        assert events == ["startup"]
    assert events == ["startup", "closed"]


def test_lifespan_leaves_an_injected_validator_open(monkeypatch: pytest.MonkeyPatch) -> None:
    validator = TokenValidator(client_id="x")
    closed: list[bool] = []

    async def aclose(self: TokenValidator) -> None:
        closed.append(True)

    monkeypatch.setattr(TokenValidator, "aclose", aclose)
    with TestClient(build(validator)) as client:
        assert client.get("/health").status_code == 401
    assert closed == []
