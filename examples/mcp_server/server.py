"""The example MCP server: a tool for anyone signed in, a scoped tool and an admin tool.

Built with the MCP SDK's `MCPServer` and served behind aad_guard by `protect()`: every call
needs a token for this server, `add_note` needs the `Notes.Write` scope, `reset_notes` the
`Admin` app role; each tool reads its caller with `principal(ctx)`.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from starlette.types import ASGIApp

from aad_guard import ProtectedResource
from aad_guard.mcp import MCPRequirements, needs, principal, protect

__all__ = ["REQUIREMENTS", "create_app", "create_server"]

REQUIREMENTS = MCPRequirements(
    tools={"add_note": needs("Notes.Write"), "reset_notes": needs(roles=["Admin"])},
    every_call=needs("Notes.Read"),
)


def create_server() -> MCPServer:
    """The MCP server and its tools; each user's notes are their own."""
    server = MCPServer("notes")
    notes: dict[str, list[str]] = {}

    @server.tool()
    def whoami(ctx: Context) -> str:
        """Who is calling, as the token says."""
        caller = principal(ctx)
        return f"{caller.display_name} (tenant {caller.tenant_id})"

    @server.tool()
    def add_note(text: str, ctx: Context) -> int:
        """Add a note; returns how many you have. Needs Notes.Write."""
        mine = notes.setdefault(principal(ctx).identity, [])
        mine.append(text)
        return len(mine)

    @server.tool()
    def reset_notes() -> str:
        """Forget every user's notes. Needs the Admin app role."""
        notes.clear()
        return "every note is gone"

    return server


def create_app(
    *, resource: str, client_id: str, tenant: str, authority: str, mirror: bool
) -> ASGIApp:
    """The server at `resource` (its URL, and its App ID URI in Entra), behind aad_guard.

    A client first asks for `Notes.Read`; `Notes.Write` comes by step-up on its first 403.
    """
    return protect(
        create_server(),
        resource=ProtectedResource(
            resource,
            scopes=("Notes.Read",),
            name="Notes",
            mirror_authorization_server=mirror,
        ),
        requirements=REQUIREMENTS,
        client_id=client_id,
        tenant=tenant,
        authority=authority,
    )
