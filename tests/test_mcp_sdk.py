"""The MCP SDK adapter, through the SDK's own server: its `TokenVerifier`, and `protect()`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

from aad_guard import TokenValidator
from aad_guard.mcp import EntraTokenVerifier, principal, protect
from aad_guard.testing import LocalIssuer

from .mcp_harness import REQUIREMENTS, demo_server, free_socket, served

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def anyio_backend() -> str:
    """Uvicorn serves from a thread on asyncio; the client runs once, on asyncio."""
    return "asyncio"


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture
def sdk_auth(issuer: LocalIssuer) -> Iterator[tuple[str, LocalIssuer]]:
    """The SDK's own auth (AuthSettings, its middleware) with aad_guard's verifier."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    validator = TokenValidator(client_id=issuer.client_id, http_client=issuer.client())
    server = MCPServer(
        "notes",
        auth=AuthSettings(
            issuer_url=f"{issuer.authority}/{issuer.tenant_id}/v2.0",  # type: ignore[arg-type]
            resource_server_url=url,  # type: ignore[arg-type]
            required_scopes=["Tools.Read"],
            validate_token_resource=True,
        ),
        token_verifier=EntraTokenVerifier(validator, resource=url),
    )

    @server.tool()
    def scopes() -> str:
        from mcp.server.auth.middleware.auth_context import get_access_token

        token = get_access_token()
        assert token is not None
        return f"{token.client_id} {token.subject} {' '.join(token.scopes)} {token.resource}"

    with served(server.streamable_http_app(), sock):
        yield url, issuer


async def test_the_verifier_gives_the_sdk_its_access_token(
    sdk_auth: tuple[str, LocalIssuer],
) -> None:
    url, issuer = sdk_auth
    token = issuer.token(scopes=["Tools.Read"], roles=["Admin"], claims={"sub": "the-subject"})
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as mcp,
    ):
        answer = await mcp.call_tool("scopes", {})
    assert answer.structured_content == {
        "result": f"0c1d2e3f-0000-4000-8000-0000000c0001 the-subject Admin Tools.Read {url}"
    }


async def test_through_the_sdk_middleware_every_refusal_is_invalid_token(
    sdk_auth: tuple[str, LocalIssuer],
) -> None:
    """The SDK's limit, which protect() lifts: no 503, no bare challenge, no scope on 403."""
    url, issuer = sdk_auth
    async with httpx.AsyncClient() as http:
        missing = await http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
        issuer.simulate("down")
        down = await http.post(
            url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Authorization": f"Bearer {issuer.token()}"},
        )
    assert (missing.status_code, down.status_code) == (401, 401)
    assert 'error="invalid_token"' in missing.headers["www-authenticate"]
    assert 'error="invalid_token"' in down.headers["www-authenticate"]


@pytest.fixture
def protected(issuer: LocalIssuer) -> Iterator[str]:
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    issuer.signin.identifier_uris.append(url)
    app = protect(
        demo_server(),
        resource=url,
        requirements=REQUIREMENTS,
        client_id=issuer.client_id,
        http_client=issuer.client(),
    )
    with served(app, sock):
        yield url


async def test_protect_answers_as_aad_guard_does(protected: str, issuer: LocalIssuer) -> None:
    url = protected
    metadata = url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    async with httpx.AsyncClient() as http:
        missing = await http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
        bad = await http.post(
            url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer not-a-jwt"}
        )
        malformed = await http.post(
            url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer a b"}
        )
        document = await http.get(metadata)
        issuer.simulate("down")
        down = await http.post(
            url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Authorization": f"Bearer {issuer.token()}"},
        )
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}"'
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert malformed.status_code == 400
    assert document.json()["scopes_supported"] == [
        f"{url}/Tools.Read",
        f"{url}/Tools.Write",
    ]
    assert down.status_code == 503
    assert "retry-after" in down.headers
    assert "www-authenticate" not in down.headers


async def test_protect_refuses_a_tool_before_it_runs_and_tools_see_the_principal(
    protected: str, issuer: LocalIssuer
) -> None:
    token = issuer.token(
        scopes=["Tools.Read"], claims={"preferred_username": "ada@contoso.example"}
    )
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(protected, http_client=http)) as mcp,
    ):
        who = await mcp.call_tool("whoami", {})
        assert who.structured_content == {
            "result": "ada@contoso.example 0c1d2e3f-0000-4000-8000-0000000c0001"
        }
    async with httpx.AsyncClient() as raw:
        refused = await raw.post(
            protected,
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "reset"}},
            headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
        )
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


def test_principal_needs_protect() -> None:
    from starlette.requests import Request

    with pytest.raises(LookupError, match="protect"):
        principal(Request({"type": "http", "headers": [], "user": None}))


def test_the_core_and_the_requirements_never_import_the_sdk() -> None:
    from .helpers import run_python

    done = run_python(
        "import sys, aad_guard, aad_guard.mcp\n"
        "from aad_guard.mcp import MCPRequirements, needs\n"
        "assert 'mcp' not in sys.modules, 'imported the SDK'\n"
        "aad_guard.mcp.protect\n"
        "assert 'mcp' in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr


def test_the_mcp_names_are_exported_sorted() -> None:
    import aad_guard.mcp

    assert aad_guard.mcp.__all__ == sorted(aad_guard.mcp.__all__)
    for name in aad_guard.mcp.__all__:
        assert getattr(aad_guard.mcp, name).__module__.startswith("aad_guard.mcp")
    with pytest.raises(AttributeError):
        aad_guard.mcp.nothing  # noqa: B018
