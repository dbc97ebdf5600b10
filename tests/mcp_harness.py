"""An MCP server built with the MCP SDK behind aad_guard on loopback, and the SDK's client.

The server runs in real uvicorn (in a thread, sharing the test's `LocalIssuer`), the
authorization server is the local issuer's loopback server, and the client is the SDK's own
`OAuthClientProvider`, whose sign-in page a script answers as a user would (the example's
`SignInScript`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from examples.loopback import loopback_socket
from examples.mcp_server.client import CLIENT_ID, REDIRECT_URI, SignInScript, connect
from examples.mcp_server.demo import served
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer

from aad_guard import ProtectedResource
from aad_guard.mcp import MCPRequirements, needs, principal, protect
from aad_guard.testing import LocalIssuerServer

__all__ = [
    "REQUIREMENTS",
    "SignInScript",
    "connect",
    "demo_server",
    "free_socket",
    "mcp_deployment",
    "served",
]

REQUIREMENTS = MCPRequirements(
    tools={"write_note": needs("Tools.Write"), "reset": needs(roles=["Admin"])},
    every_call=needs("Tools.Read"),
)


def demo_server() -> MCPServer:
    """A public-ish tool, a scoped tool and an admin tool that report who called."""
    server = MCPServer("notes")

    @server.tool()
    def whoami(ctx: Context) -> str:
        """Who called, as aad_guard and the SDK see it."""
        sdk = get_access_token()
        return f"{principal(ctx).username} {sdk.client_id if sdk else None}"

    @server.tool()
    def write_note(text: str) -> str:
        """Needs Tools.Write."""
        return f"wrote {text}"

    @server.tool()
    def reset() -> str:
        """Needs the Admin role."""
        return "reset"

    return server


def free_socket() -> socket.socket:
    return loopback_socket(0)


@contextmanager
def mcp_deployment(
    *, tenant: str, mirror: bool = False, **resource_options: Any
) -> Iterator[tuple[str, LocalIssuerServer]]:
    """The demo server behind `protect()` at `<origin>/mcp`; yields its URL and the issuer."""
    with LocalIssuerServer() as issuer_server:
        sock = free_socket()
        resource = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        issuer = issuer_server.issuer
        issuer.signin.identifier_uris.append(resource)
        issuer.signin.register_client(CLIENT_ID, redirect_uris=[REDIRECT_URI])
        app = protect(
            demo_server(),
            resource=ProtectedResource(
                resource, mirror_authorization_server=mirror, name="Notes", **resource_options
            ),
            requirements=REQUIREMENTS,
            client_id=issuer.client_id,
            tenant=tenant,
            authority=issuer_server.url,
        )
        with served(app, sock):
            yield resource, issuer_server
