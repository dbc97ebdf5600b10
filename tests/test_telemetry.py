"""OpenTelemetry metrics and spans, read back with the SDK's in-memory reader and exporter.

Each instrument and attribute of docs/operations.md's table is checked after the events it
describes: valid, invalid, cached and refused tokens, a key id miss, an outage and recovery.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aad_guard import AADGuardMiddleware, Telemetry, TokenValidator, requires
from aad_guard._telemetry import record_authorization
from aad_guard.errors import KeysUnavailableError, TokenError
from aad_guard.testing import FaultKind, LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import bearer, decoded, run_python

pytestmark = pytest.mark.anyio

HOST = "login.microsoftonline.com"


@dataclass(frozen=True)
class Point:
    """One data point: its attributes and its value (a count for histograms)."""

    attributes: dict[str, Any]
    value: float


class Collected:
    """What one SDK meter provider and tracer provider received."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer_provider = tracer_provider
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def telemetry(self, **options: bool) -> Telemetry:
        return Telemetry(
            meter_provider=self.meter_provider, tracer_provider=self.tracer_provider, **options
        )

    def metrics(self) -> dict[str, tuple[str, list[Point]]]:
        """Every instrument by name: its unit and its points (histograms: their counts)."""
        found: dict[str, tuple[str, list[Point]]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                assert scope.scope.name == "aad_guard"
                for metric in scope.metrics:
                    points = [
                        Point(
                            dict(p.attributes or {}),
                            float(getattr(p, "count", None) or getattr(p, "value", 0) or 0),
                        )
                        for p in metric.data.data_points
                    ]
                    found[metric.name] = (metric.unit or "", points)
        return found

    def points(self, name: str) -> list[Point]:
        return self.metrics().get(name, ("", []))[1]

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name in (None, s.name)]


@pytest.fixture
def otel() -> Iterator[Collected]:
    collected = Collected()
    yield collected
    collected.meter_provider.shutdown()
    collected.tracer_provider.shutdown()


@pytest.fixture
def validator(make_validator: MakeValidator, otel: Collected) -> TokenValidator:
    return make_validator(telemetry=otel.telemetry())


def authentications(otel: Collected) -> list[Point]:
    return otel.points("aad_guard.authentication.duration")


def fetches(otel: Collected) -> list[tuple[str, str, str | None, float]]:
    """(reason, result, error.type, count) of each fetch series, sorted."""
    return sorted(
        (
            p.attributes["aad_guard.fetch.reason"],
            p.attributes["aad_guard.fetch.result"],
            p.attributes.get("error.type"),
            p.value,
        )
        for p in otel.points("aad_guard.keys.fetch.duration")
    )


# -- authentication -----------------------------------------------------------------------


async def test_a_valid_token_then_the_same_token_from_the_cache(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected
) -> None:
    token = issuer.token()
    await validator.validate(token)
    await validator.validate(token)

    unit, points = otel.metrics()["aad_guard.authentication.duration"]
    assert unit == "s"
    assert sorted((p.attributes["aad_guard.token_cache.result"], p.value) for p in points) == [
        ("hit", 1),
        ("miss", 1),
    ]
    for point in points:
        assert point.attributes["aad_guard.authentication.result"] == "success"
        assert point.attributes["aad_guard.token.version"] == "2.0"
        assert "error.type" not in point.attributes
    spans = otel.spans("aad_guard.validate")
    assert len(spans) == 2
    assert all(span.status.status_code is StatusCode.UNSET for span in spans)
    assert {(span.attributes or {}).get("aad_guard.token_cache.result") for span in spans} == {
        "hit",
        "miss",
    }


async def test_a_v1_token_is_counted_with_its_version(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected
) -> None:
    await validator.validate(issuer.token(version="1.0"))
    (point,) = authentications(otel)
    assert point.attributes["aad_guard.token.version"] == "1.0"


