"""The error tree, with the stable reason code each failure is known by.

Longer than 400 lines because it is the whole tree, one class per reason code, in the one
public module users import them from.

```
AADGuardError
├── TokenError                      401 invalid_token
│   ├── MalformedTokenError         malformed_token
│   ├── TokenTooLargeError          token_too_large
│   ├── UnsupportedAlgorithmError   unsupported_algorithm
│   ├── CriticalHeaderError         unsupported_crit_header
│   ├── MissingKeyIdError           missing_kid
│   ├── GraphTokenError             graph_token
│   ├── UnknownKeyError             unknown_kid
│   ├── InvalidSignatureError       invalid_signature
│   ├── KeyIssuerMismatchError      key_issuer_mismatch
│   ├── MissingClaimError           missing_claim
│   ├── InvalidClaimError           invalid_claim
│   ├── TokenExpiredError           token_expired
│   ├── TokenNotYetValidError       token_not_yet_valid
│   ├── InvalidAudienceError        invalid_audience
│   ├── InvalidIssuerError          invalid_issuer
│   ├── VersionMismatchError        version_mismatch
│   ├── NotAnAccessTokenError       not_an_access_token
│   ├── NoScopesOrRolesError        no_scopes_or_roles
│   ├── TenantNotAllowedError       tenant_not_allowed
│   ├── UserFlowNotAllowedError     user_flow_not_allowed
│   └── TokenRevokedError           token_revoked (401 insufficient_claims to a cp1 client)
├── AuthContextChallengeError       401 insufficient_claims, auth_context_challenge
├── MissingTokenError               401 missing_token (a challenge without an error)
├── InvalidRequestError             400 invalid_request
│   ├── MalformedAuthorizationError malformed_authorization
│   └── DuplicateAuthorizationError duplicate_authorization
├── InsufficientScopeError          403 insufficient_scope
│   ├── GuestNotAllowedError        guest_not_allowed
│   ├── ClientNotAllowedError       client_not_allowed
│   ├── GroupsOverageError          groups_overage
│   └── NotInGroupError             not_in_group
├── AuthContextRequiredError        403 insufficient_user_authentication, auth_context_required
├── KeysUnavailableError            503 keys_unavailable
└── RevocationUnavailableError      503 revocation_unavailable (on_revocation_failure="refuse")
```

Messages name the claim and show values with `!r`; they never contain a token, a
signature or a key. `description` is a fixed phrase per class, safe to send to clients.
"""

from collections.abc import Iterable

__all__ = [
    "AADGuardError",
    "AuthContextChallengeError",
    "AuthContextRequiredError",
    "ClientNotAllowedError",
    "CriticalHeaderError",
    "DuplicateAuthorizationError",
    "GraphTokenError",
    "GroupsOverageError",
    "GuestNotAllowedError",
    "InsufficientScopeError",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidIssuerError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "KeyIssuerMismatchError",
    "KeysUnavailableError",
    "MalformedAuthorizationError",
    "MalformedTokenError",
    "MissingClaimError",
    "MissingKeyIdError",
    "MissingTokenError",
    "NoScopesOrRolesError",
    "NotAnAccessTokenError",
    "NotInGroupError",
    "RevocationUnavailableError",
    "TenantNotAllowedError",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenRevokedError",
    "TokenTooLargeError",
    "UnknownKeyError",
    "UnsupportedAlgorithmError",
    "UserFlowNotAllowedError",
    "VersionMismatchError",
]


class AADGuardError(Exception):
    """Base of every error aad_guard raises about a token or its keys.

    Attributes:
        status_code: The HTTP status an API should answer with.
        error: The RFC 6750 error code (`None` when the challenge carries none).
        reason: A stable machine-readable code, safe to log and to match on.
        description: A fixed phrase for clients; never echoes the token or its claims.
        tenant_id: The token's tenant, when it was a well-formed tenant id; for logs.
        kid: The key id the token named, when it got that far; for logs.
    """

    status_code: int = 401
    error: str | None = "invalid_token"
    reason: str = "invalid_token"
    description: str = "The access token is invalid."

    def __init__(
        self, message: str | None = None, *, tenant_id: str | None = None, kid: str | None = None
    ) -> None:
        super().__init__(message or self.description)
        self.tenant_id = tenant_id
        self.kid = kid

    @property
    def message(self) -> str:
        """The detailed message: for logs and developers, not for clients."""
        return str(self.args[0])


class TokenError(AADGuardError):
    """The token cannot be accepted: answer 401 `invalid_token` (RFC 6750 §3.1)."""


class MalformedTokenError(TokenError):
    """The token is not a well-formed compact JWS with JSON-object header and payload."""

    reason = "malformed_token"
    description = "The access token is malformed."


class TokenTooLargeError(TokenError):
    """The token is longer than `max_token_length`; it was not decoded."""

    reason = "token_too_large"
    description = "The access token is too large."


class UnsupportedAlgorithmError(TokenError):
    """The header's `alg` is not one of `allowed_algorithms`."""

    reason = "unsupported_algorithm"
    description = "The access token is signed with an algorithm that is not accepted."


