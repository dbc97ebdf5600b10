"""Small helpers the test modules share: token pieces and request headers."""

from __future__ import annotations

import base64
import json


def b64(data: bytes) -> str:
    """Unpadded base64url, as JWS segments are."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(document: object) -> str:
    """A JSON value as a JWS segment."""
    return b64(json.dumps(document).encode())


def decoded(token: str, index: int) -> dict[str, object]:
    """Segment `index` of a compact token (0 header, 1 payload), decoded without checks."""
    value: dict[str, object] = json.loads(base64.urlsafe_b64decode(token.split(".")[index] + "=="))
    return value


def bearer(token: str) -> dict[str, str]:
    """The `Authorization` header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}
