"""Strict compact-JWS parsing: canonical base64url, duplicate-free JSON objects, header rules."""

from __future__ import annotations

import binascii
import json
from collections.abc import Collection
from dataclasses import dataclass

from .errors import (
    CriticalHeaderError,
    GraphTokenError,
    MalformedTokenError,
    MissingKeyIdError,
    TokenTooLargeError,
    UnsupportedAlgorithmError,
)

__all__ = [
    "CompactJWS",
    "KeyRef",
    "TokenReader",
    "b64url_decode",
    "check_header",
    "loads_object",
]

_FROM_BASE64URL = bytes.maketrans(b"-_+/=", b"+/!!!")
# In the last character of an unpadded segment, the bits past the final byte must be zero
# (RFC 4648 §3.5): otherwise several strings decode to one value, a malleability path.
_LAST_CHAR_OF_2 = frozenset("AQgw")
_LAST_CHAR_OF_3 = frozenset("AEIMQUYcgkosw048")
# Entra key ids are 27-43 characters; anything far longer is not a key id worth looking up.
MAX_KEY_ID_LENGTH = 256
# Members that mark a JWE or an unencoded payload (RFC 7516, RFC 7797): never an Entra JWS.
_FOREIGN_MEMBERS = ("enc", "zip", "b64")


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """A parsed compact JWS whose signature has not been checked yet."""

    header: dict[str, object]
    payload: dict[str, object]
    signing_input: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class KeyRef:
    """How a token names its signing key: `kid`, or `x5t` alone in old v1 tokens."""

    kid: str | None
    x5t: str | None

    @property
    def value(self) -> str:
        """The identifier to look up: `kid` wins when both are present."""
        return self.kid if self.kid is not None else self.x5t or ""


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded, canonical base64url (RFC 7515 §2); raise `ValueError` otherwise."""
    remainder = len(segment) % 4
    if remainder:
        if remainder == 1:
            raise ValueError("impossible base64url length")
        if segment[-1] not in (_LAST_CHAR_OF_2 if remainder == 2 else _LAST_CHAR_OF_3):
            raise ValueError("non-canonical base64url")
    try:
        data = segment.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not base64url") from None
    # One pass: the translation turns base64url into the standard alphabet and the standard
    # alphabet's own "+", "/" and padding into "!", which strict mode refuses with any other
    # character (C scans, no regex).
    try:
        return binascii.a2b_base64(
            data.translate(_FROM_BASE64URL) + b"=" * (-len(data) % 4), strict_mode=True
        )
    except binascii.Error:
        raise ValueError("not base64url") from None


def _unique_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Two parsers may keep different duplicates: a parser-differential attack.
        raise ValueError("duplicate member name")
    return obj


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# Built once: `json.loads` with hooks would build a new decoder per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_object, parse_constant=_reject_constant)


# Arrays and objects nested deeper than this are refused, on every Python alike: the parser's
# own limit is the interpreter's (about 1,000 levels on 3.11, 10,000 on 3.13). Tokens nest 3.
MAX_JSON_DEPTH = 32


def _nests_deeper_than(value: dict[str, object], depth: int) -> bool:
    level: list[dict[str, object] | list[object]] = [value]
    for _ in range(depth):  # one level at a time: bounded by `depth`, never recursive
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def loads_object(data: bytes) -> dict[str, object]:
    """Parse strict UTF-8 JSON whose top level is an object; raise `ValueError` otherwise.

    Duplicate member names at any depth, `NaN`, the infinities and arrays or objects nested
    deeper than `MAX_JSON_DEPTH` are refused.
    """
    text = data.decode("utf-8")
    try:
        value = _DECODER.decode(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    if not isinstance(value, dict):
        raise ValueError("JSON value is not an object")
    # Counting brackets (strings included) is cheap and rules out depth for every real token.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nests_deeper_than(
        value, MAX_JSON_DEPTH
    ):
        raise ValueError("JSON nested too deeply")
    return value


def _split(token: str, max_length: int) -> list[str]:
    if not isinstance(token, str):
        raise MalformedTokenError(f"The token is a {type(token).__name__}, not a string.")
    if len(token) > max_length:
        raise TokenTooLargeError(
            f"The token is {len(token)} characters long; at most {max_length}."
        )
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedTokenError(
            f"The token has {len(parts)} segments; a compact JWS has exactly 3."
        )
    return parts


def _decode_object(segment: str, part: str) -> dict[str, object]:
    try:
        return loads_object(b64url_decode(segment))
    except ValueError as exc:
        raise MalformedTokenError(f"The token {part} is not valid: {exc}.") from exc


def _assemble(
    header_segment: str, header: dict[str, object], payload_segment: str, signature_segment: str
) -> CompactJWS:
    payload = _decode_object(payload_segment, "payload")
    try:
        signature = b64url_decode(signature_segment)
    except ValueError as exc:
        raise MalformedTokenError(f"The token signature is not valid: {exc}.") from exc
    if not signature:
        raise MalformedTokenError("The token has an empty signature.")
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    return CompactJWS(header, payload, signing_input, signature)


class TokenReader:
    """Parses tokens and applies the header rules, remembering the headers it accepted.

    One signing key gives one header, byte for byte, so the few accepted header segments
    repeat on every request; their decoding and checks are done once. Refused headers are
    never remembered, and the memory is cleared when full, so junk cannot grow it.
    """

    MAX_REMEMBERED_HEADERS = 32

    def __init__(self, *, allowed_algorithms: Collection[str], max_length: int) -> None:
        self._allowed_algorithms = allowed_algorithms
        self._max_length = max_length
        self._accepted: dict[str, tuple[dict[str, object], KeyRef]] = {}

    def read(self, token: str) -> tuple[CompactJWS, KeyRef]:
        """Split and decode `token` without trusting any of it, and check its header.

        Raises:
            TokenTooLargeError: `token` is longer than `max_length` characters.
            MalformedTokenError: not three canonical base64url segments of JSON objects.
            TokenError: the header breaks a rule (`check_header`).
        """
        header_segment, payload_segment, signature_segment = _split(token, self._max_length)
        accepted = self._accepted.get(header_segment)
        if accepted is not None:
            header, key_ref = accepted
            return _assemble(header_segment, header, payload_segment, signature_segment), key_ref
        header = _decode_object(header_segment, "header")
        jws = _assemble(header_segment, header, payload_segment, signature_segment)
        key_ref = check_header(header, self._allowed_algorithms)
        if len(self._accepted) >= self.MAX_REMEMBERED_HEADERS:
            self._accepted.clear()
        self._accepted[header_segment] = (header, key_ref)
        return jws, key_ref


def _identifier(header: dict[str, object], name: str) -> str | None:
    value = header.get(name)
    if value is None and name not in header:
        return None
    if not isinstance(value, str) or not value:
        raise MalformedTokenError(f"The token header's {name!r} is not a non-empty string.")
    if len(value) > MAX_KEY_ID_LENGTH:
        raise MalformedTokenError(
            f"The token header's {name!r} is {len(value)} characters; at most {MAX_KEY_ID_LENGTH}."
        )
    return value


def check_header(header: dict[str, object], allowed_algorithms: Collection[str]) -> KeyRef:
    """Apply the header rules before any key is looked up; return how the key is named.

    Keys never come from the token: `jku`, `x5u`, `jwk` and `x5c` are ignored.

    Raises:
        UnsupportedAlgorithmError: `alg` is not one of `allowed_algorithms`.
        CriticalHeaderError: `crit` is present (RFC 7515 §4.1.11).
        GraphTokenError: a `nonce` marks a Microsoft Graph token.
        MalformedTokenError: a JWE or unencoded-payload member, or a bad key identifier.
        MissingKeyIdError: neither `kid` nor `x5t` is present.
    """
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algorithms:
        raise UnsupportedAlgorithmError(f"The token's algorithm {alg!r} is not accepted.")
    if "crit" in header:
        raise CriticalHeaderError("The token header has a 'crit' member.")
    for name in _FOREIGN_MEMBERS:
        if name in header:
            raise MalformedTokenError(f"The token header has a {name!r} member; not a plain JWS.")
    if "nonce" in header:
        raise GraphTokenError(
            "The token header has a 'nonce': a Microsoft Graph token, which only Graph can "
            "validate. Request a token for this API's own scope instead."
        )
    kid = _identifier(header, "kid")
    x5t = _identifier(header, "x5t")
    if kid is None and x5t is None:
        raise MissingKeyIdError("The token header has neither 'kid' nor 'x5t'.")
    return KeyRef(kid, x5t)
