"""The task service with OpenTelemetry on the console.

`python -m examples.fastapi_api.observability`.

The recipe of docs/operations.md: configure the OpenTelemetry SDK once, before the app
serves (here with the SDK's console exporters; in production the OTLP exporter, or the
Prometheus one), and aad_guard's metrics and spans go where the SDK sends them. The guard
needs only `pip install 'aad-guard[otel]'`; the SDK and exporters are the application's.

This script runs the service in-process against a local issuer, sends a few requests (a
valid token twice, no token, a token for another API, a token without the scope), then
flushes the SDK: each span and each metric point is printed on one line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import anyio
import httpx
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from aad_guard.testing import LocalIssuer
from examples.fastapi_api.service import create_app
from examples.fastapi_api.settings import Settings

__all__ = ["configure_opentelemetry", "main"]


def _span_line(span: ReadableSpan) -> str:
    return f"span {span.name} {json.dumps(dict(span.attributes or {}), sort_keys=True)}\n"


def _metric_lines(data: MetricsData) -> str:
    lines = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    # A histogram's point has a count, a counter's or a gauge's a value.
                    value = getattr(point, "count", getattr(point, "value", None))
                    attributes = json.dumps(dict(point.attributes or {}), sort_keys=True)
                    lines.append(f"metric {metric.name} {attributes} {value}\n")
    return "".join(sorted(lines))


def configure_opentelemetry() -> tuple[MeterProvider, TracerProvider]:
    """Set the global meter and tracer providers, as an application does at startup."""
    reader = PeriodicExportingMetricReader(
        ConsoleMetricExporter(formatter=_metric_lines), export_interval_millis=60_000
    )
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(formatter=_span_line))
    )
    metrics.set_meter_provider(meter_provider)
    trace.set_tracer_provider(tracer_provider)
    return meter_provider, tracer_provider


async def _requests(issuer: LocalIssuer) -> Sequence[int]:
    async with issuer.client() as idp:
        app = create_app(Settings.local(issuer.authority), http_client=idp)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tasks") as client:
            token = issuer.token(scopes=["Tasks.Read"])
            headers = [
                {"authorization": f"Bearer {token}"},
                {"authorization": f"Bearer {token}"},  # the same token: from the cache
                {},
                {"authorization": f"Bearer {issuer.token(audience='api://another-api')}"},
                {"authorization": f"Bearer {issuer.token(scopes=['Tasks.Delete'])}"},
            ]
            return [(await client.get("/tasks", headers=h)).status_code for h in headers]


def main() -> int:
    meter_provider, tracer_provider = configure_opentelemetry()
    issuer = LocalIssuer(authority="http://127.0.0.1:8400")
    statuses = anyio.run(_requests, issuer)
    print("answers: " + " ".join(map(str, statuses)))
    tracer_provider.shutdown()
    meter_provider.shutdown()  # exports the metrics once more, now
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