async def test_an_invalid_token_is_a_failure_with_its_reason_code(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected
) -> None:
    with pytest.raises(TokenError):
        await validator.validate(issuer.token(audience="api://someone-else"))
    with pytest.raises(TokenError):
        await validator.validate("not.a.token")

    reasons = sorted(
        (p.attributes["aad_guard.authentication.result"], p.attributes["error.type"])
        for p in authentications(otel)
    )
    assert reasons == [("failure", "invalid_audience"), ("failure", "malformed_token")]
    spans = otel.spans("aad_guard.validate")
    assert sorted(span.status.description or "" for span in spans) == [
        "invalid_audience",
        "malformed_token",
    ]
    assert all(span.status.status_code is StatusCode.ERROR for span in spans)
    # A refusal's message quotes the token's claims; the span carries no event with it.
    assert all(not span.events for span in spans)


async def test_a_cached_token_that_expired_is_refused_and_counted(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected, clock: FakeClock
) -> None:
    token = issuer.token(lifetime=600)
    await validator.validate(token)
    clock.advance(3600)
    with pytest.raises(TokenError):
        await validator.validate(token)
    failures = [
        p.attributes
        for p in authentications(otel)
        if p.attributes["aad_guard.authentication.result"] == "failure"
    ]
    assert failures == [
        {"aad_guard.authentication.result": "failure", "error.type": "token_expired"}
    ]


async def test_without_a_token_cache_no_cache_attribute(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    otel: Collected,
    caplog: pytest.LogCaptureFixture,
) -> None:
    validator = make_validator(telemetry=otel.telemetry(), max_cached_tokens=0)
    await validator.validate(issuer.token())
    (point,) = authentications(otel)
    assert "aad_guard.token_cache.result" not in point.attributes
    assert "aad_guard.token_cache.size" not in otel.metrics()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- through the middleware: refusals and requirements ------------------------------------


@requires("Tasks.Read")
async def read(request: Request) -> PlainTextResponse:
    return PlainTextResponse("read")


@requires(roles=["Tasks.Admin"])
async def admin(request: Request) -> PlainTextResponse:
    return PlainTextResponse("admin")


@requires("Tasks.Write", roles=["Tasks.Admin"])
async def either(request: Request) -> PlainTextResponse:
    return PlainTextResponse("either")


@pytest.fixture
async def client(validator: TokenValidator) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Route("/read", read), Route("/admin", admin), Route("/either", either)])
    guarded = AADGuardMiddleware(app, validator=validator, required=False)
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_requests_without_a_token_are_none_and_bad_headers_failures(
    client: httpx.AsyncClient, otel: Collected, issuer: LocalIssuer
) -> None:
    assert (await client.get("/read")).status_code == 401  # anonymous, then the requirement
    duplicate = [("authorization", "Bearer a"), ("authorization", "Bearer b")]
    assert (await client.get("/read", headers=duplicate)).status_code == 400
    assert (await client.get("/read", headers={"authorization": "Bearer"})).status_code == 400

    results = sorted(
        (p.attributes["aad_guard.authentication.result"], p.attributes.get("error.type", ""))
        for p in authentications(otel)
    )
    assert results == [
        ("failure", "duplicate_authorization"),
        ("failure", "malformed_authorization"),
        ("none", ""),
    ]


