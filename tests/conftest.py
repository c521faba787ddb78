"""Fixtures for end-to-end tests: the whole local stack, started once per test session, exporting
its traces and metrics over OTLP to an in-memory receiver the session starts first."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from callscope_core import stack as local_stack

REPO = Path(__file__).resolve().parent.parent


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


class OtlpReceiver(
    trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer
):
    """A stand-in OpenTelemetry collector: OTLP/gRPC traces and metrics, kept in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[dict[str, Any]] = []
        self._points: list[dict[str, Any]] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def Export(self, request: Any, context: Any) -> Any:  # the gRPC method's name
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            self._add_spans(request)
            return trace_service_pb2.ExportTraceServiceResponse()
        self._add_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def _add_spans(self, request: Any) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "service": service,
                            "scope": scope_spans.scope.name,
                            "name": span.name,
                            "kind": span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex() or None,
                            "start_ns": span.start_time_unix_nano,
                            "end_ns": span.end_time_unix_nano,
                            "attributes": _attributes(span.attributes),
                        }
                    )
        with self._lock:
            self._spans += spans

    def _add_metrics(self, request: Any) -> None:
        points = []
        for resource_metrics in request.resource_metrics:
            service = _attributes(resource_metrics.resource.attributes).get("service.name")
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        entry = {
                            "service": service,
                            "name": metric.name,
                            "unit": metric.unit,
                            "kind": kind,
                            "attributes": _attributes(point.attributes),
                            "time_ns": point.time_unix_nano,
                        }
                        if kind == "histogram":
                            entry.update(count=point.count, sum=point.sum)
                        else:
                            entry["value"] = (
                                point.as_int
                                if point.WhichOneof("value") == "as_int"
                                else point.as_double
                            )
                        points.append(entry)
        with self._lock:
            self._points += points

    def spans(self) -> list[dict[str, Any]]:
        """Distinct spans, oldest first. The OTLP exporter retries an export the receiver was
        slow to acknowledge (a loaded machine), so the same span can arrive twice."""
        with self._lock:
            return list({s["span_id"]: s for s in self._spans}.values())

    def points(self, name: str) -> list[dict[str, Any]]:
        """Every data point received for metric `name`, oldest first (cumulative values)."""
        with self._lock:
            return [p for p in self._points if p["name"] == name]


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.server.start()
    yield receiver
    receiver.server.stop(grace=1)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, otlp_receiver: OtlpReceiver) -> Iterator[dict]:
    directory = tmp_path_factory.mktemp("stack")
    os.environ.setdefault("CALLSCOPE_TRANSCRIBER_MODELS_DIR", str(REPO / ".callscope" / "models"))
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach the receiver quickly
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }
    try:
        state = local_stack.up(directory, timeout=300, env=otel)
    except local_stack.StackError:
        for log in sorted((directory / "logs").glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        raise
    yield state
    local_stack.down(directory)


LATE = {"test_otlp_trace.py": 1, "test_broker_restart.py": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The OTLP checks look at the trace and metrics of the escalation call that
    tests/e2e/test_siprec_call.py sends: run them late so that one call serves both. The
    broker restart runs last: no other test sees the broker's records vanish."""
    items.sort(key=lambda item: LATE.get(item.path.name, 0))
