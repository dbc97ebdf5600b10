"""The validator's checks: named functions, run in the order of `CHECKS`, cheap ones first.

Longer than 400 lines because it is the one ordered list of checks with each check's function
beside it: split, a check would be read apart from its place in the order. The
flavour-specific checks are in `_flavour_checks`.

`TokenValidator` runs every check of `CHECKS` on a `Candidate`, the token under check, until
one raises; `aad-guard token check` walks the same list to explain a verdict. A check reads
what earlier checks learnt from the candidate, adds what it learns, and refuses the token by
raising a `TokenError` built with the candidate's `evidence`.

To add a check: write `def _check_x(token: Candidate, context: CheckContext) -> None` (or
`async def`), put a `Check` for it into `CHECKS` where it belongs, with the reason codes its
errors carry and the claims whose `MissingClaimError`/`InvalidClaimError` it raises. A new
reason code is a new class in `aad_guard.errors`, declared by exactly one check here (a check
that raises an earlier check's code, as `tenant_policy` does, leaves it to that one);
tests/test_checks.py fails until it is. `on_cache_hit` says whether the check runs again
when a verified token is served from the cache; `applies` whether a validator runs it at all
(a check of an optional setting). A refusal the CLI can look past gets a case in
`cli/_diagnosis._relax`.
"""

import inspect
import math
from collections.abc import Mapping
from typing import Final, cast

from ._candidate import Candidate, Check, CheckContext, Evidence
from ._flavour_checks import (
    check_client,
    check_named_metadata_issuer,
    check_user_flow,
    refuse_guest,
)
from ._policy import TenantPolicy
from ._principal import LIST_CLAIMS
from ._revocation_check import check_revocation
from ._tenant import ISSUER_PLACEHOLDER, is_guid
from ._version import CLIENT_CLAIM, TokenVersion
from .errors import (
    AADGuardError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidSignatureError,
    KeyIssuerMismatchError,
    MissingClaimError,
    NoScopesOrRolesError,
    NotAnAccessTokenError,
    TenantNotAllowedError,
    TokenExpiredError,
    TokenNotYetValidError,
    UnknownKeyError,
    VersionMismatchError,
)

__all__ = ["CHECKS", "refused_by"]

# The string claims the Principal reads besides `scp` and the client claim; each must be a
# string when present (Entra access-token reference), so none is silently read as absent.
_PRINCIPAL_STRING_CLAIMS = (
    "oid",
    "sub",
    "idtyp",
    "name",
    "preferred_username",
    "upn",
    "unique_name",
)


def _read(token: Candidate, context: CheckContext) -> None:
    """Parse the compact JWS and apply the header rules (rules 1-7)."""
    token.jws, token.key_ref = context.reader.read(token.token)
    token.claims = token.jws.payload
    tenant_id = token.claims.get("tid")
    token.evidence = Evidence(
        tenant_id=tenant_id if is_guid(tenant_id) else None, kid=token.key_ref.value
    )


def _read_time_claims(token: Candidate, _context: CheckContext) -> None:
    """`exp` (required), `nbf` and `iat` are numbers, and `nbf` is not after `exp`."""
    claims, evidence = token.claims, token.evidence
    exp = _time_claim(claims, "exp", evidence)
    if exp is None:
        raise MissingClaimError(claim="exp", **evidence)
    nbf = _time_claim(claims, "nbf", evidence)
    _time_claim(claims, "iat", evidence)
    if nbf is not None and nbf > exp:
        raise InvalidClaimError("The token's 'nbf' is after its 'exp'.", claim="nbf", **evidence)
    token.exp, token.nbf = exp, nbf


def _check_lifetime(token: Candidate, context: CheckContext) -> None:
    """`exp` and `nbf` against the clock, with `clock_skew` (rule 16)."""
    exp, nbf = token.exp, token.nbf
    now, skew = context.settings.now(), context.settings.clock_skew
    if exp <= now - skew:
        raise TokenExpiredError(
            f"The token expired at {exp!r}; the time is {now!r}.", **token.evidence
        )
    if nbf is not None and nbf > now + skew:
        raise TokenNotYetValidError(
            f"The token is valid from {nbf!r}; the time is {now!r}.", **token.evidence
        )