async def test_a_required_token_that_is_missing_is_none_with_its_reason(
    make_validator: MakeValidator, otel: Collected
) -> None:
    app = AADGuardMiddleware(Starlette(), validator=make_validator(telemetry=otel.telemetry()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert (await client.get("/")).status_code == 401
    (point,) = authentications(otel)
    assert point.attributes == {
        "aad_guard.authentication.result": "none",
        "error.type": "missing_token",
    }
    (span,) = otel.spans("aad_guard.validate")
    assert span.status.status_code is StatusCode.UNSET


async def test_authorization_attempts_by_requirement_kind_and_result(
    client: httpx.AsyncClient, otel: Collected, issuer: LocalIssuer
) -> None:
    reader = bearer(issuer.token(scopes=["Tasks.Read"]))
    assert (await client.get("/read", headers=reader)).status_code == 200
    assert (await client.get("/admin", headers=reader)).status_code == 403
    assert (await client.get("/read")).status_code == 401
    assert (await client.get("/either", headers=reader)).status_code == 403

    unit, points = otel.metrics()["aad_guard.authorization.attempts"]
    assert unit == "{request}"
    assert sorted(
        (
            p.attributes["aad_guard.authorization.requirement"],
            p.attributes["aad_guard.authorization.result"],
            p.attributes.get("error.type", ""),
            p.value,
        )
        for p in points
    ) == [
        ("roles", "failure", "insufficient_scope", 1),
        ("scopes", "failure", "missing_token", 1),
        ("scopes", "success", "", 1),
        ("scopes_or_roles", "failure", "insufficient_scope", 1),
    ]


def test_other_requirement_kinds_count_through_the_same_call(otel: Collected) -> None:
    telemetry = otel.telemetry()
    record_authorization({"aad_guard.telemetry": telemetry}, "auth_context")
    record_authorization({}, "tool")  # no middleware in front: nothing to count with
    (point,) = otel.points("aad_guard.authorization.attempts")
    assert point.attributes == {
        "aad_guard.authorization.requirement": "auth_context",
        "aad_guard.authorization.result": "success",
    }


# -- fetches, key age, stale serving ------------------------------------------------------


async def test_a_cold_fetch_is_timed_with_its_reason_and_host(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected
) -> None:
    await validator.validate(issuer.token())
    unit, (point,) = otel.metrics()["aad_guard.keys.fetch.duration"]
    assert unit == "s"
    assert point.value == 1
    assert point.attributes == {
        "server.address": HOST,
        "aad_guard.tenant": "organizations",
        "aad_guard.fetch.reason": "cold",
        "aad_guard.fetch.result": "success",
    }
    (span,) = otel.spans("aad_guard.keys.fetch")
    assert span.attributes == point.attributes


async def test_an_unknown_key_id_fetches_for_it(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected, clock: FakeClock
) -> None:
    await validator.validate(issuer.token())
    issuer.keys.rotate()
    clock.advance(60)  # past the key-miss cooldown
    await validator.validate(issuer.token())
    assert fetches(otel) == [("cold", "success", None, 1), ("unknown_kid", "success", None, 1)]


async def test_an_outage_then_recovery(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected, clock: FakeClock
) -> None:
    token = issuer.token(lifetime=86400)
    await validator.validate(token)
    issuer.simulate("down")
    clock.advance(4000)  # past the hourly refresh: it starts, and fails
    await validator.validate(token)
    await anyio.wait_all_tasks_blocked()
    assert validator.status().last_fetch == "failure"
    for _ in range(3):
        await validator.validate(token)  # served with the kept keys
    (age,) = otel.points("aad_guard.keys.age")
    assert age.value == 4000
    assert age.attributes == {"server.address": HOST, "aad_guard.tenant": "organizations"}
    (stale,) = otel.points("aad_guard.keys.stale_validations")
    assert stale.value == 3

    issuer.simulate(None)
    clock.advance(10)  # past the first retry's backoff
    await validator.validate(token)  # starts the retry; itself still on the kept keys
    await anyio.wait_all_tasks_blocked()
    await validator.validate(token)
    assert fetches(otel) == [
        ("cold", "success", None, 1),
        ("refresh", "failure", "transport_error", 1),
        ("retry", "success", None, 1),
    ]
    (stale,) = otel.points("aad_guard.keys.stale_validations")
    assert stale.value == 4  # the retry's own trigger; none after it succeeded
    (age,) = otel.points("aad_guard.keys.age")
    assert age.value == 0
    failed = [s for s in otel.spans("aad_guard.keys.fetch") if s.status.is_ok is False]
    assert [s.status.description for s in failed] == ["transport_error"]


async def test_no_keys_at_all_is_a_failure_of_the_fetch_and_the_validation(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected
) -> None:
    issuer.simulate("status", status=503)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    assert fetches(otel) == [("cold", "failure", "503", 1)]
    (point,) = authentications(otel)
    assert point.attributes["error.type"] == "keys_unavailable"


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("huge", "body_too_large"),
        ("not_json", "invalid_document"),
        ("wrong_issuer", "invalid_document"),
        ("slow", "timeout"),
        ("down", "transport_error"),
    ],
)
async def test_a_failed_fetch_says_how_it_failed(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    otel: Collected,
    fault: FaultKind,
    error_type: str,
) -> None:
    issuer.simulate(fault, delay=1.0)
    validator = make_validator(telemetry=otel.telemetry(), fetch_timeout=0.05)
    with pytest.raises(KeysUnavailableError):
        await validator.warm()
    assert fetches(otel) == [("cold", "failure", error_type, 1)]
    assert validator.status().last_fetch_error == error_type


