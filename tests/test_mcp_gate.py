"""Per-tool requirements: 403 before the tool runs, headers checked against the body."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from aad_guard import AADGuardMiddleware
from aad_guard.mcp import MCPRequirements, needs
from aad_guard.mcp._jsonrpc import JSONRPCRefusal, calls_in, header_value
from aad_guard.testing import LocalIssuer

pytestmark = pytest.mark.anyio

RESOURCE = "https://api.contoso.example/mcp"
METADATA = "https://api.contoso.example/.well-known/oauth-protected-resource/mcp"
REQUIREMENTS = MCPRequirements(
    tools={"write": needs("Tools.Write"), "reset": needs(roles=["Admin"])},
    prompts={"secret": needs(f"{RESOURCE}/Prompts.Read")},
    resources={"file:///notes": needs("Notes.Read")},
    every_call=needs("Tools.Read"),
)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """The MCP app: answers with the body it received, so a test sees what was replayed."""
    body = await Request(scope, receive).body()
    await Response(body, 200, media_type="application/json")(scope, receive, send)


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture
async def mcp(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    app = AADGuardMiddleware(
        REQUIREMENTS.guard(echo, max_body_bytes=1000),
        resource=RESOURCE,
        client_id=issuer.client_id,
        http_client=issuer.client(),
    )
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.contoso.example") as c:
        yield c


def call(method: str, **params: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}


def bearer(issuer: LocalIssuer, *scopes: str, roles: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(scopes=list(scopes), roles=list(roles))}"}


async def test_a_call_holding_what_it_needs_reaches_the_app_unchanged(
    mcp: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    body = json.dumps(call("tools/call", name="write", arguments={"text": "é" * 100})).encode()
    answer = await mcp.post(
        "/mcp", content=body, headers=bearer(issuer, "Tools.Read", "Tools.Write")
    )
    assert answer.status_code == 200
    assert answer.content == body


async def test_a_call_lacking_a_scope_gets_every_scope_it_needs_in_one_challenge(
    mcp: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    refused = await mcp.post(
        "/mcp", json=call("tools/call", name="write"), headers=bearer(issuer, "Tools.Read")
    )
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="The access token does not grant '
        f'the scope or role this request requires.", scope="{RESOURCE}/Tools.Read '
        f'{RESOURCE}/Tools.Write", resource_metadata="{METADATA}"'
    )


@pytest.mark.parametrize(
    ("message", "granted", "status"),
    [
        (call("tools/call", name="reset"), {"scopes": ["Tools.Read"]}, 403),
        (call("tools/call", name="reset"), {"scopes": ["Tools.Read"], "roles": ["Admin"]}, 200),
        (call("tools/call", name="anything"), {"scopes": ["Tools.Read"]}, 200),
        (call("tools/call", name="anything"), {"scopes": ["Other"]}, 403),
        (call("prompts/get", name="secret"), {"scopes": ["Tools.Read", "Prompts.Read"]}, 200),
        (call("prompts/get", name="secret"), {"scopes": ["Tools.Read"]}, 403),
        (call("resources/read", uri="file:///notes"), {"scopes": ["Tools.Read"]}, 403),
        (call("tools/list"), {"scopes": ["Other"]}, 200),
        (call("tools/call", name=5), {"scopes": ["Tools.Read"]}, 200),
    ],
)
async def test_each_operation_needs_its_own(
    mcp: httpx.AsyncClient,
    issuer: LocalIssuer,
    message: dict[str, object],
    granted: dict[str, list[str]],
    status: int,
) -> None:
    token = issuer.token(scopes=granted["scopes"], roles=granted.get("roles", []))
    answer = await mcp.post("/mcp", json=message, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == status


async def test_a_batch_needs_what_each_of_its_calls_needs(
    mcp: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    batch = [call("tools/list"), call("tools/call", name="write")]
    refused = await mcp.post("/mcp", json=batch, headers=bearer(issuer, "Tools.Read"))
    assert refused.status_code == 403
    granted = bearer(issuer, "Tools.Read", "Tools.Write")
    assert (await mcp.post("/mcp", json=batch, headers=granted)).status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"{not json", -32700), (b"\xff", -32700), (b"[]", -32600), (b"[1]", -32600), (b"3", -32600)],
)
async def test_a_malformed_body_gets_the_json_rpc_error(
    mcp: httpx.AsyncClient, issuer: LocalIssuer, body: bytes, code: int
) -> None:
    refused = await mcp.post("/mcp", content=body, headers=bearer(issuer, "Tools.Read"))
    assert refused.status_code == 400
    assert refused.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": code, "message": refused.json()["error"]["message"]},
    }


# httpx's in-process transport leaves its body generator unfinished when an app stops
# reading early, which is the point here; on trio its finalizer then warns.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_body_over_the_bound_is_refused_unread(
    mcp: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    refused = await mcp.post("/mcp", content=b" " * 1001, headers=bearer(issuer, "Tools.Read"))
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Mcp-Method": "tools/call", "Mcp-Name": "write"}, 200),
        ({"Mcp-Method": "tools/call", "Mcp-Name": "=?base64?d3JpdGU=?="}, 200),
        ({"Mcp-Method": "tools/call", "Mcp-Name": "whoami"}, 400),
        ({"Mcp-Method": "tools/list", "Mcp-Name": "write"}, 400),
        ({"Mcp-Method": "tools/call"}, 400),
        ({"Mcp-Method": "tools/call", "Mcp-Name": "=?base64?d3JpdGU?="}, 400),
    ],
)
async def test_mcp_method_and_name_headers_must_match_the_body(
    mcp: httpx.AsyncClient, issuer: LocalIssuer, headers: dict[str, str], status: int
) -> None:
    answer = await mcp.post(
        "/mcp",
        json=call("tools/call", name="write"),
        headers={**bearer(issuer, "Tools.Read", "Tools.Write"), **headers},
    )
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["error"]["code"] == -32020
        assert answer.json()["id"] == 7


async def test_a_header_naming_a_granted_tool_cannot_smuggle_another(
    mcp: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    refused = await mcp.post(
        "/mcp",
        json=call("tools/call", name="write"),
        headers={**bearer(issuer, "Tools.Read"), "Mcp-Method": "tools/call", "Mcp-Name": "x"},
    )
    assert refused.status_code == 400


async def test_an_anonymous_call_needing_a_scope_gets_401(issuer: LocalIssuer) -> None:
    app = AADGuardMiddleware(
        REQUIREMENTS.guard(echo),
        resource=RESOURCE,
        required=False,
        client_id=issuer.client_id,
        http_client=issuer.client(),
    )
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.contoso.example") as c:
        refused = await c.post("/mcp", json=call("tools/call", name="write"))
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA}"'
        assert (await c.post("/mcp", json=call("tools/list"))).status_code == 200
        assert (await c.get("/mcp")).status_code == 200  # GET (the SSE stream) passes


def test_requirements_must_be_declared_with_needs() -> None:
    with pytest.raises(TypeError):
        MCPRequirements(tools={"write": "Tools.Write"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        MCPRequirements(every_call="Tools.Read")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        needs()


def test_scopes_lists_every_scope_once_in_short_form() -> None:
    assert REQUIREMENTS.scopes == ("Tools.Read", "Tools.Write", "Prompts.Read", "Notes.Read")


@given(st.binary(max_size=200))
def test_any_body_parses_or_gets_a_json_rpc_refusal(body: bytes) -> None:
    with contextlib.suppress(JSONRPCRefusal):  # anything else fails the test
        calls_in(body)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["id", "method", "params", "x"]), JSON))
def test_any_json_object_is_one_call(message: dict[str, object]) -> None:
    [parsed] = calls_in(json.dumps(message).encode())
    assert parsed.method == (message["method"] if isinstance(message.get("method"), str) else None)


@given(st.text(max_size=50))
def test_a_base64_header_decodes_to_what_was_encoded(value: str) -> None:
    encoded = base64.b64encode(value.encode()).decode()
    assert header_value(f"=?base64?{encoded}?=".encode()) == value


@pytest.mark.parametrize(
    "raw", [b"\xff", b"=?base64?!!!?=", b"=?base64?d3JpdGV=?=", b"=?base64?/w==?="]
)
def test_an_undecodable_header_matches_nothing(raw: bytes) -> None:
    assert header_value(raw) is None


async def test_a_batch_with_mcp_headers_is_a_mismatch(
    mcp: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    refused = await mcp.post(
        "/mcp",
        json=[call("tools/list"), call("tools/list")],
        headers={**bearer(issuer, "Tools.Read"), "Mcp-Method": "tools/list"},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == -32020


def test_principal_reads_a_principal_set_by_the_middleware(issuer: LocalIssuer) -> None:
    from starlette.requests import Request

    from aad_guard import Principal
    from aad_guard.mcp import principal

    caller = Principal.from_claims(
        {"tid": "t", "exp": 1, "scp": "Tools.Read", "azp": "c"}, token_version="2.0"
    )
    assert principal(Request({"type": "http", "headers": [], "user": caller})) is caller
