"""`make demo-mcp`: the example MCP server against a local issuer on loopback; no tenant.

It serves a LocalIssuer and the MCP server (multi-tenant, `organizations`, with the
authorization-server mirror), then drives the MCP SDK's own OAuth client through
discovery, the PKCE sign-in (the page answered by a script), a tool call, the step-up to
`Notes.Write` on a 403 and an admin tool the user may not call, printing each step; then
it prints what `aad-guard mcp check` finds and serves until Ctrl-C. `--no-wait` stops after
the script; the exit status is 1 if any step went otherwise than expected.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import anyio
import httpx
import uvicorn
from mcp import MCPError
from starlette.types import ASGIApp

from aad_guard.cli._mcp_check import findings
from aad_guard.testing import LocalIssuerServer
from examples.loopback import loopback_socket
from examples.mcp_server.client import CLIENT_ID, REDIRECT_URI, SignInScript, connect
from examples.mcp_server.server import create_app

__all__ = ["main", "served"]


@contextmanager
def served(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Serve `app` with uvicorn on `sock` (in a thread) until the block ends; yields its origin."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


async def _script(url: str) -> bool:
    """The scripted session; whether every step went as expected."""
    user = SignInScript()
    mcp, _auth, http = connect(url, user)
    ok = True
    async with http, mcp:
        who = await mcp.call_tool("whoami", {})
        print(f"whoami      -> {who.structured_content}")
        print(f"               signed in, asking for {user.scopes_asked[-1]}")
        added = await mcp.call_tool("add_note", {"text": "hello"})
        print(f"add_note    -> {added.structured_content}")
        print(f"               after a 403 and a step-up to {user.scopes_asked[-1]}")
        ok = ok and len(user.authorize_urls) == 2 and not added.is_error
        try:
            await mcp.call_tool("reset_notes", {})
            print("reset_notes -> allowed, but the user has no Admin role")
            ok = False
        except MCPError as refused:
            print(f"reset_notes -> refused ({refused}): the Admin role is assigned, not requested")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo-mcp", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="the MCP server's port")
    parser.add_argument("--issuer-port", type=int, default=8400, help="the local issuer's port")
    parser.add_argument("--no-wait", action="store_true", help="stop after the script")
    options = parser.parse_args(argv)
    logging.disable(logging.INFO)  # each step is printed, not each request
    try:
        return _run(options)
    finally:
        logging.disable(logging.NOTSET)


def _run(options: argparse.Namespace) -> int:
    with LocalIssuerServer(port=options.issuer_port) as issuer_server:
        sock = loopback_socket(options.port)
        resource = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        issuer = issuer_server.issuer
        issuer.signin.identifier_uris.append(resource)  # the App ID URI is the resource URL
        issuer.signin.register_client(CLIENT_ID, redirect_uris=[REDIRECT_URI])
        app = create_app(
            resource=resource,
            client_id=issuer.client_id,
            tenant="organizations",
            authority=issuer_server.url,
            mirror=True,
        )
        with served(app, sock):
            print(f"local issuer {issuer_server.url}, MCP server {resource}")
            ok = anyio.run(_script, resource)
            print(f"aad-guard mcp check {resource}:")
            with httpx.Client(timeout=10) as http:
                for finding in findings(resource, http):
                    print(f"  {finding.level.upper():6} {finding.message}")
            print("script " + ("passed" if ok else "FAILED"))
            if not options.no_wait:
                try:
                    print(f"Serving {resource} until Ctrl-C (client id {CLIENT_ID}, public).")
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
