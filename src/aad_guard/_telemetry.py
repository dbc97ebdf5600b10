"""OpenTelemetry metrics and spans, through opentelemetry-api when it is installed.

`pip install 'aad-guard[otel]'` brings opentelemetry-api; the application configures an SDK
(or not). Without the API nothing here imports it and every hook returns at once; with the
API but no SDK, the API's own proxies drop everything until one is configured.

What is recorded: reason codes, token versions, cache hits, fetch reasons and host names.
Never a token, a claim value or an error message (messages quote claims); the caller's
object id and tenant id only when a `Telemetry` is told to (docs/design.md, rule 26;
docs/operations.md has the table).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sized
from contextlib import AbstractContextManager, nullcontext
from importlib import metadata
from typing import TYPE_CHECKING, Final, Literal

from starlette.types import Scope

from ._instruments import Instruments, KeySource, SizedSource, instruments_of

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from ._principal import Principal
    from .errors import AADGuardError

__all__ = [
    "SCOPE_KEY",
    "FetchReason",
    "KeySource",
    "Telemetry",
    "record_authorization",
]

NAME: Final = "aad_guard"
SCOPE_KEY: Final = "aad_guard.telemetry"
"""Where the middleware leaves its `Telemetry` in the ASGI scope, for route requirements."""

FetchReason = Literal["cold", "refresh", "unknown_kid", "retry"]
AuthenticationResult = Literal["success", "failure", "none"]


class Telemetry:
    """Where aad_guard's OpenTelemetry metrics and spans go, and what they may name.

    Pass one to `TokenValidator(telemetry=...)` (or the middleware's keyword arguments).
    Without it the validator uses the global providers, which the OpenTelemetry SDK sets
    (`opentelemetry.metrics.set_meter_provider`, `opentelemetry.trace.set_tracer_provider`).

    Args:
        meter_provider: The meter provider to use. Default: the global one.
        tracer_provider: The tracer provider to use. Default: the global one.
        record_user_id: Put the caller's object id (`oid`, else `sub`) on validation spans
            as `user.id` (never on metrics). Default `False`.
        record_tenant_id: Put the caller's tenant id (`tid`) on validation spans and on the
            authentication histogram as `aad_guard.tenant.id`: one series per calling
            tenant. Default `False`.
        enabled: `False` records nothing at all. Default `True`.

    With opentelemetry-api not installed, nothing is recorded whatever is passed here.
    """

    def __init__(
        self,
        *,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        record_user_id: bool = False,
        record_tenant_id: bool = False,
        enabled: bool = True,
    ) -> None:
        self.record_user_id = bool(record_user_id)
        self.record_tenant_id = bool(record_tenant_id)
        self._instruments: Instruments | None = None
        self._tracer: Tracer | None = None
        self._tracer_provider = tracer_provider
        self._next_tracer_check_ns = 0
        # The few attribute sets an authentication can have, built once (not per request).
        self._attribute_sets: dict[tuple[object, ...], dict[str, str]] = {}
        if not enabled:
            return
        try:
            from opentelemetry import metrics  # noqa: PLC0415 (opentelemetry-api is an optional extra)
        except ImportError:  # the `otel` extra is not installed
            return
        self._version = _package_version()
        provider = meter_provider or metrics.get_meter_provider()
        self._instruments = instruments_of(provider, provider.get_meter(NAME, self._version))
        self._current_tracer(time.time_ns())

    def _current_tracer(self, now_ns: int) -> Tracer | None:
        """The tracer, once there is a tracer provider to ask; `None` until then.

        Until the application configures one, the global provider is the API's proxy, whose
        spans are dropped: no span is even started then. Asking the API for the global
        provider reads the environment, so a request asks at most once a second (`now_ns`).
        """
        if self._tracer is not None or self._instruments is None:
            return self._tracer
        if now_ns < self._next_tracer_check_ns:
            return None
        self._next_tracer_check_ns = now_ns + 1_000_000_000
        from opentelemetry import trace  # noqa: PLC0415 (opentelemetry-api is an optional extra)

        provider = self._tracer_provider or trace.get_tracer_provider()
        if type(provider) is trace.ProxyTracerProvider:
            return None
        self._tracer = provider.get_tracer(NAME, self._version)
        return self._tracer

    @property
    def enabled(self) -> bool:
        """Whether anything is recorded (opentelemetry-api is there and not turned off)."""
        return self._instruments is not None

    # -- authentication ------------------------------------------------------------------

    def authenticated(
        self,
        started_ns: int,
        *,
        principal: Principal | None = None,
        error: AADGuardError | None = None,
        cache_hit: bool | None = None,
    ) -> None:
        """One authentication ended: a `principal`, an `error`, or neither (no token).

        Args:
            started_ns: `time.time_ns()` when it began.
            principal: The caller, when the token was admitted.
            error: The refusal, when it was refused.
            cache_hit: Whether the token cache answered; `None` when there is no cache.
        """
        instruments = self._instruments
        if instruments is None:
            return
        ended_ns = time.time_ns()
        if principal is not None:
            result, reason, version = "success", None, principal.token_version
            tenant_id: str | None = principal.tenant_id
        elif error is not None:
            # No token at all (`missing_token`) is "none", as ASP.NET Core counts it.
            result = "none" if error.reason == "missing_token" else "failure"
            reason, version, tenant_id = error.reason, None, error.tenant_id
        else:
            result, reason, version, tenant_id = "none", None, None, None
        if not self.record_tenant_id:
            tenant_id = None
        key = (result, reason, version, cache_hit, tenant_id)
        attributes = self._attribute_sets.get(key)
        if attributes is None:
            attributes = _authentication_attributes(
                result, reason, version, cache_hit=cache_hit, tenant_id=tenant_id
            )
            if tenant_id is None:  # one set per calling tenant would grow without bound
                self._attribute_sets[key] = attributes
        instruments.authentication.record((ended_ns - started_ns) / 1e9, attributes)
        tracer = self._tracer or self._current_tracer(ended_ns)
        if tracer is not None:
            span = tracer.start_span(
                "aad_guard.validate", start_time=started_ns, attributes=attributes
            )
            if span.is_recording():
                self._describe(span, principal, error)
            span.end(end_time=ended_ns)

    def _describe(
        self, span: Span, principal: Principal | None, error: AADGuardError | None
    ) -> None:
        from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415 (opentelemetry-api is an optional extra)

        if self.record_user_id and principal is not None:
            user = principal.object_id or principal.subject
            if user is not None:
                span.set_attribute("user.id", user)
        if error is not None and error.reason != "missing_token":
            # The reason code only: an error's message may quote the token's claims.
            span.set_status(Status(StatusCode.ERROR, error.reason))

    # -- authorization -------------------------------------------------------------------

    def authorized(self, requirement: str, error: AADGuardError | None = None) -> None:
        """A route requirement of kind `requirement` admitted the caller, or refused it.

        Args:
            requirement: The requirement's kind: `scopes`, `roles`, `scopes_or_roles`, or
                another kind's name (`auth_context`, `tool`): a short constant, never a
                value from the token.
            error: The refusal, if it refused.
        """
        instruments = self._instruments
        if instruments is None:
            return
        attributes = _with_outcome(
            {"aad_guard.authorization.requirement": requirement},
            "aad_guard.authorization.result",
            None if error is None else error.reason,
        )
        instruments.authorization.add(1, attributes)

    # -- keys ----------------------------------------------------------------------------

    def fetch_span(
        self, reason: FetchReason, attributes: Mapping[str, str]
    ) -> AbstractContextManager[object]:
        """A span around one fetch of metadata and keys, current while it runs.

        An instrumented HTTP client's spans nest under it; it nests under the request's
        span when the request started the fetch.
        """
        tracer = self._current_tracer(time.time_ns())
        if tracer is None:
            return nullcontext()
        return tracer.start_as_current_span(
            "aad_guard.keys.fetch",
            attributes={**attributes, "aad_guard.fetch.reason": reason},
            record_exception=False,  # an exception's message may name a URL's query
            set_status_on_exception=False,
        )

    def fetched(
        self,
        started_ns: int,
        reason: FetchReason,
        attributes: Mapping[str, str],
        error_type: str | None,
    ) -> None:
        """One fetch ended; `error_type` says how it failed, `None` when it succeeded."""
        instruments = self._instruments
        if instruments is None:
            return
        recorded = _with_outcome(
            {**attributes, "aad_guard.fetch.reason": reason}, "aad_guard.fetch.result", error_type
        )
        self._end_fetch_span(recorded, error_type)
        instruments.fetch.record((time.time_ns() - started_ns) / 1e9, recorded)

    @staticmethod
    def _end_fetch_span(attributes: Mapping[str, str], error_type: str | None) -> None:
        from opentelemetry import trace  # noqa: PLC0415 (opentelemetry-api is an optional extra)

        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(attributes)
            if error_type is not None:
                span.set_status(trace.Status(trace.StatusCode.ERROR, error_type))

    def served_stale(self, attributes: Mapping[str, str]) -> None:
        """A token was checked with keys kept past a failed refresh."""
        if self._instruments is not None:
            self._instruments.stale.add(1, attributes)

    def watch_keys(self, source: KeySource) -> None:
        """Report `source`'s key age while it lives (the caller keeps it alive)."""
        if self._instruments is not None:
            self._instruments.key_sources.add(source)

    def watch_cache(self, cache: Sized | None, attributes: Mapping[str, str]) -> object | None:
        """Report `len(cache)` while the returned holder lives (the caller keeps it).

        A validator without a cache (`cache` is `None`) reports no size.
        """
        if self._instruments is None or cache is None:
            return None
        holder = SizedSource(cache, attributes)
        self._instruments.caches.add(holder)
        return holder


def _package_version() -> str | None:
    """The installed aad-guard's version, for the instrumentation scope (none from source)."""
    try:
        return metadata.version("aad-guard")
    except metadata.PackageNotFoundError:  # pragma: no cover - the tests run it installed
        return None


def _with_outcome(
    attributes: dict[str, str], result: str, error_type: str | None
) -> dict[str, str]:
    """`attributes` with `result` (`success` or `failure`) and, on a failure, `error.type`."""
    attributes[result] = "success" if error_type is None else "failure"
    if error_type is not None:
        attributes["error.type"] = error_type
    return attributes


def _authentication_attributes(
    result: str,
    reason: str | None,
    version: str | None,
    *,
    cache_hit: bool | None,
    tenant_id: str | None,
) -> dict[str, str]:
    attributes = {"aad_guard.authentication.result": result}
    if reason is not None:
        attributes["error.type"] = reason
    if version is not None:
        attributes["aad_guard.token.version"] = version
    if cache_hit is not None:
        attributes["aad_guard.token_cache.result"] = "hit" if cache_hit else "miss"
    if tenant_id is not None:
        attributes["aad_guard.tenant.id"] = tenant_id
    return attributes


def record_authorization(
    scope: Scope, requirement: str, error: AADGuardError | None = None
) -> None:
    """Count a requirement check on this connection, with the middleware's `Telemetry`.

    Requirement kinds of other modules (auth context, MCP tools) call this too.
    """
    telemetry = scope.get(SCOPE_KEY)
    if isinstance(telemetry, Telemetry):
        telemetry.authorized(requirement, error)
