"""CORS at the local token endpoint: single-page apps redeem their codes from the browser."""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx

__all__ = ["cors_headers", "preflight"]

_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def cors_headers(request: httpx.Request, trusted: frozenset[str]) -> dict[str, str]:
    """CORS headers for an origin of a registered redirect URI, as Entra gives SPAs."""
    origin = request.headers.get("origin")
    if origin is None or origin not in trusted:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight(request: httpx.Request, cors: Mapping[str, str]) -> httpx.Response:
    """The answer to a CORS preflight of the token endpoint."""
    if not cors:
        document = {
            "error": "invalid_request",
            "error_description": "This origin is not that of a registered redirect URI.",
        }
        return httpx.Response(403, json=document)
    asked = request.headers.get("access-control-request-headers", "").split(",")
    allowed = ", ".join(n.strip() for n in asked if _HEADER_NAME.fullmatch(n.strip()))
    headers = {
        **cors,
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": allowed,
        "Access-Control-Max-Age": "600",
    }
    return httpx.Response(204, headers=headers)