class CriticalHeaderError(TokenError):
    """The header has a `crit` member, whose extensions aad_guard does not implement."""

    reason = "unsupported_crit_header"
    description = "The access token uses critical header extensions that are not supported."


class MissingKeyIdError(TokenError):
    """The header names no signing key (`kid`, or `x5t` in old v1 tokens)."""

    reason = "missing_kid"
    description = "The access token does not name its signing key."


class GraphTokenError(TokenError):
    """The token was issued for Microsoft Graph; only Graph itself can validate it.

    Its header carries a `nonce`, so its signature never verifies for a third party. The
    client should request a token for this API's scopes instead.
    """

    reason = "graph_token"
    description = (
        "The access token was issued for Microsoft Graph; request a token for this API instead."
    )


class UnknownKeyError(TokenError):
    """No key in the issuer's current key set has the token's key id."""

    reason = "unknown_kid"
    description = "The access token is signed with an unknown key."


class InvalidSignatureError(TokenError):
    """The signature does not verify with the key the token names."""

    reason = "invalid_signature"
    description = "The access token signature is invalid."


class KeyIssuerMismatchError(TokenError):
    """The signing key is bound (its JWK `issuer`) to another issuer than the token's."""

    reason = "key_issuer_mismatch"
    description = "The access token is signed with a key of another issuer."


class _ClaimError(TokenError):
    """A refusal about one claim, which it names in `claim`."""

    _message = "The token's {claim!r} claim is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        claim: str,
        tenant_id: str | None = None,
        kid: str | None = None,
    ) -> None:
        super().__init__(message or self._message.format(claim=claim), tenant_id=tenant_id, kid=kid)
        self.claim = claim


class MissingClaimError(_ClaimError):
    """A required claim is absent."""

    reason = "missing_claim"
    description = "The access token lacks a required claim."
    _message = "The token has no {claim!r} claim."


class InvalidClaimError(_ClaimError):
    """A claim has the wrong type or an impossible value."""

    reason = "invalid_claim"
    description = "The access token has an invalid claim."


class TokenExpiredError(TokenError):
    """`exp` plus the allowed clock skew is in the past."""

    reason = "token_expired"
    description = "The access token has expired."


class TokenNotYetValidError(TokenError):
    """`nbf` minus the allowed clock skew is in the future."""

    reason = "token_not_yet_valid"
    description = "The access token is not valid yet."


class InvalidAudienceError(TokenError):
    """`aud` is not one of the API's audiences."""

    reason = "invalid_audience"
    description = "The access token was issued for another audience."


class InvalidIssuerError(TokenError):
    """`iss` is not the configured cloud's issuer for the token's tenant."""

    reason = "invalid_issuer"
    description = "The access token was issued by an issuer that is not accepted."


class VersionMismatchError(TokenError):
    """`ver` is not the version of the issuer form the token carries."""

    reason = "version_mismatch"
    description = "The access token version is not accepted."


class NotAnAccessTokenError(TokenError):
    """The token names no client application (`azp`/`appid`): an ID token, most likely."""

    reason = "not_an_access_token"
    description = "The token is not an access token."


class NoScopesOrRolesError(TokenError):
    """The access token carries neither `scp` nor `roles`."""

    reason = "no_scopes_or_roles"
    description = "The access token carries no scopes or roles."


class TenantNotAllowedError(TokenError):
    """The tenant policy refuses the token's tenant."""

    reason = "tenant_not_allowed"
    description = "The access token's tenant is not allowed to call this API."


class UserFlowNotAllowedError(TokenError):
    """The B2C token's user flow (`tfp`/`acr`) is not one of `allowed_user_flows`."""

    reason = "user_flow_not_allowed"
    description = "The access token was issued by a user flow that is not accepted."


class MissingTokenError(AADGuardError):
    """The request carries no bearer token: a challenge without an error (RFC 6750 §3.1)."""

    error = None
    reason = "missing_token"
    description = "An access token is required."


class InvalidRequestError(AADGuardError):
    """The `Authorization` header is malformed: answer 400 `invalid_request` (RFC 6750 §3.1)."""

    status_code = 400
    error = "invalid_request"
    reason = "invalid_request"
    description = "The request is malformed."


class MalformedAuthorizationError(InvalidRequestError):
    """The `Authorization` header is not `Bearer` followed by one token."""

    reason = "malformed_authorization"
    description = "The Authorization header must be 'Bearer' followed by one token."


class DuplicateAuthorizationError(InvalidRequestError):
    """The request has more than one `Authorization` header."""

    reason = "duplicate_authorization"
    description = "The request must carry exactly one Authorization header."


