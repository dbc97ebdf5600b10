"""What the sign-in grants: checked authorization requests, and what codes and tokens stand for."""

from __future__ import annotations

from dataclasses import dataclass

from ._accounts import LocalClient, LocalUser

__all__ = ["AuthorizationRequest", "Grant"]


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request: the API scopes and OpenID scopes it asks for."""

    client: LocalClient
    scopes: tuple[str, ...]
    oidc: frozenset[str]
    redirect_uri: str = ""
    code_challenge: str = ""
    nonce: str | None = None
    app_id_uri: str | None = None  # the identifier URI the scopes were asked with, if not api://


@dataclass(frozen=True, slots=True)
class Grant:
    """What a code or refresh token stands for, until it is spent or expires."""

    request: AuthorizationRequest
    user: LocalUser
    expires_at: float
