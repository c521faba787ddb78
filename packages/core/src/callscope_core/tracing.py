"""OpenTelemetry set-up and W3C trace-context propagation through Kafka record headers.

Configured by the standard OTEL_* variables. Exporters: OTLP/gRPC when
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, unless
OTEL_TRACES_EXPORTER says otherwise (batching per OTEL_BSP_*); a JSON-lines file when
CALLSCOPE_TRACE_FILE is set (the local stack and the e2e tests read it).

Library spans: gRPC aio servers and clients (health checks and reflection left out) and
psycopg. Kafka spans are our own (kafka.py): the aiokafka instrumentation does not fit a
getmany() consumer, see docs/observability.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

log = logging.getLogger(__name__)

KafkaHeaders = Sequence[tuple[str, bytes]]


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to a file (safe across processes: O_APPEND)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(span_to_dict(span)) + "\n" for span in spans]
        with self._lock, open(self._path, "a", encoding="utf-8") as out:
            out.write("".join(lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def span_to_dict(span: ReadableSpan) -> dict[str, object]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "service": span.resource.attributes.get("service.name"),
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "attributes": {k: _jsonable(v) for k, v in (span.attributes or {}).items()},
        "status": span.status.status_code.name,
    }


def _jsonable(value: object) -> object:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Iterable):
        return [_jsonable(v) for v in value]
    return str(value)


def service_resource(service_name: str) -> Resource:
    """The resource of a service's spans and metrics (OTEL_RESOURCE_ATTRIBUTES adds to it)."""
    return Resource.create({"service.name": service_name, "service.namespace": "callscope"})


def otlp_enabled(signal: str) -> bool:
    """OTLP export of `signal` ("traces" or "metrics") is on when an endpoint is configured and
    OTEL_<SIGNAL>_EXPORTER does not name another exporter (e.g. "none")."""
    upper = signal.upper()
    exporters = os.environ.get(f"OTEL_{upper}_EXPORTER", "otlp")
    if "otlp" not in [e.strip().lower() for e in exporters.split(",")]:
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")
    )


def setup_tracing(service_name: str, trace_file: Path | None) -> TracerProvider:
    provider = TracerProvider(resource=service_resource(service_name))
    if trace_file is not None:
        # Simple (synchronous) so spans are on disk as soon as they end: tests read them live.
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(trace_file)))
    if otlp_enabled("traces"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def instrument_grpc() -> None:
    """Spans for every aio gRPC server and client created from now on, with W3C context in
    the call metadata. Health checks (probes, every few seconds) and reflection would each be
    a one-span trace of no interest: they are left out."""
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
        filters,
    )

    wanted = filters.negate(
        filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection"))
    )
    for instrumentor in (
        GrpcAioInstrumentorServer(filter_=wanted),
        GrpcAioInstrumentorClient(filter_=wanted),
    ):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def instrument_psycopg() -> None:
    """A client span per SQL statement on connections opened from now on (after migrations,
    so start-up does not make a trace per migration query)."""
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    instrumentor = PsycopgInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(enable_commenter=False)


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """No library spans inside: for periodic housekeeping queries that would otherwise each
    start a trace of their own."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


class _HeaderSetter:
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier.append((key, value.encode()))


class _HeaderGetter:
    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        values = [v.decode(errors="replace") for k, v in carrier if k.lower() == key.lower()]
        return values or None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [k for k, _ in carrier]


def inject_headers(headers: list[tuple[str, bytes]]) -> None:
    """Add traceparent/tracestate for the current span to Kafka headers."""
    propagate.inject(headers, setter=_HeaderSetter())


def extract_context(headers: KafkaHeaders) -> otel_context.Context:
    return propagate.extract(headers, getter=_HeaderGetter())
