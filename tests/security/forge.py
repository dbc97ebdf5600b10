"""The attacker's workbench: forged tokens, raw segments and raw requests for the corpus."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import get_default_algorithms

from aad_guard.testing import LocalIssuer, LocalKey
from tests.helpers import b64

# The scope the guarded route requires: a forged token always asks for it, so that a
# forgery that got through would be answered 200, never a 403 that hides the forgery.
SCOPE = "Tasks.Read"
OTHER_TENANT_ID = "0e2f7b61-0000-4000-8000-00000000beef"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@functools.cache
def _private_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def attacker_key(kid: str = "attacker-key") -> LocalKey:
    """A key the identity provider never published, as an attacker would hold."""
    return LocalKey(kid, _private_key(2048))


def weak_key(kid: str = "weak-key") -> LocalKey:
    """A 1024-bit RSA key: factorable in principle, below the 2048 bits RFC 7518 §3.3 requires."""
    return LocalKey(kid, _private_key(1024))


@dataclass(frozen=True, slots=True)
class Probe:
    """One raw HTTP request: any `Authorization` headers, path, query string or body."""

    headers: tuple[tuple[bytes, bytes], ...] = ()
    path: str = "/tasks"
    query: str = ""
    body: bytes = b""
    method: str = "GET"

    @classmethod
    def authorization(cls, *values: str | bytes) -> Probe:
        """A request with these `Authorization` header values, as raw as sent."""
        return cls(tuple((b"authorization", _raw(v)) for v in values))


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def json_text(members: Sequence[tuple[str, str]]) -> str:
    """A JSON object from (name, raw JSON value) pairs, as written: duplicates stay."""
    return "{" + ",".join(f"{json.dumps(name)}:{value}" for name, value in members) + "}"


class Forge:
    """Builds hostile tokens against one `LocalIssuer`, each otherwise valid.

    Every token asks for `SCOPE`, lives long and is addressed to the API, so that the one
    defect a case plants is the only reason to refuse it.
    """

    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        self.attacker = attacker_key()

    def token(self, **options: object) -> str:
        """A token minted by the issuer (`LocalIssuer.token` options)."""
        options.setdefault("scopes", (SCOPE,))
        options.setdefault("lifetime", 86400)
        return self.issuer.token(**options)  # type: ignore[arg-type]

    def claims(self, **changes: object) -> dict[str, object]:
        """The claims of a valid token, with `changes`."""
        payload = _decode(self.token(), 1)
        payload.update(changes)
        return payload

    def header(self, **changes: object) -> dict[str, object]:
        """The header of a valid token, with `changes`."""
        header = _decode(self.token(), 0)
        header.update(changes)
        return header

    def head_text(self) -> str:
        """The JSON text of a minimal header naming the signing key: `alg` RS256 and `kid`."""
        return json.dumps({"alg": "RS256", "kid": self.kid})

    def signed(self, header_text: str | bytes, payload_text: str | bytes) -> str:
        """Raw header and payload bytes, signed RS256 by the issuer's signing key."""
        segments = f"{b64(_raw_utf8(header_text))}.{b64(_raw_utf8(payload_text))}"
        signature = get_default_algorithms()["RS256"].sign(
            segments.encode("ascii"), self.issuer.keys.signing.private_key
        )
        return f"{segments}.{b64(signature)}"

    def with_claims_text(self, *members: tuple[str, str]) -> str:
        """A signed token whose payload is the valid claims with raw JSON `members` after."""
        claims = [(name, json.dumps(value)) for name, value in self.claims().items()]
        names = {name for name, _ in members}
        kept = [(name, value) for name, value in claims if name not in names]
        return self.signed(json.dumps(self.header()), json_text([*kept, *members]))

    def with_header_text(self, *members: tuple[str, str]) -> str:
        """A signed token whose header is the valid header with raw JSON `members` after."""
        header = [(name, json.dumps(value)) for name, value in self.header().items()]
        names = {name for name, _ in members}
        kept = [(name, value) for name, value in header if name not in names]
        return self.signed(json_text([*kept, *members]), json.dumps(self.claims()))

    def by_attacker(self, *, kid: str | None = None, **header: object) -> str:
        """Signed by the attacker's key; names the issuer's signing key unless `kid` is given."""
        return self.issuer.sign(
            self.claims(),
            headers={"kid": kid or self.issuer.keys.signing.kid, **header},
            key=self.attacker,
        )

    def hmac(self, secret: bytes, *, alg: str = "HS256", **header: object) -> str:
        """An HMAC token keyed with `secret` (an algorithm-confusion attempt)."""
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        head = {"alg": alg, "typ": "JWT", "kid": self.issuer.keys.signing.kid, **header}
        segments = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(self.claims()).encode())}"
        mac = hmac.new(secret, segments.encode("ascii"), digest[alg]).digest()
        return f"{segments}.{b64(mac)}"

    def unsigned(self, alg: object, signature: str = "") -> str:
        """A token with header `alg` and the given signature segment (by default none)."""
        head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": self.kid}).encode())
        return f"{head}.{b64(json.dumps(self.claims()).encode())}.{signature}"

    def public_pem(self) -> bytes:
        """The signing key's public key as PEM: what alg-confusion attacks use as a secret."""
        return self.issuer.keys.signing.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_jwk(self) -> dict[str, object]:
        """The signing key's public JWK, as the JWKS publishes it."""
        return self.issuer.keys.signing.public_jwk()

    @property
    def kid(self) -> str:
        return self.issuer.keys.signing.kid

    def alter_jwk(self, kid: str, **members: object) -> None:
        """Serve key `kid` in the JWKS with `members` changed from now on."""
        original = self.issuer.keys.jwks

        def altered(*, app_id: str | None = None) -> dict[str, list[dict[str, object]]]:
            document = original(app_id=app_id)
            for jwk in document["keys"]:
                if jwk["kid"] == kid:
                    jwk.update(members)
            return document

        self.issuer.keys.jwks = altered  # type: ignore[method-assign]


def _raw_utf8(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _decode(token: str, index: int) -> dict[str, object]:
    segment = token.split(".")[index]
    value: dict[str, object] = json.loads(base64.urlsafe_b64decode(segment + "=="))
    return value


def replace_segment(token: str, index: int, segment: str) -> str:
    """`token` with segment `index` (0 header, 1 payload, 2 signature) replaced."""
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)
