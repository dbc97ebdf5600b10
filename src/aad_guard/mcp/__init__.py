"""Protect MCP servers with Entra ID: per-tool requirements and the MCP SDK adapter.

`needs` and `MCPRequirements` work with any ASGI MCP server behind `AADGuardMiddleware`;
the SDK adapter (`protect`, `principal`, `EntraTokenVerifier`) needs the `mcp` extra
(`pip install 'aad-guard[mcp]'`) and imports the SDK on first use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._gate import MCPRequirements, needs

if TYPE_CHECKING:
    from ._sdk import EntraTokenVerifier, EntraUser, access_token, principal, protect

__all__ = [
    "EntraTokenVerifier",
    "EntraUser",
    "MCPRequirements",
    "access_token",
    "needs",
    "principal",
    "protect",
]

# The public names report this module, as their documentation does: `aad_guard.mcp.needs`.
for _exported in (MCPRequirements, needs):
    _exported.__module__ = __name__
del _exported, TYPE_CHECKING

_SDK_NAMES = frozenset({"EntraTokenVerifier", "EntraUser", "access_token", "principal", "protect"})


def __getattr__(name: str) -> object:
    if name in _SDK_NAMES:
        try:
            from . import _sdk  # noqa: PLC0415 (the MCP SDK is an optional extra)
        except ImportError as exc:  # pragma: no cover - the test environment has the SDK
            raise ImportError(
                f"aad_guard.mcp.{name} needs the MCP SDK: pip install 'aad-guard[mcp]'"
            ) from exc
        exported = getattr(_sdk, name)
        exported.__module__ = __name__
        return exported
    raise AttributeError(f"module 'aad_guard.mcp' has no attribute {name!r}")
