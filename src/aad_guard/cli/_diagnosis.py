"""`aad-guard token check`: run the real validator and explain, step by step, what it decided.

The validator stops at the first failure. To show everything that is wrong with a token, the
check runs it again with that one check relaxed (a clock inside the token's lifetime, its own
audience admitted, ...) until a failure cannot be relaxed or the token passes. Every verdict
comes from `TokenValidator` itself, with its reason codes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .._policy import KEYWORDS, MSA_TENANT_ID
from .._validator import TokenValidator, ValidatorOptions
from ..errors import AADGuardError, InvalidClaimError, MissingClaimError
from ._summary import TokenSummary, relative_time

__all__ = ["STEPS", "Diagnosis", "Mistake", "Step", "diagnose"]

Status = Literal["pass", "fail", "not checked"]

# The validator's checks in the order it runs them (docs/design.md, behaviour rules).
STEPS = {
    "format": "Token format and header",
    "lifetime": "Lifetime (exp, nbf)",
    "audience": "Audience (aud)",
    "keys": "Metadata and signing keys fetched",
    "issuer": "Issuer (iss, tid, ver)",
    "token_type": "Access token (azp/appid, scp/roles)",
    "tenant": "Tenant allowed",
    "signing_key": "Signing key found",
    "signature": "Signature",
}
_ORDER = {name: float(index) for index, name in enumerate(STEPS)}
_STEP_OF_REASON = {
    "malformed_token": "format",
    "token_too_large": "format",
    "unsupported_algorithm": "format",
    "unsupported_crit_header": "format",
    "missing_kid": "format",
    "graph_token": "format",
    "token_expired": "lifetime",
    "token_not_yet_valid": "lifetime",
    "invalid_audience": "audience",
    "keys_unavailable": "keys",
    "invalid_issuer": "issuer",
    "version_mismatch": "issuer",
    "not_an_access_token": "token_type",
    "no_scopes_or_roles": "token_type",
    "tenant_not_allowed": "tenant",
    "unknown_kid": "signing_key",
    "key_issuer_mismatch": "signing_key",
    "invalid_signature": "signature",
}
_STEP_OF_CLAIM = {
    "exp": "lifetime",
    "nbf": "lifetime",
    "iat": "lifetime",
    "aud": "audience",
    "tid": "issuer",
    "iss": "issuer",
    "ver": "issuer",
}
# `tid` and `iss` are read before the keys are fetched, `ver` after the issuer matched.
_POSITION_OF_CLAIM = {"tid": _ORDER["audience"] + 0.5, "iss": _ORDER["audience"] + 0.5}


@dataclass(frozen=True, slots=True)
class Step:
    """One check of the validator and what it found."""

    name: str
    title: str
    status: Status
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Mistake:
    """A usual mistake recognised in a refused token, named in plain words."""

    code: str
    message: str


@dataclass(slots=True)
class Diagnosis:
    """The validator's verdict on a token, each step explained."""

    valid: bool
    reason: str | None
    steps: list[Step]
    mistakes: list[Mistake] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "steps": [
                {"name": s.name, "status": s.status, "reason": s.reason, "detail": s.detail}
                for s in self.steps
            ],
            "mistakes": [{"code": m.code, "message": m.message} for m in self.mistakes],
        }


async def diagnose(
    token: str, options: ValidatorOptions, summary: TokenSummary | None, *, now: float
) -> Diagnosis:
    """Validate `token` with `options`, relaxing each relaxable failure to find the next."""
    failures: dict[str, AADGuardError] = {}
    first: AADGuardError | None = None
    stopped_at = math.inf
    # The issuer of another tenant fails the issuer check; admitting every tenant tells.
    other_tenant = False
    current: dict[str, object] = dict(options)
    for _ in range(len(STEPS)):
        try:
            async with TokenValidator(**current) as validator:  # type: ignore[arg-type]
                await validator.validate(token)
        except AADGuardError as error:
            first = first or error
            step, position = _locate(error)
            failures.setdefault(step, error)
            relaxed = _relax(error, summary, current)
            if relaxed is None or relaxed == current:
                stopped_at = position
                other_tenant = other_tenant and step != "issuer"
                break
            other_tenant = other_tenant or (step == "issuer" and relaxed.get("tenant") == "common")
            current = relaxed
        else:
            break
    steps = []
    for name, title in STEPS.items():
        if name in failures:
            failure = failures[name]
            steps.append(Step(name, title, "fail", failure.reason, failure.message))
        elif name == "tenant" and other_tenant:
            detail = "The issuer check refused the token's tenant: it is not the configured one."
            steps.append(Step(name, title, "fail", failures["issuer"].reason, detail))
        elif _ORDER[name] < stopped_at:
            steps.append(Step(name, title, "pass"))
        else:
            steps.append(Step(name, title, "not checked"))
    mistakes = _mistakes(failures, summary, options, other_tenant=other_tenant, now=now)
    return Diagnosis(first is None, first.reason if first else None, steps, mistakes)


