"""The local issuer's signing keys, kept in the cache folder so that they outlive one run.

`aad-guard issuer` signs with them and `aad-guard token mint` signs with them when no
issuer runs: a token minted offline is accepted by an API that trusts the issuer, and the
other way round.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._cache import CacheFolder
from ._issuer import LocalIssuer
from ._keys import LocalKey

__all__ = ["stored_issuer", "stored_keys"]

# Entra lists more than one key: the signing key and the next one.
_KEY_FILES = ("signing-key-1.pem", "signing-key-2.pem")

logger = logging.getLogger("aad_guard.testing")


def stored_keys(folder: CacheFolder) -> list[LocalKey]:
    """The signing keys in `folder`, the first one signing; missing or damaged ones made anew."""
    with folder.lock():
        return [_stored_key(folder, name) for name in _KEY_FILES]


def stored_issuer(authority: str, folder: CacheFolder) -> LocalIssuer:
    """A `LocalIssuer` at `authority` that signs with, and publishes, the keys in `folder`."""
    issuer = LocalIssuer(authority=authority)
    issuer.keys.listed = stored_keys(folder)
    issuer.keys.signing = issuer.keys.listed[0]
    return issuer


def _stored_key(folder: CacheFolder, name: str) -> LocalKey:
    pem = folder.read(name)
    if pem is not None:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            logger.warning(
                "The local issuer's key %s could not be read (%s): made a new one; tokens "
                "signed with the old one are no longer accepted.",
                folder.file(name),
                exc,
            )
        else:
            if isinstance(key, rsa.RSAPrivateKey):
                return LocalKey(_kid(key), key)
            logger.warning(
                "The local issuer's key %s is not RSA: made a new one.", folder.file(name)
            )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stored = LocalKey(_kid(key), key)
    folder.write(name, stored.pem, private=True)
    return stored


def _kid(key: rsa.RSAPrivateKey) -> str:
    """A key id from the public key itself (27 characters, Entra's shape), the same every run."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha1(der, usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
