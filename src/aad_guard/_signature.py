"""RSA signature verification for the JWS algorithms a validator allows.

PyJWT's `RSAAlgorithm.verify` and `RSAPSSAlgorithm.verify` build their padding and hash
objects on every call; those are stateless, so a verifier builds them once for its
algorithm and calls `cryptography` as PyJWT does, with the same answer.
"""

from collections.abc import Callable
from types import MappingProxyType
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm

__all__ = ["RSAVerifier"]

_HASHES: Final = MappingProxyType[str, Callable[[], HashAlgorithm]](
    {"256": SHA256, "384": SHA384, "512": SHA512}
)


class RSAVerifier:
    """Verifies signatures of one algorithm: `RS256`-`RS512` (PKCS#1 v1.5) or `PS256`-`PS512`."""

    __slots__ = ("_hash", "_padding")

    def __init__(self, algorithm: str) -> None:
        hash_type = _HASHES[algorithm[2:]]
        self._hash: HashAlgorithm = hash_type()
        # PSS as RFC 7518 §3.5 and PyJWT have it: MGF1 with the same hash, salt its size.
        self._padding: AsymmetricPadding = (
            PKCS1v15()
            if algorithm.startswith("RS")
            else PSS(mgf=MGF1(hash_type()), salt_length=self._hash.digest_size)
        )

    def verify(self, message: bytes, key: RSAPublicKey, signature: bytes) -> bool:
        """Whether `signature` over `message` verifies with `key`."""
        try:
            key.verify(signature, message, self._padding, self._hash)
        except InvalidSignature:
            return False
        return True