def _locate(error: AADGuardError) -> tuple[str, float]:
    if isinstance(error, MissingClaimError | InvalidClaimError):
        step = _STEP_OF_CLAIM.get(error.claim, "token_type")
        return step, _POSITION_OF_CLAIM.get(error.claim, _ORDER[step])
    step = _STEP_OF_REASON.get(error.reason, "format")
    return step, _ORDER[step]


def _relax(
    error: AADGuardError, summary: TokenSummary | None, options: dict[str, object]
) -> dict[str, object] | None:
    """The options under which the validator would look past `error`, if there are any."""
    if summary is None:
        return None
    reason = error.reason
    if reason in ("token_expired", "token_not_yet_valid"):
        exp = summary.time("exp")
        if exp is None:
            return None
        moment = exp - 1
        return {**options, "clock": _fixed(moment)}
    if reason == "invalid_audience" and summary.audience is not None:
        client_id = str(options["client_id"])
        audiences = options.get("audiences") or (client_id, f"api://{client_id}")
        return {**options, "audiences": {*audiences, summary.audience}}  # type: ignore[misc]
    if reason == "invalid_issuer":
        if _is_v1_issuer(summary.issuer) and options.get("accept_v1_tokens") is False:
            return {**options, "accept_v1_tokens": True}
        if str(options.get("tenant", "organizations")).lower() not in KEYWORDS:
            return {**options, "tenant": "common", "allowed_tenants": None}
        return None
    if reason == "tenant_not_allowed":
        return {**options, "tenant": "common", "allowed_tenants": None}
    if reason == "not_an_access_token":
        return {**options, "accept_id_tokens": True}
    if reason == "no_scopes_or_roles":
        return {**options, "allow_acl_tokens": True}
    return None


def _fixed(moment: float) -> Callable[[], float]:
    return lambda: moment


def _is_v1_issuer(issuer: str | None) -> bool:
    return issuer is not None and not issuer.endswith("/v2.0")


