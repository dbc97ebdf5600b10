"""HTTPS for the loopback issuer: a private CA and the `localhost` certificate it issues.

MSAL refuses an authority that is not https, so the loopback server can serve TLS. The CA is
generated once and kept in the cache folder, so a client (or a browser, or the OS trust
store) is told to trust it once; the server certificate is issued again whenever it nears
its expiry or no longer belongs to the CA.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._cache import CacheFolder

__all__ = ["CA_FILE", "ServerCertificate", "server_certificate"]

CA_FILE = "ca.pem"
_CA_KEY_FILE = "ca-key.pem"
_CERT_FILE = "localhost.pem"
_KEY_FILE = "localhost-key.pem"
_CA_LIFETIME = timedelta(days=3650)
# Apple platforms refuse TLS server certificates valid for more than 825 days, even from a
# private CA (support.apple.com/HT210176); a year, renewed a month before it ends.
_CERT_LIFETIME = timedelta(days=365)
_RENEW_BEFORE = timedelta(days=30)
_BACKDATE = timedelta(minutes=5)  # clocks of client and server disagree a little
_NAMES: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
    x509.IPAddress(ipaddress.IPv6Address("::1")),
)
# The CA can vouch for those names only, so its key (in the user's cache) is worth nothing
# for any other site even where the CA is trusted system-wide (RFC 5280 §4.2.1.10).
_PERMITTED: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.IPv4Network("127.0.0.1/32")),
    x509.IPAddress(ipaddress.IPv6Network("::1/128")),
)

logger = logging.getLogger("aad_guard.testing")


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """The files of the loopback server's TLS identity.

    Attributes:
        ca_path: The CA certificate (PEM) that clients are told to trust.
        cert_path: The server's certificate chain (PEM): its own, then the CA's.
        key_path: The server certificate's private key (PEM, owner-readable only).
    """

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """An `ssl.SSLContext` that serves this certificate (TLS 1.2 or later)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def server_certificate(folder: CacheFolder, *, now: datetime | None = None) -> ServerCertificate:
    """The CA and `localhost` certificate in `folder`, made or renewed when needed.

    A missing, unreadable or expiring CA is made anew (clients must then trust the new one);
    a server certificate that is expiring or was not issued by the CA is issued again.
    """
    moment = now or datetime.now(UTC)
    with folder.lock():
        ca, ca_key = _current_ca(folder, moment)
        if not _leaf_is_current(folder, ca, moment):
            key = ec.generate_private_key(ec.SECP256R1())
            leaf = _issue(ca, ca_key, key, moment)
            folder.write(_KEY_FILE, _private_pem(key), private=True)
            chain = leaf.public_bytes(serialization.Encoding.PEM) + _public_pem(ca)
            folder.write(_CERT_FILE, chain, private=False)
    return ServerCertificate(folder.file(CA_FILE), folder.file(_CERT_FILE), folder.file(_KEY_FILE))


def _current_ca(
    folder: CacheFolder, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_pem, key_pem = folder.read(CA_FILE), folder.read(_CA_KEY_FILE)
    problem = "is missing"
    if ca_pem is not None and key_pem is not None:
        try:
            ca = x509.load_pem_x509_certificate(ca_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or (
                key.public_key() != ca.public_key()
            ):
                raise ValueError("the key is not the certificate's")
        except ValueError as exc:
            problem = f"could not be read ({exc})"
        else:
            if ca.not_valid_after_utc - _RENEW_BEFORE > now:
                return ca, key
            problem = f"expires on {ca.not_valid_after_utc:%Y-%m-%d}"
    if ca_pem is not None or key_pem is not None:  # a first run needs no warning
        logger.warning(
            "The local issuer's CA in %s %s: made a new one; clients must trust %s again.",
            folder.path,
            problem,
            folder.file(CA_FILE),
        )
    key = ec.generate_private_key(ec.SECP256R1())
    ca = _new_ca(key, now)
    folder.write(_CA_KEY_FILE, _private_pem(key), private=True)
    folder.write(CA_FILE, _public_pem(ca), private=False)
    return ca, key


def _leaf_is_current(folder: CacheFolder, ca: x509.Certificate, now: datetime) -> bool:
    chain, key_pem = folder.read(_CERT_FILE), folder.read(_KEY_FILE)
    if chain is None or key_pem is None:
        return False
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
        key = serialization.load_pem_private_key(key_pem, password=None)
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, IndexError, InvalidSignature):
        return False  # corrupt, or the CA changed: issue again (quietly: the CA message says)
    return key.public_key() == leaf.public_key() and leaf.not_valid_after_utc - _RENEW_BEFORE > now


def _new_ca(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aad-guard"),
            x509.NameAttribute(NameOID.COMMON_NAME, "aad-guard local issuer CA"),
        ]
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CA_LIFETIME)
        # It issues server certificates for loopback names and nothing else (RFC 5280).
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(
            x509.NameConstraints(permitted_subtrees=list(_PERMITTED), excluded_subtrees=None),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + _CERT_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(list(_NAMES)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)
