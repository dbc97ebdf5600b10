"""Signing keys from a JWKS: which keys may verify tokens, and one fetch's key set.

The rules of rule 15 (docs/design.md): RSA signing keys of at least 2048 bits, for a JWS
algorithm Entra uses, with a key id no other key shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._jose import KeyRef, b64url_decode
from ._policy import IssuerTemplate

__all__ = ["MIN_RSA_BITS", "RSA_ALGORITHMS", "KeySnapshot", "SigningKey", "parse_jwks"]

MIN_RSA_BITS: Final = 2048
# The JWS algorithms of RSA keys: Entra signs only with RSA keys.
RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A usable RSA signing key from the JWKS, with the issuer it is bound to (if any)."""

    kid: str
    x5t: str | None
    issuer: str | None
    algorithm: str | None
    public_key: RSAPublicKey


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """One good, validated fetch: issuer templates and keys, taken together."""

    issuer_v2: IssuerTemplate
    issuer_v1: IssuerTemplate | None
    keys: Mapping[str, SigningKey]
    keys_by_x5t: Mapping[str, SigningKey]
    fetched_at: float

    def find(self, ref: KeyRef) -> SigningKey | None:
        """The key a token names: by exact `kid`, or by `x5t` for old v1 tokens without one."""
        if ref.kid is not None:
            return self.keys.get(ref.kid)
        return self.keys_by_x5t.get(ref.value) or self.keys.get(ref.value)


def _modulus_bits(n: object) -> int:
    """The size of an RSA modulus in JWK form; 0 if it is not one."""
    try:
        return int.from_bytes(b64url_decode(n), "big").bit_length() if isinstance(n, str) else 0
    except ValueError:
        return 0


def _signing_key(jwk: object) -> SigningKey | None:
    """A JWK as a `SigningKey`, or `None` if it must not verify tokens (rule 15)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        return None
    kid, x5t, use = jwk.get("kid"), jwk.get("x5t"), jwk.get("use", "sig")
    issuer, algorithm, key_ops = jwk.get("issuer"), jwk.get("alg"), jwk.get("key_ops")
    if not isinstance(kid, str) or not kid or use != "sig":
        return None
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if algorithm is not None and algorithm not in RSA_ALGORITHMS:
        return None
    if not (issuer is None or isinstance(issuer, str)) or not (x5t is None or isinstance(x5t, str)):
        return None
    if _modulus_bits(jwk.get("n")) < MIN_RSA_BITS:
        return None
    try:
        # PyJWK parses the JWK; its errors quote the whole key, so they are not passed on.
        key = jwt.PyJWK(jwk, algorithm="RS256").key
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(key, RSAPublicKey):
        return None
    return SigningKey(kid, x5t, issuer, algorithm, key)


def parse_jwks(
    document: Mapping[str, object],
) -> tuple[dict[str, SigningKey], dict[str, SigningKey]]:
    """The usable signing keys of a JWKS, by `kid` and by `x5t`.

    A `kid` that two keys share names no key: both are dropped.

    Raises:
        ValueError: no usable signing key at all.
    """
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no 'keys' list")
    by_kid: dict[str, SigningKey] = {}
    ambiguous: set[str] = set()
    for entry in entries:
        key = _signing_key(entry)
        if key is None:
            continue
        if key.kid in by_kid:
            ambiguous.add(key.kid)
        by_kid[key.kid] = key
    for kid in ambiguous:
        del by_kid[kid]
    if not by_kid:
        raise ValueError("the JWKS has no usable RSA signing key")
    by_x5t = {key.x5t: key for key in by_kid.values() if key.x5t is not None}
    return by_kid, by_x5t
