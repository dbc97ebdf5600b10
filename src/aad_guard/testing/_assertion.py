"""Certificate credentials: a client proves itself with a JWT signed by its certificate's key.

As Entra does (certificate credentials, RFC 7523 §2.2): `client_assertion_type` is
`urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, the header names the certificate by
its `x5t` (SHA-1) or `x5t#S256` thumbprint, `iss` and `sub` are the client id, `aud` is the
token endpoint, and `exp`/`nbf` bound it in time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ._accounts import LocalClient
from ._oauth import OAuthError

__all__ = [
    "JWT_BEARER",
    "assertion_client_id",
    "check_client_assertion",
    "load_certificate",
    "thumbprints",
]

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS = ("RS256", "PS256", "ES256")  # what MSAL and azure-identity sign with
_CLOCK_SKEW = 300  # seconds; Entra tolerates five minutes


def load_certificate(pem: bytes | str) -> x509.Certificate:
    """The first certificate in PEM text (which may hold a private key as well).

    Raises:
        ValueError: no PEM certificate in it.
    """
    data = pem.encode("ascii", errors="replace") if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)[0]
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate: {exc}") from exc


def thumbprints(certificate: x509.Certificate) -> tuple[str, str]:
    """The certificate's `x5t` and `x5t#S256`: base64url SHA-1 and SHA-256 of its DER."""
    return (
        _b64(certificate.fingerprint(hashes.SHA1())),  # noqa: S303 (a name, not a signature)
        _b64(certificate.fingerprint(hashes.SHA256())),
    )


def assertion_client_id(assertion: str) -> str:
    """The `sub` an assertion claims, unverified: the client to check it against."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise _invalid_client(
            50027, "Invalid JWT token: the client assertion is malformed."
        ) from exc
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else ""


def check_client_assertion(
    client: LocalClient,
    params: Mapping[str, str],
    *,
    audiences: Sequence[str],
    now: float,
) -> None:
    """Accept `client_assertion` if the client's certificate signed it for this endpoint.

    Raises:
        OAuthError: `invalid_request` for a wrong assertion type, `invalid_client` (401) for
            an assertion that is malformed, signed by another key, for another endpoint or
            client, or out of its time range; the description begins with Entra's AADSTS code.
    """
    if params.get("client_assertion_type") != JWT_BEARER:
        raise OAuthError(
            "invalid_request",
            90002,
            f"client_assertion_type must be {JWT_BEARER} with a client_assertion.",
        )
    assertion = params.get("client_assertion")
    if assertion is None:
        raise OAuthError("invalid_request", 90014, "client_assertion is required.")
    header = _header(assertion)
    certificate = client.certificate
    named = (header.get("x5t"), header.get("x5t#S256"))
    if certificate is None or not _names(header, certificate):
        raise _invalid_client(
            700027,
            "The certificate with identifier used to sign the client assertion is not "
            f"registered on application {client.client_id!r} (x5t {named[0]!r}, "
            f"x5t#S256 {named[1]!r}).",
        )
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise _invalid_client(700027, "The registered certificate has no RSA or EC key.")
    try:
        # Times are checked below, on the issuer's clock (a test may move it), not PyJWT's.
        claims = jwt.decode(
            assertion,
            key,
            algorithms=list(_ALGORITHMS),
            options={
                "require": ["aud", "exp", "iss", "sub"],
                "verify_aud": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise _invalid_client(700027, "Client assertion failed signature validation.") from exc
    except jwt.InvalidTokenError as exc:
        raise _invalid_client(50027, f"Invalid JWT token: {exc}.") from exc
    _check_claims(claims, client, audiences=audiences, now=now)


def _check_claims(
    claims: Mapping[str, object], client: LocalClient, *, audiences: Sequence[str], now: float
) -> None:
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise _invalid_client(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        )
    audience = claims.get("aud")
    named = audience if isinstance(audience, list) else [audience]
    if not any(item in audiences for item in named):
        raise _invalid_client(
            700027,
            f"Client assertion audience claim {audience!r} does not match the token endpoint "
            f"{audiences[0]!r}.",
        )
    expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat", now))
    if not isinstance(expires, int | float) or not isinstance(not_before, int | float):
        raise _invalid_client(50027, "Invalid JWT token: exp and nbf must be numbers.")
    if not (not_before - _CLOCK_SKEW <= now < expires + _CLOCK_SKEW):
        raise _invalid_client(
            700024,
            f"Client assertion is not within its valid time range. Current time: {now:.0f}, "
            f"assertion valid from {not_before:.0f}, expiry time of assertion {expires:.0f}.",
        )


def _names(header: Mapping[str, object], certificate: x509.Certificate) -> bool:
    """Whether the header's `x5t` or `x5t#S256` is the certificate's thumbprint.

    RFC 7515 says base64url without padding; MSAL sends standard base64 with padding, and
    Entra accepts both, so the bytes are compared.
    """
    for member, algorithm in (("x5t", hashes.SHA1()), ("x5t#S256", hashes.SHA256())):  # noqa: S303
        value = header.get(member)
        if isinstance(value, str) and _thumbprint_bytes(value) == certificate.fingerprint(
            algorithm
        ):
            return True
    return False


def _thumbprint_bytes(value: str) -> bytes | None:
    text = value.rstrip("=").replace("+", "-").replace("/", "_")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        return None


def _header(assertion: str) -> dict[str, object]:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError as exc:
        raise _invalid_client(
            50027, "Invalid JWT token: the client assertion is malformed."
        ) from exc
    return header


def _invalid_client(code: int, message: str) -> OAuthError:
    return OAuthError("invalid_client", code, message, status=401)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
