"""Client certificates and the client assertions they sign, as MSAL makes them."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class ClientCertificate:
    """A self-signed certificate and its key: an app's certificate credential."""

    certificate: x509.Certificate
    key: PrivateKey

    @classmethod
    def new(cls, name: str = "daemon", *, kind: str = "rsa") -> ClientCertificate:
        key: PrivateKey
        if kind == "ec":
            key = ec.generate_private_key(ec.SECP256R1())
        elif kind == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(key, None if kind == "ed25519" else hashes.SHA256())
        )
        return cls(certificate, key)

    @property
    def pem(self) -> bytes:
        """The certificate as PEM (what is uploaded to the app registration)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def assertion_thumbprint(self) -> str:
        """`x5t`: the base64url SHA-1 thumbprint that names the certificate in assertions."""
        digest = self.certificate.fingerprint(hashes.SHA1())  # noqa: S303
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    @property
    def sha1_hex(self) -> str:
        """The thumbprint MSAL's `client_credential={"thumbprint": ...}` takes."""
        return self.certificate.fingerprint(hashes.SHA1()).hex()  # noqa: S303

    def assertion(
        self,
        client_id: str,
        audience: str,
        *,
        lifetime: float = 600,
        issued_at: float | None = None,
        sha256: bool = False,
        claims: dict[str, object] | None = None,
        key: PrivateKey | None = None,
        padded: bool = False,
    ) -> str:
        """A client assertion as Entra's certificate credentials doc shows it."""
        now = time.time() if issued_at is None else issued_at
        payload: dict[str, object] = {
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": str(uuid.uuid4()),
            "nbf": int(now),
            "iat": int(now),
            "exp": int(now + lifetime),
            **(claims or {}),
        }
        digest = self.certificate.fingerprint(hashes.SHA256() if sha256 else hashes.SHA1())  # noqa: S303
        # MSAL sends the thumbprint in standard base64 with padding, not as RFC 7515 says.
        encode = base64.b64encode if padded else base64.urlsafe_b64encode
        thumbprint = encode(digest).decode().rstrip("" if padded else "=")
        header = {"x5t#S256": thumbprint} if sha256 else {"x5t": thumbprint}
        signer = key or self.key
        return jwt.encode(payload, signer, algorithm=_algorithm(signer, sha256), headers=header)


def _algorithm(key: PrivateKey, sha256: bool) -> str:
    """What MSAL signs with: RS256 with a SHA-1 thumbprint, PS256 with a SHA-256 one."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "PS256" if sha256 else "RS256"
    return "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "EdDSA"