def _mistakes(
    failures: dict[str, AADGuardError],
    summary: TokenSummary | None,
    options: ValidatorOptions,
    *,
    other_tenant: bool,
    now: float,
) -> list[Mistake]:
    reasons = {error.reason for error in failures.values()}
    if summary is None or not failures:
        return []
    client_id = options["client_id"]
    audiences = sorted(options.get("audiences") or (client_id, f"api://{client_id}"))
    ask_for = (
        f"api://{client_id}/<scope> for a user, or api://{client_id}/.default for an app "
        "(client credentials)"
    )
    found: list[Mistake] = []
    if summary.is_graph_token:
        found.append(
            Mistake(
                "graph_token",
                f"This is a Microsoft Graph token (audience {summary.audience!r}; Graph puts a "
                "'nonce' in the header that only Graph itself can check): it can never validate "
                "for your API. The client asked for a Graph scope such as User.Read; it must ask "
                f"for a scope of your API instead: {ask_for}.",
            )
        )
    elif "invalid_audience" in reasons:
        name = f", the audience of {summary.audience_name}" if summary.audience_name else ""
        found.append(
            Mistake(
                "wrong_audience",
                f"The token is addressed to {summary.audience!r}{name}; your API accepts "
                f"{audiences}. The client requested a token for another resource; it must ask "
                f"for a scope of your API: {ask_for}.",
            )
        )
    if summary.kind == "ID token" or "not_an_access_token" in reasons:
        found.append(
            Mistake(
                "id_token",
                "This is an ID token: it tells the client app who signed in, and it is addressed "
                f"to that app ({summary.audience!r}). APIs take access tokens. Send the "
                "access_token of the token response, requested for a scope of your API, not its "
                "id_token.",
            )
        )
    version_mixup = _version_mixup(summary, reasons, options)
    if version_mixup:
        found.append(Mistake("version_mixup", version_mixup))
    exp = summary.time("exp")
    if "token_expired" in reasons and exp is not None:
        found.append(
            Mistake(
                "expired",
                f"The token expired {relative_time(exp, now)}. Access tokens live about an hour; "
                "the client must get a new one (MSAL's acquire_token_silent does, from its "
                "cache or with its refresh token). If it expired only just now, compare the "
                "clocks of the client and this machine.",
            )
        )
    nbf = summary.time("nbf")
    if "token_not_yet_valid" in reasons and nbf is not None:
        found.append(
            Mistake(
                "not_yet_valid",
                f"The token is valid only from {relative_time(nbf, now)}: this machine's clock "
                "is behind the issuer's by more than the allowed clock skew.",
            )
        )
    if "tenant_not_allowed" in reasons or other_tenant:
        found.append(
            Mistake(
                "tenant_refused",
                f"The token comes from tenant {summary.tenant_id!r} "
                f"({_account_words(summary)}); your configuration admits "
                f"{_admitted(options)}.",
            )
        )
    if "unknown_kid" in reasons:
        found.append(
            Mistake(
                "unknown_key",
                f"The token names key {summary.header.get('kid') or summary.header.get('x5t')!r}, "
                "which the key set does not list: it was issued by another cloud or a local "
                "issuer, by a key retired long ago, or for an app with custom signing keys "
                "(try --custom-signing-keys).",
            )
        )
    if "invalid_signature" in reasons:
        found.append(
            Mistake(
                "bad_signature",
                "The signature does not verify: the token was altered after it was issued, or it "
                "was signed by someone else under a key id of the issuer.",
            )
        )
    if "keys_unavailable" in reasons:
        found.append(
            Mistake(
                "keys_unavailable",
                f"The metadata or the keys could not be fetched ({failures['keys'].message}). "
                "Check --authority and the network, or pass the key set with --jwks FILE.",
            )
        )
    return found


def _version_mixup(
    summary: TokenSummary, reasons: set[str], options: ValidatorOptions
) -> str | None:
    client_id = options["client_id"]
    explain = (
        "The API's app registration decides which version Entra issues: "
        "'requestedAccessTokenVersion' in its manifest (null or 1: v1, 2: v2). v1 tokens come "
        f"from https://sts.windows.net/{{tid}}/ addressed to api://{client_id}; v2 tokens from "
        f"https://login.microsoftonline.com/{{tid}}/v2.0 addressed to {client_id}."
    )
    if "version_mismatch" in reasons:
        return f"The token's 'ver' does not match the form of its issuer. {explain}"
    if (
        "invalid_issuer" in reasons
        and _is_v1_issuer(summary.issuer)
        and options.get("accept_v1_tokens") is False
    ):
        return f"This is a v1 token and your API accepts only v2 tokens. {explain}"
    if "invalid_audience" in reasons and summary.audience in (client_id, f"api://{client_id}"):
        return (
            f"The token is for your API, in its v{summary.version} form "
            f"({summary.audience!r}), which your audiences leave out. {explain}"
        )
    return None


def _account_words(summary: TokenSummary) -> str:
    if summary.tenant_id == MSA_TENANT_ID:
        return "a personal Microsoft account"
    return "a work or school tenant"


def _admitted(options: ValidatorOptions) -> str:
    tenant = options.get("tenant", "organizations").lower()
    words = {
        "organizations": "any work or school tenant, no personal accounts",
        "consumers": "personal Microsoft accounts only",
        "common": "every tenant and personal accounts",
    }.get(tenant, f"tenant {tenant!r} only")
    allowed = options.get("allowed_tenants")
    if allowed:
        words += f", and of those only {sorted(allowed)}"
    return words
