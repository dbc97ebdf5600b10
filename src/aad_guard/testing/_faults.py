"""The failures the local issuer can be told to show, and how it shows each one.

A fault is a value (`Fault`); `misbehave` turns it into the answer, or the exception, a
client meets. The issuer keeps no other fault state, so a new failure mode is one more
`FaultKind` and one more branch here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import anyio
import httpx

__all__ = ["Document", "Fault", "FaultKind", "document_kind", "json_response", "misbehave"]

FaultKind = Literal[
    "down",
    "slow",
    "hang",
    "status",
    "not_json",
    "truncated",
    "huge",
    "redirect",
    "foreign_jwks_uri",
    "empty_keys",
    "wrong_issuer",
]
"""The ways the issuer can fail; see `LocalIssuer.simulate` for what each does."""

Document = Literal["metadata", "jwks"]
"""The two documents a validator fetches: OpenID metadata and the JWKS."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One failure the issuer shows from now on (`LocalIssuer.simulate` makes it).

    Attributes:
        kind: What goes wrong.
        only: The one kind of document that fails; `None` for both.
        delay: Seconds a `slow` answer waits.
        status: The HTTP status of a `status` answer.
        retry_after: The `Retry-After` seconds of a `status` answer; `None` for none.
    """

    kind: FaultKind
    only: Document | None = None
    delay: float = 1.0
    status: int = 500
    retry_after: float | None = None

    def applies_to(self, document: Document | None) -> bool:
        """Whether a request for `document` (`None`: not a document) meets this fault."""
        return document is not None and self.only in (None, document)


def document_kind(path: str) -> Document | None:
    """Which document a request path asks for, if any."""
    if path.endswith("/.well-known/openid-configuration"):
        return "metadata"
    if path.endswith("/keys"):
        return "jwks"
    return None


async def misbehave(
    fault: Fault,
    request: httpx.Request,
    document: Document,
    *,
    answer: Callable[[], httpx.Response],
    stranger_issuer: Callable[[str], str],
) -> httpx.Response | None:
    """The faulty answer to `request`, or `None` to answer it as usual (after a delay).

    Args:
        fault: The fault to show.
        request: The request for `document`.
        document: The kind of document asked for.
        answer: The healthy answer, for faults that damage it.
        stranger_issuer: The issuer of the same form (v1 or v2) of a tenant nobody
            configured, by version.

    Raises:
        httpx.ConnectError: the `down` fault.
    """
    kind = fault.kind
    if kind == "down":
        raise httpx.ConnectError("connection refused (simulated)", request=request)
    if kind == "slow":
        await anyio.sleep(fault.delay)
        return None
    if kind == "hang":
        await anyio.sleep_forever()
    if kind == "status":
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        return json_response(fault.status, {"error": "simulated"}, headers=headers)
    if kind == "not_json":
        return httpx.Response(200, text="<html>Service Unavailable</html>")
    if kind == "truncated":
        return httpx.Response(200, content=answer().content[:40])
    if kind == "huge":
        return json_response(200, {"keys": [], "padding": "x" * (2 * 1024 * 1024)})
    if kind == "redirect":
        location = f"https://attacker.example{request.url.path}"
        return httpx.Response(302, headers={"Location": location})
    if document == "metadata" and kind in ("foreign_jwks_uri", "wrong_issuer"):
        metadata = json.loads(answer().content)
        if kind == "foreign_jwks_uri":
            metadata["jwks_uri"] = "https://attacker.example/common/discovery/v2.0/keys"
        else:  # the same form, fixed to a tenant nobody configured
            version = "2.0" if metadata["issuer"].endswith("/v2.0") else "1.0"
            metadata["issuer"] = stranger_issuer(version)
        return json_response(200, metadata)
    if document == "jwks" and kind == "empty_keys":
        return json_response(200, {"keys": []})
    return None


def json_response(
    status: int, document: object, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A JSON answer."""
    return httpx.Response(status, json=document, headers=headers)
