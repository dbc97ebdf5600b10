"""What the sign-in grants: checked authorization requests, and what codes and tokens stand for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._accounts import LocalClient, LocalUser
from ._claims_request import checked_claims
from ._oauth import OAuthError
from ._resource_indicator import check_resource_indicator, requested_app_id_uri
from ._scopes import delegated_scopes

__all__ = ["AuthorizationRequest", "Grant", "authorization_request"]

_PROMPTS = frozenset({"login", "none", "consent", "select_account"})
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest (RFC 7636 §4.2)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request: the API scopes and OpenID scopes it asks for."""

    client: LocalClient
    scopes: tuple[str, ...]
    oidc: frozenset[str]
    redirect_uri: str = ""
    code_challenge: str = ""
    nonce: str | None = None
    claims: str | None = None  # the `claims` request parameter, JSON
    app_id_uri: str | None = None  # the identifier URI the scopes were asked with, if not api://


@dataclass(frozen=True, slots=True)
class Grant:
    """What a code or refresh token stands for, until it is spent or expires."""

    request: AuthorizationRequest
    user: LocalUser
    expires_at: float


def authorization_request(
    params: Mapping[str, str],
    client: LocalClient,
    api_client_id: str,
    *,
    identifier_uris: Iterable[str] = (),
) -> AuthorizationRequest:
    """The checked authorization request `params` make, or the `OAuthError` to answer.

    `identifier_uris` are the API's App ID URIs besides `api://<api_client_id>`.
    """
    response_type = params.get("response_type")
    if response_type is None:
        raise OAuthError(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'response_type'.",
        )
    if response_type != "code":
        raise OAuthError("unsupported_response_type", 70005, "Only response_type=code is served.")
    challenge = params.get("code_challenge")
    if challenge is None:
        raise OAuthError("invalid_request", 900144, "PKCE is required: send a code_challenge.")
    if params.get("code_challenge_method") != "S256":
        raise OAuthError("invalid_request", 501491, "code_challenge_method must be S256.")
    if not _CHALLENGE.fullmatch(challenge):
        raise OAuthError("invalid_request", 50147, "code_challenge is not a base64url SHA-256.")
    prompt = params.get("prompt")
    if prompt is not None and prompt not in _PROMPTS:
        raise OAuthError(
            "invalid_request",
            90023,
            "prompt must be login, none, consent or select_account.",
        )
    scopes, oidc = delegated_scopes(
        params.get("scope"), api_client_id, identifier_uris=identifier_uris
    )
    check_resource_indicator(params, api_client_id, identifier_uris)
    return AuthorizationRequest(
        client,
        scopes,
        oidc,
        params["redirect_uri"],
        challenge,
        params.get("nonce"),
        checked_claims(params.get("claims")),
        requested_app_id_uri(params.get("scope", ""), identifier_uris),
    )