async def test_token_cache_size(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected
) -> None:
    for _ in range(3):
        await validator.validate(issuer.token())
    unit, (point,) = otel.metrics()["aad_guard.token_cache.size"]
    assert (unit, point.value) == ("{token}", 3)


async def test_validators_sharing_a_provider_each_report_their_keys(
    issuer: LocalIssuer, make_validator: MakeValidator, otel: Collected
) -> None:
    first = make_validator(telemetry=otel.telemetry(), tenant="organizations")
    second = make_validator(telemetry=otel.telemetry(), tenant="common")
    await first.validate(issuer.token())
    await second.validate(issuer.token())
    tenants = {p.attributes["aad_guard.tenant"] for p in otel.points("aad_guard.keys.age")}
    assert tenants == {"organizations", "common"}


# -- spans under the application's ------------------------------------------------------


async def test_spans_nest_under_the_request_span(
    issuer: LocalIssuer, validator: TokenValidator, otel: Collected
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("GET /tasks") as request_span:
        await validator.validate(issuer.token())
    request_id = request_span.get_span_context().span_id
    for name in ("aad_guard.validate", "aad_guard.keys.fetch"):
        (span,) = otel.spans(name)
        assert span.parent is not None
        assert span.parent.span_id == request_id


# -- what is never recorded ---------------------------------------------------------------


def recorded_strings(otel: Collected) -> list[str]:
    """Every string the providers hold: names, attribute keys and values, statuses."""
    strings: list[str] = []
    for name, (unit, points) in otel.metrics().items():
        strings += [name, unit]
        for point in points:
            strings += [*map(str, point.attributes), *map(str, point.attributes.values())]
    for span in otel.spans():
        strings += [span.name, span.status.description or ""]
        strings += [f"{k}={v!s}" for k, v in (span.attributes or {}).items()]
        strings += [json.dumps(event.attributes) for event in span.events]
    return strings


async def test_no_token_or_claim_value_is_recorded(
    issuer: LocalIssuer, client: httpx.AsyncClient, otel: Collected
) -> None:
    good = issuer.token(scopes=["Tasks.Read"], roles=["Reader.Role"])
    bad = issuer.token(audience="api://another-audience-value")
    for token in (good, good, bad):
        await client.get("/read", headers=bearer(token))
        await client.get("/admin", headers=bearer(token))
    recorded = recorded_strings(otel)
    assert any("aad_guard.authentication.result=success" in s for s in recorded)
    secrets = {good, bad, *good.split("."), *bad.split(".")}
    for token in (good, bad):
        claims = decoded(token, 1)
        claims.pop("ver")  # "2.0": the token version, an attribute of its own
        for value in claims.values():
            values = value if isinstance(value, list) else str(value).split()
            secrets.update(str(v) for v in values)
    leaked = {secret for secret in secrets for s in recorded if secret in s}
    assert leaked == set()


async def test_user_and_tenant_ids_only_when_opted_in(
    issuer: LocalIssuer, make_validator: MakeValidator, otel: Collected
) -> None:
    token = issuer.token()
    claims = decoded(token, 1)
    opted_in = make_validator(telemetry=otel.telemetry(record_user_id=True, record_tenant_id=True))
    await opted_in.validate(token)
    (span,) = otel.spans("aad_guard.validate")
    assert span.attributes is not None
    assert span.attributes["user.id"] == claims["oid"]
    assert span.attributes["aad_guard.tenant.id"] == claims["tid"]
    (point,) = authentications(otel)
    assert point.attributes["aad_guard.tenant.id"] == claims["tid"]
    assert "user.id" not in point.attributes  # one series per user: never on a metric


# -- off, absent --------------------------------------------------------------------------


async def test_telemetry_turned_off_records_nothing(
    issuer: LocalIssuer, make_validator: MakeValidator, otel: Collected, clock: FakeClock
) -> None:
    telemetry = Telemetry(
        meter_provider=otel.meter_provider, tracer_provider=otel.tracer_provider, enabled=False
    )
    assert not telemetry.enabled
    validator = make_validator(telemetry=telemetry)
    token = issuer.token(lifetime=86400)
    await validator.validate(token)
    issuer.simulate("down")
    clock.advance(4000)
    await validator.validate(token)
    await anyio.wait_all_tasks_blocked()
    await validator.validate(token)  # on stale keys
    assert validator.status().last_fetch == "failure"
    assert otel.metrics() == {}
    assert otel.spans() == []


async def test_unsampled_requests_get_metrics_and_no_spans(
    issuer: LocalIssuer, make_validator: MakeValidator, otel: Collected
) -> None:
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    unsampled.add_span_processor(SimpleSpanProcessor(otel.exporter))
    telemetry = Telemetry(meter_provider=otel.meter_provider, tracer_provider=unsampled)
    await make_validator(telemetry=telemetry).validate(issuer.token())
    assert len(authentications(otel)) == 1
    assert otel.spans() == []


async def test_a_caller_without_object_id_or_subject_has_no_user_id(
    issuer: LocalIssuer, make_validator: MakeValidator, otel: Collected
) -> None:
    validator = make_validator(telemetry=otel.telemetry(record_user_id=True))
    await validator.validate(issuer.token(remove=["oid", "sub"]))
    (span,) = otel.spans("aad_guard.validate")
    assert "user.id" not in (span.attributes or {})


def test_telemetry_must_be_a_telemetry() -> None:
    with pytest.raises(TypeError, match=r"aad_guard\.Telemetry"):
        TokenValidator(client_id="api", telemetry="yes")  # type: ignore[arg-type]


# A user's program without the `otel` extra: any import of opentelemetry fails.
WITHOUT_OPENTELEMETRY = """
import asyncio, sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Absent())

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aad_guard import AADGuardMiddleware, TokenValidator, requires
from aad_guard.testing import LocalIssuer

@requires("access_as_user")
async def me(request):
    return PlainTextResponse(request.user.tenant_id)

async def main():
    issuer = LocalIssuer()
    validator = TokenValidator(
        client_id=issuer.client_id, http_client=issuer.client(), tenant="organizations"
    )
    assert not validator.telemetry.enabled
    app = AADGuardMiddleware(Starlette(routes=[Route("/me", me)]), validator=validator)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        token = issuer.token()
        ok = await client.get("/me", headers={"authorization": f"Bearer {token}"})
        refused = await client.get("/me")
    print(ok.status_code, refused.status_code, validator.status().ready)
    print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))

asyncio.run(main())
"""


def test_without_opentelemetry_nothing_imports_it_and_the_guard_works() -> None:
    result = run_python(WITHOUT_OPENTELEMETRY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["200 401 True", "[]"]


# The SDK configured globally after the validator was built, as an app may do in its
# lifespan: the validator's instruments and tracer follow (the API's proxies).
CONFIGURED_LATER = """
import asyncio
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuer

issuer = LocalIssuer()
validator = TokenValidator(client_id=issuer.client_id, http_client=issuer.client())
asyncio.run(validator.validate(issuer.token()))  # before: nothing to record to

reader, exporter = InMemoryMetricReader(), InMemorySpanExporter()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(tracer_provider)

async def later():
    await asyncio.sleep(1.1)  # the tracer is looked for at most once a second
    await validator.validate(issuer.token())

asyncio.run(later())
data = reader.get_metrics_data()
names = sorted(m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics)
print(names)
print([span.name for span in exporter.get_finished_spans()])
"""


def test_an_sdk_configured_after_the_validator_is_built_gets_its_telemetry() -> None:
    result = run_python(CONFIGURED_LATER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['aad_guard.authentication.duration', 'aad_guard.keys.age', 'aad_guard.token_cache.size']",
        "['aad_guard.validate']",
    ]
