"""The usual mistakes behind a refused token, named in plain words for `aad-guard token check`.

The first mistake listed always explains the validator's first failure, the one that decided
the verdict; what the relaxed runs and the token's own claims suggest comes after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from .._fetch import Origin
from .._settings import default_audiences
from .._tenant import MSA_TENANT_ID, Tenant, TenantKind
from .._validator import ValidatorOptions
from ..errors import AADGuardError
from ._flavours import EXPLAINS as FLAVOUR_EXPLAINS
from ._flavours import flavour_mistakes
from ._summary import TokenSummary, is_quoted, when

__all__ = ["Findings", "Mistake", "is_v1_issuer", "name_mistakes"]

# The reason codes each mistake explains, to list the verdict's own explanation first.
_EXPLAINS = MappingProxyType(
    {
        "malformed": {"malformed_token", "token_too_large"},
        "quoted": {"malformed_token"},
        "graph_token": {"graph_token", "invalid_audience"},
        "wrong_audience": {"invalid_audience"},
        "id_token": {"not_an_access_token"},
        "version_mixup": {"version_mismatch", "invalid_issuer", "invalid_audience"},
        "expired": {"token_expired"},
        "not_yet_valid": {"token_not_yet_valid"},
        "local_issuer": {"invalid_issuer", "unknown_kid", "keys_unavailable"},
        "tenant_refused": {"tenant_not_allowed", "invalid_issuer"},
        "unknown_key": {"unknown_kid"},
        "bad_signature": {"invalid_signature"},
        "keys_unavailable": {"keys_unavailable"},
        **FLAVOUR_EXPLAINS,
    }
)


@dataclass(frozen=True, slots=True)
class Mistake:
    """A usual mistake recognised in a refused token, named in plain words."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Findings:
    """What the check found: the token as given, the verdict, and each failed step."""

    token: str
    first: AADGuardError
    first_step: str
    failures: dict[str, AADGuardError]
    details: dict[str, str]
    summary: TokenSummary | None
    options: ValidatorOptions
    other_tenant: bool
    now: float

    @property
    def reasons(self) -> set[str]:
        return {error.reason for error in self.failures.values()}


def is_v1_issuer(issuer: str | None) -> bool:
    return issuer is not None and not issuer.endswith("/v2.0")


def name_mistakes(findings: Findings) -> list[Mistake]:
    """The mistakes behind a refused token; the first explains the verdict."""
    found = [*_intake_mistakes(findings)]
    if findings.summary is not None:
        flavoured = flavour_mistakes(findings.summary, findings.options, findings.reasons)
        found.extend(Mistake(code, message) for code, message in flavoured)
        found.extend(_claim_mistakes(findings, findings.summary))
    first = findings.first.reason
    explained = [m for m in found if first in _EXPLAINS.get(m.code, ())]
    if not explained:
        detail = findings.details[findings.first_step]
        explained = [Mistake("refused", f"The validator refused the token: {first}: {detail}")]
    return explained + [m for m in found if m not in explained]


def _intake_mistakes(findings: Findings) -> list[Mistake]:
    found = []
    if findings.first.reason in ("malformed_token", "token_too_large"):
        found.append(
            Mistake(
                "malformed",
                f"The token is not a well-formed signed token ({findings.first.message}) and "
                "was refused before any of its claims was read: it was changed after it was "
                "issued, cut short, or copied with extra characters. Send it exactly as the "
                "access_token of the token response.",
            )
        )
    if is_quoted(findings.token):
        found.append(
            Mistake(
                "quoted",
                "The token was pasted with its quote marks, and they are not part of it. Pass "
                'the bare token: aad-guard token check "$TOKEN", with TOKEN holding eyJ... '
                "without quotes.",
            )
        )
    return found


def _claim_mistakes(findings: Findings, summary: TokenSummary) -> list[Mistake]:
    reasons, options, now = findings.reasons, findings.options, findings.now
    client_id = options["client_id"]
    audiences = sorted(options.get("audiences") or default_audiences(client_id))
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
                f"The token expired at {when(exp, now)}. Access tokens live about an hour; "
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
                f"The token is valid only from {when(nbf, now)}: this machine's clock is "
                "behind the issuer's by more than the allowed clock skew.",
            )
        )
    local = _local_issuer(summary, options)
    if local is not None:
        found.append(
            Mistake(
                "local_issuer",
                f"The token was issued by a local issuer ({local}), and it was checked against "
                f"{options.get('authority')}. Check it with --authority {local} while that "
                "issuer runs (aad-guard issuer), or offline with --jwks and its key set.",
            )
        )
    if "tenant_not_allowed" in reasons or findings.other_tenant:
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
                f"The metadata or the keys could not be fetched ({findings.details['keys']}). "
                "Check --authority and the network, or pass the key set with --jwks FILE.",
            )
        )
    return found


def _local_issuer(summary: TokenSummary, options: ValidatorOptions) -> str | None:
    """The origin of a loopback `http` issuer the check did not use, if the token has one."""
    issuer = summary.issuer or ""
    if urlsplit(issuer).scheme != "http":
        return None
    try:
        origin = Origin.of(issuer).url  # plain http is an Origin only on loopback
    except ValueError:
        return None
    # The validator was built with this authority: it is a valid origin.
    authority = Origin.of(options.get("authority", "https://login.microsoftonline.com")).url
    return origin if origin != authority else None


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
        and is_v1_issuer(summary.issuer)
        and options.get("accept_v1_tokens") is False
    ):
        return f"This is a v1 token and your API accepts only v2 tokens. {explain}"
    if "invalid_audience" in reasons and summary.audience in default_audiences(client_id):
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
    tenant = Tenant.parse(options.get("tenant", "organizations"))
    words = {
        TenantKind.ORGANIZATIONS: "any work or school tenant, no personal accounts",
        TenantKind.CONSUMERS: "personal Microsoft accounts only",
        TenantKind.COMMON: "every tenant and personal accounts",
    }.get(tenant.kind, f"tenant {str(tenant)!r} only")
    allowed = options.get("allowed_tenants")
    if allowed:
        words += f", and of those only {sorted(allowed)}"
    return words
