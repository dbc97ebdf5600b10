"""Minting: what a local token says (`TokenSpec`), its claims, and how it is signed.

The sign-in, the token endpoint, the mint endpoint and the ID tokens depend on the small
`Minter` protocol here, not on `LocalIssuer`, so the issuer can own them without a cycle.
Features that add claims (the token request's `claims` parameter, guest or B2C tokens) are
`ClaimRule`s given to the issuer; they see the whole `TokenSpec`, including the token
request's form (`grant_params`), and need no change here.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from jwt.algorithms import get_default_algorithms

from .._version import TokenVersion
from ._keys import LocalKey

__all__ = [
    "DEFAULT_CALLER_CLIENT_ID",
    "ClaimRule",
    "Minter",
    "TokenSpec",
    "access_token_claims",
    "sign_jws",
]

DEFAULT_CALLER_CLIENT_ID = "0c1d2e3f-0000-4000-8000-0000000c0001"
"""The client id of the application that requests the local tokens by default."""


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """What one access token should say; `LocalIssuer.token` documents each field.

    `grant_params` is the token request's form when the token endpoint mints it (empty for
    a direct `token()` call), so a `ClaimRule` can answer parameters such as `claims`.
    """

    version: TokenVersion = "2.0"
    tenant_id: str | None = None
    personal: bool = False
    scopes: tuple[str, ...] | None = ("access_as_user",)
    roles: tuple[str, ...] | None = None
    app_only: bool = False
    audience: str | None = None
    client_id: str = DEFAULT_CALLER_CLIENT_ID
    lifetime: float = 3600
    issued_at: float | None = None
    claims: Mapping[str, object] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    headers: Mapping[str, object] | None = None
    key: LocalKey | None = None
    algorithm: str = "RS256"
    grant_params: Mapping[str, str] = field(default_factory=dict)


ClaimRule = Callable[[TokenSpec, Mapping[str, object]], Mapping[str, object]]
"""Claims to add to (or replace in) a token, given its spec and its default claims.

Rules run in order after the default claims and before `TokenSpec.claims` and `remove`, so
a test's explicit claims still win.
"""


class Minter(Protocol):
    """What the sign-in and the mint endpoint need of an issuer: its identity and tokens."""

    tenant_id: str
    client_id: str
    clock: Callable[[], float]

    def resolve_tenant(self, tenant: str) -> str | None:
        """The tenant id behind a path segment: a GUID, a known domain, or a keyword."""
        ...

    def issuer(self, tenant_id: str, *, version: str = "2.0") -> str:
        """The issuer of a token of `tenant_id`."""
        ...

    def mint(self, spec: TokenSpec) -> str:
        """A signed access token as `spec` says."""
        ...

    def sign(
        self,
        payload: Mapping[str, object],
        *,
        headers: Mapping[str, object] | None = None,
        key: LocalKey | None = None,
        algorithm: str = "RS256",
    ) -> str:
        """A JWS of `payload` as it is."""
        ...


def access_token_claims(
    spec: TokenSpec, *, tenant_id: str, api_client_id: str, issuer: str, now: float
) -> dict[str, object]:
    """The default claims of an access token, as Entra puts them, before any rule.

    Args:
        spec: The token asked for.
        tenant_id: Its tenant (the spec's, or the issuer's home tenant).
        api_client_id: The API's client id, the default audience.
        issuer: Its `iss`.
        now: `iat` and `nbf` unless the spec says `issued_at`.
    """
    issued = now if spec.issued_at is None else spec.issued_at
    v2 = spec.version == "2.0"
    user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/local-user"))
    payload: dict[str, object] = {
        "aud": spec.audience or (api_client_id if v2 else f"api://{api_client_id}"),
        "iss": issuer,
        "iat": int(issued),
        "nbf": int(issued),
        "exp": int(issued + spec.lifetime),
        "tid": tenant_id,
        "oid": user_id,
        "sub": f"local-{user_id[:8]}",
        "ver": spec.version,
        "uti": uuid.uuid4().hex[:22],
    }
    payload["azp" if v2 else "appid"] = spec.client_id
    if spec.app_only:
        payload["idtyp"] = "app"
    else:
        if spec.scopes is not None:
            payload["scp"] = " ".join(spec.scopes)
        payload["name"] = "Local User"
        username = "local.user@example.com" if spec.personal else "local.user@contoso.example"
        payload["preferred_username" if v2 else "upn"] = username
    if spec.roles is not None:
        payload["roles"] = list(spec.roles)
    return payload


def sign_jws(
    header: Mapping[str, object], payload: Mapping[str, object], key: LocalKey, algorithm: str
) -> str:
    """The compact JWS of `header` and `payload`, signed with `key` by `algorithm` (RSA)."""
    segments = [_b64_json(header), _b64_json(payload)]
    signing_input = ".".join(segments).encode("ascii")
    signature = get_default_algorithms()[algorithm].sign(signing_input, key.private_key)
    return ".".join([*segments, base64.urlsafe_b64encode(signature).decode().rstrip("=")])


def _b64_json(document: Mapping[str, object]) -> str:
    data = json.dumps(document, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
