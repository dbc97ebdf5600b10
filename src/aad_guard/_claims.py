"""Claims requests: the `claims` value of an `insufficient_claims` challenge, built and read.

Microsoft's claims challenge carries a claims request (OpenID Connect Core §5.5) for the
access token, as standard base64 (with padding) of its JSON: MSAL decodes it and sends the
JSON as the `claims` parameter of its next token request. One function builds the value and
one reads it back, so what the API sends is exactly what a client will parse.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

__all__ = [
    "CP1",
    "auth_context_claims",
    "can_answer_claims_challenges",
    "decode_claims",
    "encode_claims",
    "revocation_claims",
]

# The client capability that says "I handle claims challenges" (`xms_cc`, Entra reference).
CP1 = "cp1"


def encode_claims(request: Mapping[str, object]) -> str:
    """`request` as a challenge's `claims` value: compact JSON, then standard base64."""
    document = json.dumps(request, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return base64.b64encode(document.encode("ascii")).decode("ascii")


def decode_claims(value: str) -> dict[str, object]:
    """The claims request a `claims` value carries; padding may be missing, as some send it.

    Raises:
        ValueError: `value` is not base64 of a JSON object.
    """
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        document = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"not a base64 claims request: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("a claims request is a JSON object")
    return document


def auth_context_claims(context_id: str) -> dict[str, object]:
    """The request for an access token whose `acrs` holds `context_id` (e.g. `c1`)."""
    return {"access_token": {"acrs": {"essential": True, "value": context_id}}}


def revocation_claims(revoked_at: float) -> dict[str, object]:
    """The request for an access token issued at or after `revoked_at` (CAE's `nbf` form)."""
    return {"access_token": {"nbf": {"essential": True, "value": str(int(revoked_at))}}}


def can_answer_claims_challenges(capabilities: frozenset[str]) -> bool:
    """Whether a client that declared `capabilities` (`xms_cc`) handles claims challenges."""
    return any(capability.lower() == CP1 for capability in capabilities)