class InsufficientScopeError(AADGuardError):
    """The token is valid but lacks every scope or role the route accepts (RFC 6750 §3.1).

    Attributes:
        scopes: The scopes the route accepts, any one of which would do.
        roles: The app roles the route accepts, any one of which would do.
    """

    status_code = 403
    error = "insufficient_scope"
    reason = "insufficient_scope"
    description = "The access token does not grant the scope or role this request requires."

    def __init__(
        self,
        message: str | None = None,
        *,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.scopes = tuple(scopes)
        self.roles = tuple(roles)


class _ForbiddenTokenError(InsufficientScopeError):
    """A valid token whose caller this API does not admit, whatever its scopes (403)."""

    def __init__(
        self, message: str | None = None, *, tenant_id: str | None = None, kid: str | None = None
    ) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.kid = kid


class GuestNotAllowedError(_ForbiddenTokenError):
    """The token is valid, but its user is a guest and `allow_guest_users` is `False`."""

    reason = "guest_not_allowed"
    description = "Guest users are not allowed to call this API."


class ClientNotAllowedError(_ForbiddenTokenError):
    """The token is valid, but its client (`azp`/`appid`) is not in `allowed_client_ids`."""

    reason = "client_not_allowed"
    description = "The calling application is not allowed to call this API."


class GroupsOverageError(InsufficientScopeError):
    """The route requires groups, the token is in groups overage and no resolver is given."""

    reason = "groups_overage"
    description = (
        "The access token has too many groups to list them, and this API cannot look them up."
    )


class NotInGroupError(InsufficientScopeError):
    """The caller is in none of the groups the route requires."""

    reason = "not_in_group"
    description = "The caller is not in a group this request requires."


class KeysUnavailableError(AADGuardError):
    """No usable signing keys: the identity provider could not be reached or answered badly.

    Not the client's fault, so the API answers 503 with `Retry-After`, never 401.

    Attributes:
        retry_after: Seconds after which a retry may succeed (at least 1).
    """

    status_code = 503
    error = "temporarily_unavailable"
    reason = "keys_unavailable"
    description = "The token signing keys are temporarily unavailable; retry later."

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(-(-retry_after // 1)))


class TokenRevokedError(TokenError):
    """The application revoked the user, the token (`uti`) or the client app since it was issued.

    To a client that handles claims challenges (`xms_cc` holds `cp1`) this is answered as
    401 `insufficient_claims` with `claims` asking for a token valid from the second after
    the revocation (`nbf`), so it skips its cached token and asks Entra for a new one; to
    others, as 401 `invalid_token`.

    Attributes:
        revoked_at: When the revocation took effect, in UNIX seconds (`None`: not said).
        claims: The challenge's base64 claims request, or `None` for a client without `cp1`.
    """

    reason = "token_revoked"
    description = "The access token has been revoked."

    def __init__(
        self,
        message: str | None = None,
        *,
        revoked_at: float | None = None,
        claims: str | None = None,
        tenant_id: str | None = None,
        kid: str | None = None,
    ) -> None:
        super().__init__(message, tenant_id=tenant_id, kid=kid)
        self.revoked_at = revoked_at
        self.claims = claims
        if claims is not None:
            self.error = "insufficient_claims"


class AuthContextChallengeError(AADGuardError):
    """The operation needs a Conditional Access authentication context the token lacks.

    Answered 401 `insufficient_claims` with `claims` asking for `acrs` to hold `context_id`
    and `cc_type="authcontext"`; the client (which declared `cp1`) gets a new token from
    Entra after the user meets the context's policy (MFA, a compliant device, ...).

    Attributes:
        context_id: The authentication context id, `c1` to `c99`.
        claims: The challenge's base64 claims request.
    """

    error = "insufficient_claims"
    reason = "auth_context_challenge"
    description = (
        "This operation requires a stronger authentication: request a new token with the "
        "claims of the challenge."
    )

    def __init__(self, message: str | None = None, *, context_id: str, claims: str) -> None:
        super().__init__(message)
        self.context_id = context_id
        self.claims = claims


class AuthContextRequiredError(AADGuardError):
    """The operation needs an authentication context, and the client cannot be challenged.

    A client that did not declare the `cp1` capability cannot handle a claims challenge, so
    it gets 403 with a description of what is required and no claims request.

    Attributes:
        context_id: The authentication context id the operation requires.
    """

    status_code = 403
    error = "insufficient_user_authentication"
    reason = "auth_context_required"
    description = "This operation requires a Conditional Access authentication context."

    def __init__(self, message: str | None = None, *, context_id: str) -> None:
        super().__init__(message)
        self.context_id = context_id
        self.description = (
            f"This operation requires Conditional Access authentication context "
            f"{context_id!r}, which the access token does not carry (no 'acrs' claim with "
            "it). The calling application did not declare the client capability 'cp1', so it "
            "cannot be challenged for it: sign in with an application that declares 'cp1' "
            "(MSAL's client_capabilities) and meets the context's policy."
        )


class RevocationUnavailableError(AADGuardError):
    """The revocation store could not be read in time, and the API refuses rather than admit.

    Only with `on_revocation_failure="refuse"`; answered 503 with `Retry-After`.

    Attributes:
        retry_after: Seconds after which a retry may succeed (at least 1).
    """

    status_code = 503
    error = "temporarily_unavailable"
    reason = "revocation_unavailable"
    description = "The token revocation list is temporarily unavailable; retry later."
    retry_after = 1


# Imported for the annotations above (evaluated already): not one of this module's names.
del Iterable
