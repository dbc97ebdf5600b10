"""The JSON-RPC side of an MCP request: which operation it calls, and the spec's errors.

No MCP SDK import: the per-tool requirements read the body themselves, before the app.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from starlette.responses import Response

__all__ = [
    "HEADER_MISMATCH",
    "INVALID_REQUEST",
    "PARSE_ERROR",
    "Call",
    "JSONRPCRefusal",
    "calls_in",
    "header_value",
]

PARSE_ERROR = -32700  # JSON-RPC 2.0 §5.1
INVALID_REQUEST = -32600
HEADER_MISMATCH = -32020  # MCP 2026-07-28 transports, "Server Validation"

# The operations that name what they act on (MCP: tools/call, prompts/get, resources/read),
# and the `params` member that names it, which `Mcp-Name` mirrors.
NAMED_OPERATIONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "tools/call": ("tool", "name"),
        "prompts/get": ("prompt", "name"),
        "resources/read": ("resource", "uri"),
    }
)
_SENTINEL = re.compile(r"=\?base64\?(?P<payload>.*)\?=")


@dataclass(frozen=True, slots=True)
class Call:
    """One JSON-RPC message of the body: its `id`, `method`, and the name it acts on."""

    id: object
    method: str | None
    kind: str | None  # "tool", "prompt", "resource", or None for other methods
    name: str | None


class JSONRPCRefusal(Exception):  # noqa: N818 (an answer to send, not a failure)
    """A body the spec tells the server to refuse, with the answer to send."""

    def __init__(
        self, code: int, message: str, *, request_id: object = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.code = code
        self.id = request_id
        self.status = status

    def response(self) -> Response:
        """The JSON-RPC error response, with its HTTP status."""
        body = {
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": str(self)},
        }
        return Response(
            json.dumps(body, separators=(",", ":")), self.status, media_type="application/json"
        )


def calls_in(body: bytes) -> list[Call]:
    """The messages of a JSON-RPC body: one object, or a batch (the 2025-03-26 transport).

    Raises:
        JSONRPCRefusal: not JSON (parse error), or neither an object nor a non-empty array
            of objects (invalid request).
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise JSONRPCRefusal(PARSE_ERROR, "Parse error: the body is not JSON") from None
    messages = document if isinstance(document, list) else [document]
    if not messages or not all(isinstance(message, dict) for message in messages):
        raise JSONRPCRefusal(INVALID_REQUEST, "Invalid Request: expected JSON-RPC objects")
    return [_call(message) for message in messages]


def _call(message: Mapping[str, object]) -> Call:
    method = message.get("method")
    if not isinstance(method, str):
        return Call(message.get("id"), None, None, None)  # a response or an invalid message
    kind, member = NAMED_OPERATIONS.get(method, (None, None))
    params = message.get("params")
    name = params.get(member) if member is not None and isinstance(params, dict) else None
    return Call(message.get("id"), method, kind, name if isinstance(name, str) else None)


def header_value(raw: bytes) -> str | None:
    """An `Mcp-Method`/`Mcp-Name` value as the client meant it; `None` if undecodable.

    A `=?base64?...?=` value is decoded (canonical base64 of UTF-8 only), as the 2026-07-28
    transport requires before comparing it with the body.
    """
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _SENTINEL.fullmatch(value)
    if match is None:
        return value
    payload = match["payload"]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
