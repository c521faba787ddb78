"""The metric registry, its Prometheus names, the scrape endpoint, OTLP switches, and JSON logs
with trace context."""

from __future__ import annotations

import io
import json
import logging
import socket
import urllib.request

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest

from callscope_core import metrics
from callscope_core.logs import JsonFormatter
from callscope_core.settings import ConfigurationError
from callscope_core.stack import free_port
from callscope_core.tracing import otlp_enabled


def _record_one_of_each(meter) -> None:  # type: ignore[no-untyped-def]
    for spec in metrics.REGISTRY.values():
        labels = {label: "x" for label in spec.labels}
        if spec.kind is metrics.Kind.COUNTER:
            metrics.counter(spec, meter).add(1, labels)
        elif spec.kind is metrics.Kind.UP_DOWN_COUNTER:
            metrics.up_down_counter(spec, meter).add(1, labels)
        elif spec.kind is metrics.Kind.HISTOGRAM:
            metrics.histogram(spec, meter).record(spec.buckets[0] if spec.buckets else 1, labels)
        else:
            metrics.observable(spec, lambda _, labels=labels: [Observation(1, labels)], meter)


def _sample_names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_registry_names_are_what_the_prometheus_exporter_exposes() -> None:
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    provider = MeterProvider(metric_readers=[reader])
    _record_one_of_each(provider.get_meter("test"))
    exposed = _sample_names(generate_latest(registry).decode()) - {"target_info"}
    declared = {name for spec in metrics.REGISTRY.values() for name in spec.prometheus_series}
    assert {n for n in exposed if not n.endswith("_created")} == declared
    provider.shutdown()


def test_registry_declarations_are_consistent() -> None:
    for spec in metrics.REGISTRY.values():
        assert spec.name.startswith("callscope.") and spec.name == spec.name.lower()
        assert spec.service in (
            "all",
            "recorder",
            "transcriber",
            "analyzer",
            "retention",
            "console",
        )
        assert spec.unit and spec.description.endswith(".")
        assert spec.name.split(".")[1] in ("kafka", spec.service)
        if spec.kind is metrics.Kind.HISTOGRAM:
            assert list(spec.buckets) == sorted(spec.buckets) and spec.buckets
    assert metrics.RECORDER_RECORDINGS_STORED.prometheus_series == (
        "callscope_recorder_recordings_stored_bytes_total",
    )
    assert metrics.ANALYZER_ALERT_LATENCY.prometheus_name == (
        "callscope_analyzer_alert_latency_seconds"
    )
    with pytest.raises(ValueError):
        metrics.declare("callscope.kafka.consumer.lag", metrics.Kind.GAUGE, "1", "Twice.")
    with pytest.raises(TypeError):
        metrics.counter(metrics.KAFKA_CONSUMER_LAG)


def test_scrape_endpoint_serves_metrics_labelled_with_the_service() -> None:
    registry = CollectorRegistry()
    handle = metrics.setup_metrics(
        "recorder", free_port(), "127.0.0.1", registry=registry, set_global=False
    )
    try:
        meter = handle.provider.get_meter("test")
        metrics.up_down_counter(metrics.RECORDER_CALLS_ACTIVE, meter).add(3)
        url = f"http://127.0.0.1:{handle.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        assert 'callscope_recorder_calls_active{service_name="recorder"} 3.0' in text
    finally:
        handle.shutdown()
    off = metrics.setup_metrics("recorder", 0, registry=CollectorRegistry(), set_global=False)
    assert off.port is None
    off.shutdown()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigurationError, match="CALLSCOPE_METRICS_PORT"):
            metrics.setup_metrics(
                "recorder", port, "127.0.0.1", registry=CollectorRegistry(), set_global=False
            )


def test_otlp_export_follows_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENDPOINT", "TRACES_ENDPOINT", "METRICS_ENDPOINT"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_METRICS_EXPORTER", raising=False)
    assert not otlp_enabled("traces") and not otlp_enabled("metrics")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4317")
    assert otlp_enabled("metrics") and not otlp_enabled("traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    assert otlp_enabled("traces")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not otlp_enabled("traces") and otlp_enabled("metrics")


def test_json_logs_carry_trace_and_span_ids() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("recorder"))
    logger = logging.getLogger("callscope.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    tracer = TracerProvider().get_tracer("test")
    try:
        logger.info("outside")
        with tracer.start_as_current_span("call") as span:
            logger.info("inside %s", "a span", extra={"fields": {"call_id": "c-1"}})
            context = span.get_span_context()
    finally:
        logger.removeHandler(handler)
    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert "trace_id" not in outside and outside["service"] == "recorder"
    assert inside["msg"] == "inside a span" and inside["call_id"] == "c-1"
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert inside["level"] == "INFO" and inside["ts"].endswith("Z")
