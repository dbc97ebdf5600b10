"""An MCP server built with the MCP SDK behind aad_guard on loopback, and the SDK's client.

The server runs in real uvicorn (in a thread, sharing the test's `LocalIssuer`), the
authorization server is the local issuer's loopback server, and the client is the SDK's own
`OAuthClientProvider`, whose sign-in page a script answers as a user would.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import uvicorn
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl
from starlette.types import ASGIApp

from aad_guard import ProtectedResource
from aad_guard.mcp import MCPRequirements, needs, principal, protect
from aad_guard.testing import LocalIssuerServer

CLIENT_ID = "5a9e0c11-0000-4000-8000-0000000c0a11"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never served: the script reads the redirect

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
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def served(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Serve `app` with uvicorn on `sock` until the block ends; yields its origin."""
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
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


@dataclass
class Storage:
    """The SDK client's `TokenStorage`, holding the pre-registered client (Entra has no DCR)."""

    client_info: OAuthClientInformationFull | None
    tokens: OAuthToken | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class User:
    """Answers the local issuer's sign-in page as `account` would; records what was asked."""

    account: str = "work"
    authorize_urls: list[str] = field(default_factory=list)
    _redirect: str | None = None

    async def open(self, authorization_url: str) -> None:
        self.authorize_urls.append(authorization_url)
        async with httpx.AsyncClient() as browser:
            page = await browser.get(authorization_url)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            if csrf is None:  # an error page or an error redirect
                self._redirect = page.headers.get("location", "")
                return
            answer = await browser.post(
                str(page.url.copy_with(query=None)),
                data={"csrf_token": csrf[1], "user": self.account, "decision": "accept"},
            )
            self._redirect = answer.headers["location"]

    async def callback(self) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(self._redirect or "").query)
        if "error" in query:
            raise RuntimeError(f"sign-in refused: {query.get('error_description')}")
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0])

    @property
    def scopes_asked(self) -> list[str]:
        return [parse_qs(urlsplit(url).query)["scope"][0] for url in self.authorize_urls]


def client(url: str, user: User) -> tuple[Client, OAuthClientProvider, httpx2.AsyncClient]:
    """The SDK's client with its OAuth provider, for the pre-registered public client."""
    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        client_name="aad_guard tests",
    )
    info = OAuthClientInformationFull(client_id=CLIENT_ID, **metadata.model_dump())
    auth = OAuthClientProvider(
        url, metadata, Storage(info), redirect_handler=user.open, callback_handler=user.callback
    )
    http = httpx2.AsyncClient(auth=auth, timeout=30)
    return Client(streamable_http_client(url, http_client=http)), auth, http


@contextmanager
def mcp_deployment(
    *, tenant: str, mirror: bool = False, **resource_options: Any
) -> Iterator[tuple[str, LocalIssuerServer]]:
    """The demo server behind `protect()` at `<origin>/mcp`; yields its URL and the issuer."""
    with LocalIssuerServer() as issuer_server:
        sock = free_socket()
        resource = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        issuer = issuer_server.issuer
        issuer.identifier_uris.append(resource)
        issuer.register_client(CLIENT_ID, redirect_uris=[REDIRECT_URI])
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
