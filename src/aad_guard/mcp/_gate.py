"""Per-tool requirements: the scopes or roles each MCP tool, prompt and resource needs.

A call is checked before the MCP app sees it, from the JSON-RPC body (read up to a bound,
then replayed to the app unchanged), and against the `Mcp-Method`/`Mcp-Name` headers of the
2026-07-28 transport when a client sends them. A caller lacking what the call needs gets
403 `insufficient_scope` naming every scope that call needs, in one challenge; the
`AADGuardMiddleware` in front answers it, with `resource_metadata=`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._requirement import Requirement, caller
from ..errors import InsufficientScopeError, MissingTokenError
from ._jsonrpc import (
    HEADER_MISMATCH,
    INVALID_REQUEST,
    Call,
    JSONRPCRefusal,
    calls_in,
    header_value,
)

__all__ = ["MCPRequirements", "needs"]

_DEFAULT_MAX_BODY = 4 * 1024 * 1024  # the MCP SDK's own limit for a request body


def needs(*scopes: str, roles: Iterable[str] = ()) -> Requirement:
    """Any one of `scopes` (short `Tools.Read` or full `api://<app>/Tools.Read`) or `roles`.

    Raises:
        ValueError: no scope or role is named, or one is not a scope-token.
    """
    return Requirement.of(scopes, roles)


@dataclass(frozen=True, slots=True)
class MCPRequirements:
    """What the MCP operations of one server need, by tool name, prompt name, resource URI.

    Args:
        tools: Tool name -> requirement (`needs(...)`).
        prompts: Prompt name -> requirement.
        resources: Resource URI -> requirement.
        every_call: What every `tools/call`, `prompts/get` and `resources/read` needs, on
            top of its own; `None` for nothing more than a valid token.
    """

    tools: Mapping[str, Requirement] = field(default_factory=dict)
    prompts: Mapping[str, Requirement] = field(default_factory=dict)
    resources: Mapping[str, Requirement] = field(default_factory=dict)
    every_call: Requirement | None = None

    def __post_init__(self) -> None:
        for name, table in (
            ("tools", self.tools),
            ("prompts", self.prompts),
            ("resources", self.resources),
        ):
            if not all(isinstance(r, Requirement) for r in table.values()):
                raise TypeError(f"{name} maps names to needs(...), not {dict(table)!r}")
        if self.every_call is not None and not isinstance(self.every_call, Requirement):
            raise TypeError(f"every_call must be needs(...), not {self.every_call!r}")

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope named anywhere, for `scopes_supported`."""
        every = [self.every_call] if self.every_call is not None else []
        tables = (self.tools, self.prompts, self.resources)
        requirements = [*every, *(r for t in tables for r in t.values())]
        return tuple(dict.fromkeys(s for r in requirements for s in r.scopes))

    def of(self, call: Call) -> list[Requirement]:
        """What `call` needs: `every_call` and its own, for a named operation."""
        if call.kind is None:
            return []
        table = {"tool": self.tools, "prompt": self.prompts, "resource": self.resources}[call.kind]
        own = table.get(call.name) if call.name is not None else None
        return [r for r in (self.every_call, own) if r is not None]

    def guard(self, app: ASGIApp, *, max_body_bytes: int = _DEFAULT_MAX_BODY) -> ASGIApp:
        """`app` behind these requirements; `AADGuardMiddleware` must be in front of it."""
        return _Gate(app, self, max_body_bytes)


class _Gate:
    """The ASGI app that checks each POSTed call, then replays its body to `app`."""

    def __init__(self, app: ASGIApp, requirements: MCPRequirements, max_body: int) -> None:
        self.app = app
        self.requirements = requirements
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._body(receive)
            calls = calls_in(body)
            _check_headers(scope, calls)
        except JSONRPCRefusal as refusal:
            await refusal.response()(scope, receive, send)
            return
        self._admit(scope, calls)  # raises the refusal the middleware answers
        await self.app(scope, _replaying(body, receive), send)

    async def _body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                raise JSONRPCRefusal(INVALID_REQUEST, "The request body did not arrive")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise JSONRPCRefusal(
                    INVALID_REQUEST,
                    f"The request body is larger than {self.max_body} bytes",
                    status=413,
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _admit(self, scope: Scope, calls: list[Call]) -> None:
        needed = [r for call in calls for r in self.requirements.of(call)]
        if not needed:
            return
        principal = caller(scope)
        if principal is None:
            raise MissingTokenError(
                "This operation needs an access token; the request is anonymous."
            )
        granted = principal.scopes, principal.roles
        if all(
            granted[0].intersection(r.scopes) or granted[1].intersection(r.roles) for r in needed
        ):
            return
        scopes = tuple(dict.fromkeys(s for r in needed for s in r.scopes))
        roles = tuple(dict.fromkeys(x for r in needed for x in r.roles if x not in scopes))
        raise InsufficientScopeError(
            "The token lacks a scope or role this MCP operation needs.", scopes=scopes, roles=roles
        )


def _check_headers(scope: Scope, calls: list[Call]) -> None:
    """`Mcp-Method` and `Mcp-Name`, when sent, must say what the body says.

    Raises:
        JSONRPCRefusal: a header that differs from the body (HeaderMismatch).
    """
    headers = {
        name: value for name, value in scope["headers"] if name in (b"mcp-method", b"mcp-name")
    }
    if not headers:
        return  # a client of an earlier revision: the body alone
    call = calls[0]
    if len(calls) > 1:
        raise JSONRPCRefusal(HEADER_MISMATCH, "Header mismatch: a batch has no single method")
    for header, body_value in ((b"mcp-method", call.method), (b"mcp-name", call.name)):
        if header not in headers:
            if header == b"mcp-name" and call.kind is not None:
                raise JSONRPCRefusal(
                    HEADER_MISMATCH, "Header mismatch: Mcp-Name is missing", request_id=call.id
                )
            continue
        sent = header_value(headers[header])
        if sent is None or sent != body_value:
            name = "Mcp-Method" if header == b"mcp-method" else "Mcp-Name"
            raise JSONRPCRefusal(
                HEADER_MISMATCH,
                f"Header mismatch: the {name} header does not match the request body",
                request_id=call.id,
            )


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body it would have read, then the real messages."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