def _check_audience(token: Candidate, context: CheckContext) -> None:
    """`aud` is one of the API's audiences (a one-element list counts as its element)."""
    claims, audiences = token.claims, context.settings.audiences
    if "aud" not in claims:
        raise MissingClaimError(claim="aud", **token.evidence)
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if not isinstance(aud, str) or aud not in audiences:
        raise InvalidAudienceError(
            f"The token's audience {aud!r} is not one of {sorted(audiences)!r}.", **token.evidence
        )


def _check_tenant_and_issuer_claims(token: Candidate, context: CheckContext) -> None:
    """`tid` is a tenant id and `iss` a string, before any key is fetched for them."""
    claims, evidence = token.claims, token.evidence
    # A B2C token's tenant is its issuer's path: the issuer step fills it in (`""` till then).
    required = ("iss",) if context.flavour.tid_optional else ("tid", "iss")
    for name in required:
        if name not in claims:
            raise MissingClaimError(claim=name, **evidence)
    tenant_id, issuer = claims.get("tid", ""), claims["iss"]
    if "tid" in claims and not is_guid(tenant_id):
        raise InvalidClaimError(
            f"The token's 'tid' {tenant_id!r} is not a GUID.", claim="tid", **evidence
        )
    if not isinstance(issuer, str):
        raise InvalidClaimError(
            f"The token's 'iss' {issuer!r} is not a string.", claim="iss", **evidence
        )
    token.tenant_id, token.issuer = tenant_id if is_guid(tenant_id) else "", issuer


async def _fetch_keys(token: Candidate, context: CheckContext) -> None:
    """The current metadata and key set; waits for a fetch only when none is usable."""
    token.snapshot = context.keys.current() or await context.keys.snapshot()


def _check_issuer(token: Candidate, context: CheckContext) -> None:
    """`iss` must be the metadata's issuer for `tid`, exactly; `ver` must match its form."""
    if context.settings.metadata_url is not None:
        check_named_metadata_issuer(token, context)
        return
    snapshot, tenant_id, issuer = token.snapshot, token.tenant_id, token.issuer
    version: TokenVersion
    if issuer == snapshot.issuer_v2.for_tenant(tenant_id):
        version = "2.0"
    elif snapshot.issuer_v1 is not None and issuer == snapshot.issuer_v1.for_tenant(tenant_id):
        version = "1.0"
    else:
        raise InvalidIssuerError(
            f"The token's issuer {issuer!r} is not the issuer of tenant {tenant_id!r}.",
            **token.evidence,
        )
    if "ver" not in token.claims:
        raise MissingClaimError(claim="ver", **token.evidence)
    ver = token.claims["ver"]
    if ver != version:
        raise VersionMismatchError(
            f"The token's 'ver' {ver!r} does not match its v{version} issuer.", **token.evidence
        )
    token.version = version


def _check_token_type(token: Candidate, context: CheckContext) -> None:
    """An access token names its client, and carries scopes or roles (rule 21)."""
    claims, evidence = token.claims, token.evidence
    # JSON `null` is a value of the wrong type, never an absent claim: `"scp": null`
    # must not turn a user's token into an app-only one.
    scp = _optional_string(claims, "scp", evidence)
    has_roles = "roles" in claims
    for name in ("roles", *LIST_CLAIMS):
        value = claims.get(name, [])
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise InvalidClaimError(
                f"The token's {name!r} is not a list of strings: {value!r}.", claim=name, **evidence
            )
    client_claim = CLIENT_CLAIM[token.version]
    client = _optional_string(claims, client_claim, evidence)
    for name in _PRINCIPAL_STRING_CLAIMS:
        _optional_string(claims, name, evidence)
    settings = context.settings
    if client is None and not settings.accept_id_tokens:
        raise NotAnAccessTokenError(
            f"The token has no {client_claim!r} claim: an ID token, not an access token. "
            "Send an access token requested for this API's scope.",
            **evidence,
        )
    if scp is None and not has_roles and client is not None and not settings.allow_acl_tokens:
        raise NoScopesOrRolesError("The access token has neither 'scp' nor 'roles'.", **evidence)


