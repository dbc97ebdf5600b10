"""An MCP client as a user runs it: the MCP SDK's OAuth client, its sign-in page answered.

`SignInScript` plays the user at the local issuer's sign-in page (a browser and a person
in real life); `PreRegistered` is the client's token storage, holding its client id (Entra
has no dynamic client registration: MCP clients are registered in advance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

__all__ = ["CLIENT_ID", "REDIRECT_URI", "PreRegistered", "SignInScript", "connect"]

CLIENT_ID = "5a9e0c11-0000-4000-8000-0000000c0a11"
"""The MCP client's own app registration (a public client)."""
REDIRECT_URI = "http://127.0.0.1:9/callback"
"""Its redirect URI; never served: the script reads where the sign-in page redirects."""


@dataclass
class PreRegistered:
    """The SDK client's `TokenStorage`, starting with the pre-registered client id."""

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
class SignInScript:
    """Answers the local issuer's sign-in page as `account` would; keeps what was asked."""

    account: str = "work"
    authorize_urls: list[str] = field(default_factory=list)
    _redirect: str = ""

    async def open(self, authorization_url: str) -> None:
        """The SDK's `redirect_handler`: show the page, pick the account, accept."""
        self.authorize_urls.append(authorization_url)
        async with httpx.AsyncClient() as browser:
            page = await browser.get(authorization_url)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            if csrf is None:  # an error page, or an error sent to the redirect URI
                self._redirect = page.headers.get("location", "")
                return
            answer = await browser.post(
                str(page.url.copy_with(query=None)),
                data={"csrf_token": csrf[1], "user": self.account, "decision": "accept"},
            )
            self._redirect = answer.headers["location"]

    async def callback(self) -> AuthorizationCodeResult:
        """The SDK's `callback_handler`: the code and state the redirect carried."""
        query = parse_qs(urlsplit(self._redirect).query)
        if "code" not in query:
            raise RuntimeError(f"the sign-in failed: {query.get('error_description')}")
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0])

    @property
    def scopes_asked(self) -> list[str]:
        """The `scope` of each authorization request, in order."""
        return [parse_qs(urlsplit(url).query)["scope"][0] for url in self.authorize_urls]


def connect(url: str, user: SignInScript) -> tuple[Client, OAuthClientProvider, httpx2.AsyncClient]:
    """The SDK's `Client` for `url`, signing in with the SDK's `OAuthClientProvider`.

    Enter the HTTP client and then the MCP client; both close on leaving.
    """
    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        token_endpoint_auth_method="none",  # noqa: S106 (a public client: no secret)
        grant_types=["authorization_code", "refresh_token"],
        client_name="aad_guard example",
    )
    info = OAuthClientInformationFull(client_id=CLIENT_ID, **metadata.model_dump())
    auth = OAuthClientProvider(
        url,
        metadata,
        PreRegistered(info),
        redirect_handler=user.open,
        callback_handler=user.callback,
    )
    http = httpx2.AsyncClient(auth=auth, timeout=30)
    return Client(streamable_http_client(url, http_client=http)), auth, http
