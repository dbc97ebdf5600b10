"""`aad-guard token check`: run the real validator and explain, step by step, what it decided.

The validator stops at the first failure. To show everything that is wrong with a token, the
check runs it again with that one check relaxed (a clock inside the token's lifetime, its own
audience admitted, ...) until a failure cannot be relaxed or the token passes. Every verdict
comes from `TokenValidator` itself, with its reason codes.
"""

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from .._checks import CHECKS, refused_by
from .._settings import ValidatorSettings, default_audiences
from .._tenant import Tenant
from .._validator import TokenValidator, ValidatorOptions
from ..errors import AADGuardError
from ._mistakes import Findings, Mistake, is_v1_issuer, name_mistakes
from ._summary import TokenSummary, when

__all__ = ["STEPS", "Diagnosis", "Mistake", "Step", "diagnose"]

Status = Literal["pass", "fail", "not checked"]

# The report's steps: the validator's own checks (`CHECKS`), each check that completes an
# earlier check's step reported under it.
STEPS: Final = MappingProxyType({check.name: check.title for check in CHECKS if not check.part_of})
_POSITION: Final = MappingProxyType({check.name: index for index, check in enumerate(CHECKS)})


@dataclass(frozen=True, slots=True)
class Step:
    """One check of the validator and what it found."""

    name: str
    title: str
    status: Status
    reason: str | None = None
    detail: str | None = None


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
    # The steps of the checks these settings run (B2C's user flow only under B2C, ...).
    settings = ValidatorSettings.parse(**options)
    applicable = {check.step for check in CHECKS if check.applies(settings)}
    with _fetch_failures() as fetch_failures:
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
                other_tenant = other_tenant or (
                    step == "issuer" and relaxed.get("tenant") == "common"
                )
                current = relaxed
            else:
                break
    details = {
        step: _detail(error, summary, options, fetch_failures, now=now)
        for step, error in failures.items()
    }
    steps = []
    for name, title in STEPS.items():
        if name not in applicable and name not in failures:
            continue
        if name in failures:
            steps.append(Step(name, title, "fail", failures[name].reason, details[name]))
        elif name == "tenant" and other_tenant:
            detail = "The issuer check refused the token's tenant: it is not the configured one."
            steps.append(Step(name, title, "fail", failures["issuer"].reason, detail))
        elif _POSITION[name] < stopped_at:
            steps.append(Step(name, title, "pass"))
        else:
            steps.append(Step(name, title, "not checked"))
    if first is None:
        return Diagnosis(valid=True, reason=None, steps=steps)
    findings = Findings(
        token=token,
        first=first,
        first_step=next(iter(failures)),  # the first failure is recorded first
        failures=failures,
        details=details,
        summary=summary,
        options=options,
        other_tenant=other_tenant,
        now=now,
    )
    return Diagnosis(
        valid=False, reason=first.reason, steps=steps, mistakes=name_mistakes(findings)
    )


@contextmanager
def _fetch_failures() -> Iterator[list[str]]:
    """Collect the key store's log records while the check runs, for its report.

    The key store logs a failed fetch for a server's operator ("retrying in 1 s"). In the
    command the report names the failure itself; left to logging's last-resort handler, the
    record would be a stray line on stderr, apart from the report it belongs to.
    """
    logger = logging.getLogger("aad_guard")
    collected: list[str] = []
    handler = _Collector(collected)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield collected
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class _Collector(logging.Handler):
    def __init__(self, collected: list[str]) -> None:
        super().__init__(logging.WARNING)
        self._collected = collected

    def emit(self, record: logging.LogRecord) -> None:
        # The key store's message is "... signing keys (%s); retrying in %.0f s": the fetch
        # error is its first argument. The command does not retry, so only that is kept.
        args = record.args if isinstance(record.args, tuple) else ()
        self._collected.append(str(args[0]) if args else record.getMessage())


def _detail(
    error: AADGuardError,
    summary: TokenSummary | None,
    options: ValidatorOptions,
    fetch_failures: list[str],
    *,
    now: float,
) -> str:
    """The validator's message, with times as dates and fetch failures said precisely."""
    skew = f"{options.get('clock_skew', 300):g} s of clock skew allowed"
    exp = summary.time("exp") if summary is not None else None
    nbf = summary.time("nbf") if summary is not None else None
    if error.reason == "token_expired" and exp is not None:
        return f"The token expired at {when(exp, now)}; {skew}."
    if error.reason == "token_not_yet_valid" and nbf is not None:
        return f"The token is valid from {when(nbf, now)}; {skew}."
    if error.reason == "keys_unavailable" and fetch_failures:
        return f"{error.message} {'; '.join(fetch_failures)}."
    return error.message


def _locate(error: AADGuardError) -> tuple[str, float]:
    """The step `error` fails, and where in `CHECKS` the validator stopped."""
    check = refused_by(error)
    return check.step, _POSITION[check.name]


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
        audiences = options.get("audiences") or default_audiences(client_id)
        return {**options, "audiences": {*audiences, summary.audience}}  # type: ignore[misc]
    if reason in ("invalid_issuer", "tenant_not_allowed") and "metadata_url" in options:
        return None  # the document names the one issuer and tenant; nothing to widen
    if reason == "invalid_issuer":
        if is_v1_issuer(summary.issuer) and options.get("accept_v1_tokens") is False:
            return {**options, "accept_v1_tokens": True}
        if not Tenant.parse(options.get("tenant", "organizations")).is_keyword:
            return {**options, "tenant": "common", "allowed_tenants": None}
        return None
    if reason == "tenant_not_allowed":
        return {**options, "tenant": "common", "allowed_tenants": None}
    if reason == "not_an_access_token":
        return {**options, "accept_id_tokens": True}
    if reason == "no_scopes_or_roles":
        return {**options, "allow_acl_tokens": True}
    if reason == "user_flow_not_allowed":
        return {**options, "allowed_user_flows": None}
    if reason == "client_not_allowed":
        return {**options, "allowed_client_ids": None}
    if reason == "guest_not_allowed":
        return {**options, "allow_guest_users": True}
    return None


def _fixed(moment: float) -> Callable[[], float]:
    return lambda: moment