def _check_tenant(token: Candidate, context: CheckContext) -> None:
    """The configured `tenant` and `allowed_tenants` admit `tid`."""
    settings, tenant_id = context.settings, token.tenant_id
    allowed = settings.allowed_tenants
    resolved = token.snapshot.issuer_v2.tenant_id
    if (allowed is not None and tenant_id not in allowed) or not settings.tenant.admits(
        tenant_id, resolved_tenant_id=resolved
    ):
        raise TenantNotAllowedError(
            f"Tenant {token.tenant_id!r} is not allowed by the tenant setting.", **token.evidence
        )


async def _find_signing_key(token: Candidate, context: CheckContext) -> None:
    """The key the header names; keys roll over without notice, so an unknown one refetches."""
    key = token.snapshot.find(token.key_ref)
    if key is None:
        # Look once more, unless that was done just now.
        refreshed = await context.keys.refetch_for_unknown_key()
        key = refreshed.find(token.key_ref) if refreshed is not None else None
        if refreshed is None or key is None:
            raise UnknownKeyError(
                f"No signing key has id {token.key_ref.value!r}.", **token.evidence
            )
        token.snapshot = refreshed
    token.key = key


def _check_key_binding(token: Candidate, _context: CheckContext) -> None:
    """A key with an `issuer` member signs only for that issuer (rule 19)."""
    key, issuer, tenant_id = token.key, token.issuer, token.tenant_id
    if key.issuer is None:
        return
    bound = key.issuer.replace(ISSUER_PLACEHOLDER, tenant_id)
    v2_form = issuer if token.version == "2.0" else token.snapshot.issuer_v2.for_tenant(tenant_id)
    if bound not in (issuer, v2_form):
        raise KeyIssuerMismatchError(
            f"Key {key.kid!r} is bound to issuer {key.issuer!r}, not to {issuer!r}.",
            **token.evidence,
        )


def _verify_signature(token: Candidate, context: CheckContext) -> None:
    """The signature verifies with the key, under an allowed algorithm the key admits."""
    jws, key = token.jws, token.key
    alg = jws.header["alg"]
    algorithm = context.algorithms[alg] if isinstance(alg, str) else None
    if algorithm is None or (key.algorithm is not None and key.algorithm != alg):
        raise InvalidSignatureError(
            f"Key {key.kid!r} is not for algorithm {alg!r}.", **token.evidence
        )
    if not algorithm.verify(jws.signing_input, key.public_key, jws.signature):
        raise InvalidSignatureError(
            f"The signature does not verify with key {key.kid!r}.", **token.evidence
        )


async def _apply_tenant_policy(token: Candidate, context: CheckContext) -> None:
    """The `tenant_policy` callable, if any, admits the verified token's tenant."""
    policy = cast("TenantPolicy", context.settings.tenant_policy)  # `applies` saw to it
    verdict = policy(token.tenant_id, token.issuer, token.claims)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    if verdict is not True:
        raise TenantNotAllowedError(
            f"Tenant {token.tenant_id!r} is refused by the tenant policy.", **token.evidence
        )


