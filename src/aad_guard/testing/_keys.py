"""RSA key material for the local issuer, generated once per process and reused."""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["LocalKey", "new_key"]


@functools.cache
def _material(index: int) -> rsa.RSAPrivateKey:  # noqa: ARG001 (the cache key)
    """The `index`-th RSA key of this process, made once.

    Generating an RSA-2048 key takes ~40 ms and test suites create many issuers, so key
    material is reused across issuers (each still gets its own key ids: issuers never share a
    key id). Two threads asking at once may both make a key; each issuer keeps the one it got.
    """
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True, slots=True)
class LocalKey:
    """A signing key of the local issuer: its key id and RSA private key."""

    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self, **members: str) -> dict[str, object]:
        """The public JWK as Entra publishes it: `kty`, `use`, `kid`, `x5t`, `n`, `e`."""
        jwk: dict[str, object] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, **jwk, **members}

    @property
    def pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def new_key(index: int) -> LocalKey:
    """The `index`-th pooled key material under a fresh, Entra-shaped key id (27 characters)."""
    digest = hashlib.sha1(secrets.token_bytes(16), usedforsecurity=False).digest()
    kid = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    return LocalKey(kid, _material(index))
