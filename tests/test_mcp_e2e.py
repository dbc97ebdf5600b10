"""End to end: the MCP SDK's own OAuth client against an SDK server behind aad_guard.

Discovery, PKCE sign-in at the local issuer (whose metadata, as Entra's, lacks
`code_challenge_methods_supported`), tool calls, and the step-up on a 403.
"""

from __future__ import annotations

import pytest
from mcp import MCPError
from mcp.client.auth import OAuthFlowError

from aad_guard.testing import DEFAULT_TENANT_ID

from .mcp_harness import SignInScript, connect, mcp_deployment

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """The SDK's client and uvicorn's thread: once, on asyncio (the SDK's own suite covers trio)."""
    return "asyncio"


async def test_a_single_tenant_server_works_without_the_mirror() -> None:
    with mcp_deployment(tenant=DEFAULT_TENANT_ID, scopes=("Tools.Read", "Tools.Write")) as (
        url,
        _,
    ):
        user = SignInScript()
        mcp, _auth, http = connect(url, user)
        async with http, mcp:
            who = await mcp.call_tool("whoami", {})
            assert who.structured_content == {
                "result": "local.user@contoso.example 5a9e0c11-0000-4000-8000-0000000c0a11"
            }
            wrote = await mcp.call_tool("write_note", {"text": "hi"})
            assert wrote.structured_content == {"result": "wrote hi"}
        [asked] = user.authorize_urls
        assert f"resource={url.replace(':', '%3A').replace('/', '%2F')}" in asked
        assert user.scopes_asked == [f"{url}/Tools.Read {url}/Tools.Write offline_access"]


async def test_a_multi_tenant_server_without_the_mirror_is_refused_by_the_sdk_client() -> None:
    with mcp_deployment(tenant="organizations") as (url, issuer):
        user = SignInScript()
        mcp, _auth, http = connect(url, user)
        async with http:
            with pytest.raises(Exception) as refused:
                async with mcp:
                    pass
        reasons = _leaves(refused.value)
        assert any(
            isinstance(e, OAuthFlowError)
            and str(e)
            == "Authorization server metadata issuer mismatch: "
            f"{issuer.url}/%7Btenantid%7D/v2.0 != {issuer.url}/organizations/v2.0"
            for e in reasons
        ), reasons
        assert user.authorize_urls == []  # it never reached the sign-in page


async def test_a_multi_tenant_server_with_the_mirror_works() -> None:
    with mcp_deployment(tenant="organizations", mirror=True) as (url, issuer):
        user = SignInScript()
        mcp, _auth, http = connect(url, user)
        async with http, mcp:
            who = await mcp.call_tool("whoami", {})
            assert who.structured_content is not None
            assert str(who.structured_content["result"]).startswith("local.user@contoso.example")
        [asked] = user.authorize_urls
        assert asked.startswith(f"{issuer.url}/organizations/oauth2/v2.0/authorize?")


async def test_a_tool_needing_more_gets_the_403_and_the_client_steps_up() -> None:
    # Only Tools.Read is published: the first token lacks Tools.Write.
    with mcp_deployment(tenant=DEFAULT_TENANT_ID, scopes=("Tools.Read",)) as (url, _):
        user = SignInScript()
        mcp, auth, http = connect(url, user)
        async with http, mcp:
            await mcp.call_tool("whoami", {})
            wrote = await mcp.call_tool("write_note", {"text": "hi"})
            assert wrote.structured_content == {"result": "wrote hi"}
            assert auth.context.current_tokens is not None
        assert user.scopes_asked == [
            f"{url}/Tools.Read offline_access",
            f"{url}/Tools.Read offline_access {url}/Tools.Write",
        ]


async def test_a_role_is_never_requested_as_a_scope() -> None:
    with mcp_deployment(tenant=DEFAULT_TENANT_ID, scopes=("Tools.Read",)) as (url, _):
        user = SignInScript()
        mcp, _auth, http = connect(url, user)
        async with http, mcp:
            await mcp.call_tool("whoami", {})
            with pytest.raises(MCPError, match="Server returned an error response"):
                await mcp.call_tool("reset", {})
        # The step-up asked for nothing new: an app role is assigned in Entra, not requested.
        assert user.scopes_asked == [f"{url}/Tools.Read offline_access"] * 2


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error, *([] if error.__cause__ is None else _leaves(error.__cause__))]