CHECKS: Final[tuple[Check, ...]] = (
    Check(
        "format",
        "Token format and header",
        _read,
        reasons=frozenset(
            {
                "malformed_token",
                "token_too_large",
                "unsupported_algorithm",
                "unsupported_crit_header",
                "missing_kid",
                "graph_token",
            }
        ),
    ),
    Check(
        "time_claims",
        "Time claims (exp, nbf, iat)",
        _read_time_claims,
        claims=frozenset({"exp", "nbf", "iat"}),
        part_of="lifetime",
    ),
    Check(
        "lifetime",
        "Lifetime (exp, nbf)",
        _check_lifetime,
        reasons=frozenset({"token_expired", "token_not_yet_valid"}),
        on_cache_hit="forget",
    ),
    Check(
        "audience",
        "Audience (aud)",
        _check_audience,
        reasons=frozenset({"invalid_audience"}),
        claims=frozenset({"aud"}),
    ),
    # `tid` and `iss` are read before the keys are fetched; the issuer step judges them.
    Check(
        "tenant_and_issuer_claims",
        "Tenant and issuer claims (tid, iss)",
        _check_tenant_and_issuer_claims,
        claims=frozenset({"tid", "iss"}),
        part_of="issuer",
    ),
    Check(
        "keys",
        "Metadata and signing keys fetched",
        _fetch_keys,
        reasons=frozenset({"keys_unavailable"}),
    ),
    Check(
        "issuer",
        "Issuer (iss, tid, ver)",
        _check_issuer,
        reasons=frozenset({"invalid_issuer", "version_mismatch"}),
        claims=frozenset({"ver"}),
    ),
    Check(
        "token_type",
        "Access token (azp/appid, scp/roles)",
        _check_token_type,
        reasons=frozenset({"not_an_access_token", "no_scopes_or_roles"}),
        claims=frozenset(
            {"scp", "roles", *LIST_CLAIMS, *CLIENT_CLAIM.values(), *_PRINCIPAL_STRING_CLAIMS}
        ),
    ),
    Check(
        "user_flow",
        "User flow (tfp, acr)",
        check_user_flow,
        reasons=frozenset({"user_flow_not_allowed"}),
        applies=lambda settings: settings.allowed_user_flows is not None,
    ),
    Check("tenant", "Tenant allowed", _check_tenant, reasons=frozenset({"tenant_not_allowed"})),
    Check(
        "signing_key",
        "Signing key found",
        _find_signing_key,
        reasons=frozenset({"unknown_kid"}),
    ),
    Check(
        "key_binding",
        "Signing key bound to the issuer",
        _check_key_binding,
        reasons=frozenset({"key_issuer_mismatch"}),
        part_of="signing_key",
    ),
    Check(
        "signature",
        "Signature",
        _verify_signature,
        reasons=frozenset({"invalid_signature"}),
    ),
    # After the signature: a policy sees only claims that are proven. It shares the
    # tenant step's reason code, so the `tenant` check is the one `refused_by` names.
    Check(
        "tenant_policy",
        "Tenant policy",
        _apply_tenant_policy,
        part_of="tenant",
        applies=lambda settings: settings.tenant_policy is not None,
        on_cache_hit="repeat",
    ),
    # After the signature too: a 403 is for a proven caller, never for a forged token.
    Check(
        "client",
        "Client application allowed (azp, appid)",
        check_client,
        reasons=frozenset({"client_not_allowed"}),
        applies=lambda settings: settings.allowed_client_ids is not None,
    ),
    Check(
        "guest",
        "Guest user (idp, acct)",
        refuse_guest,
        reasons=frozenset({"guest_not_allowed"}),
        applies=lambda settings: not settings.allow_guest_users,
    ),
    # Last and on every hit (docs/stepup.md); never in the CLI (no store): under `signature`.
    Check(
        "revocation",
        "Not revoked",
        check_revocation,
        reasons=frozenset({"token_revoked"}),
        part_of="signature",
        applies=lambda settings: settings.revocation_store is not None,
        on_cache_hit="repeat",
    ),
)
"""Every check, in the order the validator runs them (docs/design.md, behaviour rules)."""


def refused_by(error: AADGuardError) -> Check:
    """The check of `CHECKS` that raises `error`: by its claim, else by its reason code.

    Raises:
        LookupError: no check raises it (a test keeps every reason code covered).
    """
    claim = getattr(error, "claim", None)
    if isinstance(error, MissingClaimError | InvalidClaimError):
        matches = [check for check in CHECKS if claim in check.claims]
    else:
        matches = [check for check in CHECKS if error.reason in check.reasons]
    if not matches:
        raise LookupError(f"no check raises {error.reason!r} (claim {claim!r})")
    return matches[0]


def _optional_string(claims: Mapping[str, object], name: str, evidence: Evidence) -> str | None:
    """A string claim, or `None` when absent; any other value, `null` too, is refused."""
    if name not in claims:
        return None
    value = claims[name]
    if not isinstance(value, str):
        raise InvalidClaimError(
            f"The token's {name!r} is not a string: {value!r}.", claim=name, **evidence
        )
    return value


def _time_claim(claims: Mapping[str, object], name: str, evidence: Evidence) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    # RFC 7519 NumericDate: a JSON number. Strings, booleans and non-finite values are not.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _is_finite(value):
        raise InvalidClaimError(
            f"The token's {name!r} is not a number: {value!r}.", claim=name, **evidence
        )
    return float(value)


def _is_finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float, e.g. 10**400: no real time
        return False
