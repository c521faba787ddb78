"""Metrics: the one registry of Callscope metric names, and the OpenTelemetry MeterProvider.

Every metric is declared here once (name, instrument kind, unit, labels, meaning) so that the
docs, the Grafana dashboard and the Prometheus alert rules can be checked against what the
services really emit (tests/deploy/test_dashboards.py). The instrument itself is created where
the thing is measured, from its declaration:

    from callscope_core import metrics
    CALLS_ACTIVE = metrics.up_down_counter(metrics.RECORDER_CALLS_ACTIVE)
    CALLS_ACTIVE.add(1)

Instruments may be created at import time: until `setup_metrics` installs the MeterProvider
they are the API's proxies, which bind to the real provider once it is set.

Export: always a Prometheus scrape endpoint on CALLSCOPE_METRICS_PORT (default 9464, path
/metrics; 0 disables it), and OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT (or the metrics-only
variant) is set, every OTEL_METRIC_EXPORT_INTERVAL ms.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader

from .settings import ConfigurationError
from .tracing import otlp_enabled, service_resource

log = logging.getLogger(__name__)


class Kind(StrEnum):
    COUNTER = "counter"
    UP_DOWN_COUNTER = "updowncounter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"  # observable gauge: a callback reads the current value
    OBSERVABLE_COUNTER = "observable_counter"  # a callback reads a running total


# OTel unit -> Prometheus name suffix (the exporter's mapping for the units we use).
_PROMETHEUS_UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": ""}


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    unit: str
    description: str
    labels: tuple[str, ...] = ()
    service: str = "all"  # the service that emits it; "all" for the shared Kafka metrics
    buckets: tuple[float, ...] = ()  # histogram bucket boundaries, in `unit`

    @property
    def prometheus_name(self) -> str:
        """The metric family name on /metrics: dots to underscores, the unit as a suffix."""
        base = re.sub(r"[^a-zA-Z0-9:]+", "_", self.name)
        unit = re.sub(r"\{.*\}", "", self.unit)
        suffix = _PROMETHEUS_UNITS.get(unit, unit)
        if suffix and not base.endswith("_" + suffix):
            base += "_" + suffix
        return base

    @property
    def prometheus_series(self) -> tuple[str, ...]:
        """The sample names PromQL can select: _total for counters, _bucket/_sum/_count for
        histograms, the bare name for gauges (an up-down counter is a gauge there)."""
        name = self.prometheus_name
        if self.kind in (Kind.COUNTER, Kind.OBSERVABLE_COUNTER):
            return (name + "_total",)
        if self.kind is Kind.HISTOGRAM:
            return (name + "_bucket", name + "_sum", name + "_count")
        return (name,)

    @property
    def scope(self) -> str:
        return "callscope.core" if self.service == "all" else f"callscope.{self.service}"


REGISTRY: dict[str, MetricSpec] = {}


def declare(
    name: str,
    kind: Kind,
    unit: str,
    description: str,
    labels: Iterable[str] = (),
    *,
    service: str = "all",
    buckets: Iterable[float] = (),
) -> MetricSpec:
    if name in REGISTRY:
        raise ValueError(f"metric {name} declared twice")
    spec = MetricSpec(name, kind, unit, description, tuple(labels), service, tuple(buckets))
    REGISTRY[name] = spec
    return spec


# Seconds buckets for work that should take well under a second.
_FAST_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# -- shared: every consumer and producer (callscope_core.kafka) ------------------------------
KAFKA_CONSUMER_LAG = declare(
    "callscope.kafka.consumer.lag",
    Kind.GAUGE,
    "{record}",
    "Records in the partition not yet processed by the group: highwater - position.",
    ("consumer_group", "topic", "partition"),
)
KAFKA_RECORDS_PROCESSED = declare(
    "callscope.kafka.records.processed",
    Kind.COUNTER,
    "{record}",
    "Records a consumer's handler processed successfully.",
    ("consumer_group", "topic"),
)
KAFKA_RECORDS_DEAD_LETTERED = declare(
    "callscope.kafka.records.dead_lettered",
    Kind.COUNTER,
    "{record}",
    "Records parked on callscope.deadletter (undecodable or rejected as invalid).",
    ("consumer_group", "topic"),
)
KAFKA_PROCESS_DURATION = declare(
    "callscope.kafka.process.duration",
    Kind.HISTOGRAM,
    "s",
    "Time to process one record, retries included.",
    ("consumer_group", "topic"),
    buckets=_FAST_S,
)
KAFKA_RECORDS_PUBLISHED = declare(
    "callscope.kafka.records.published",
    Kind.COUNTER,
    "{record}",
    "Records published and acknowledged by the brokers (acks=all).",
    ("topic",),
)
KAFKA_PUBLISH_DURATION = declare(
    "callscope.kafka.publish.duration",
    Kind.HISTOGRAM,
    "s",
    "Time from send to the brokers' acknowledgement, retries included.",
    ("topic",),
    buckets=_FAST_S,
)

# -- recorder ------------------------------------------------------------------------------
RECORDER_CALLS_ACTIVE = declare(
    "callscope.recorder.calls.active",
    Kind.UP_DOWN_COUNTER,
    "{call}",
    "Calls being recorded now.",
    service="recorder",
)
RECORDER_CALLS_ENDED = declare(
    "callscope.recorder.calls.ended",
    Kind.COUNTER,
    "{call}",
    "Calls ended, by reason (bye, cancel, timeout, shutdown) and result (stored, failed).",
    ("reason", "result"),
    service="recorder",
)
RECORDER_SIP_REQUESTS = declare(
    "callscope.recorder.sip.requests",
    Kind.COUNTER,
    "{request}",
    "SIP requests received, by method; unparseable ones as method=malformed.",
    ("method",),
    service="recorder",
)
RECORDER_RTP_PACKETS_RECEIVED = declare(
    "callscope.recorder.rtp.packets.received",
    Kind.OBSERVABLE_COUNTER,
    "{packet}",
    "Valid RTP packets received on call media sockets.",
    service="recorder",
)
RECORDER_RTP_PACKETS_MALFORMED = declare(
    "callscope.recorder.rtp.packets.malformed",
    Kind.OBSERVABLE_COUNTER,
    "{packet}",
    "Datagrams on call media sockets that are not RTP.",
    service="recorder",
)
RECORDER_RTP_PACKETS_LOST = declare(
    "callscope.recorder.rtp.packets.lost",
    Kind.COUNTER,
    "{packet}",
    "RTP packets lost in the network (gaps in sequence numbers), by channel.",
    ("channel",),
    service="recorder",
)
RECORDER_RECORDINGS_STORED = declare(
    "callscope.recorder.recordings.stored",
    Kind.COUNTER,
    "By",
    "Bytes of recordings written to the object store.",
    service="recorder",
)

# -- transcriber ---------------------------------------------------------------------------
TRANSCRIBER_REALTIME_FACTOR = declare(
    "callscope.transcriber.realtime_factor",
    Kind.HISTOGRAM,
    "1",
    "Transcription time / audio duration per utterance (above 1: slower than real time).",
    service="transcriber",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
)
TRANSCRIBER_LAG = declare(
    "callscope.transcriber.lag",
    Kind.HISTOGRAM,
    "s",
    "From the moment an utterance's last audio was live to its FINAL being published.",
    service="transcriber",
    buckets=(0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0),
)
TRANSCRIBER_UTTERANCES = declare(
    "callscope.transcriber.utterances.transcribed",
    Kind.COUNTER,
    "{utterance}",
    "Utterances transcribed, by channel and result (final published, or empty: silence/noise).",
    ("channel", "result"),
    service="transcriber",
)
TRANSCRIBER_DEGRADED = declare(
    "callscope.transcriber.degraded",
    Kind.COUNTER,
    "{event}",
    "TranscriptionDegraded events by level: partials_skipped, deferred (left to the post-call"
    " pass), recovered.",
    ("level",),
    service="transcriber",
)
TRANSCRIBER_BACKLOG = declare(
    "callscope.transcriber.backlog",
    Kind.GAUGE,
    "s",
    "Audio of live utterances cut and waiting for the model (the back-pressure measure).",
    service="transcriber",
)

# -- analyzer ------------------------------------------------------------------------------
ANALYZER_ALERT_LATENCY = declare(
    "callscope.analyzer.alert.latency",
    Kind.HISTOGRAM,
    "s",
    "From the publish of the FINAL that triggered an alert to the alert's publish.",
    ("rule",),
    service="analyzer",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0),
)
ANALYZER_ALERTS_RAISED = declare(
    "callscope.analyzer.alerts.raised",
    Kind.COUNTER,
    "{alert}",
    "Supervisor alerts published, by rule and severity.",
    ("rule", "severity"),
    service="analyzer",
)

# -- retention -----------------------------------------------------------------------------
RETENTION_PURGE_BACKLOG = declare(
    "callscope.retention.purge.backlog",
    Kind.GAUGE,
    "{recording}",
    "Recordings past their expires_at not yet purged (periodic count of retention.recordings).",
    service="retention",
)
RETENTION_PURGE_OVERDUE = declare(
    "callscope.retention.purge.overdue",
    Kind.GAUGE,
    "s",
    "How long the oldest recording in the purge backlog has been past its expires_at.",
    service="retention",
)


# -- creating instruments ------------------------------------------------------------------
def _meter(spec: MetricSpec, meter: otel_metrics.Meter | None) -> otel_metrics.Meter:
    return meter or otel_metrics.get_meter(spec.scope)


def _check(spec: MetricSpec, *kinds: Kind) -> None:
    if spec.kind not in kinds:
        raise TypeError(f"{spec.name} is a {spec.kind}, not a {'/'.join(kinds)}")


def counter(spec: MetricSpec, meter: otel_metrics.Meter | None = None) -> otel_metrics.Counter:
    _check(spec, Kind.COUNTER)
    return _meter(spec, meter).create_counter(spec.name, spec.unit, spec.description)


def up_down_counter(
    spec: MetricSpec, meter: otel_metrics.Meter | None = None
) -> otel_metrics.UpDownCounter:
    _check(spec, Kind.UP_DOWN_COUNTER)
    return _meter(spec, meter).create_up_down_counter(spec.name, spec.unit, spec.description)


def histogram(spec: MetricSpec, meter: otel_metrics.Meter | None = None) -> otel_metrics.Histogram:
    _check(spec, Kind.HISTOGRAM)
    return _meter(spec, meter).create_histogram(
        spec.name,
        spec.unit,
        spec.description,
        explicit_bucket_boundaries_advisory=list(spec.buckets) or None,
    )


Callback = Callable[[CallbackOptions], Iterable[Observation]]


def observable(
    spec: MetricSpec, callback: Callback, meter: otel_metrics.Meter | None = None
) -> Any:
    """An observable gauge or counter: `callback` reports the current values when read."""
    _check(spec, Kind.GAUGE, Kind.OBSERVABLE_COUNTER)
    create = (
        _meter(spec, meter).create_observable_gauge
        if spec.kind is Kind.GAUGE
        else _meter(spec, meter).create_observable_counter
    )
    return create(spec.name, [callback], spec.unit, spec.description)


# -- the provider ----------------------------------------------------------------------------
@dataclass
class MetricsHandle:
    provider: MeterProvider
    port: int | None = None  # the Prometheus endpoint's port, None when disabled
    _server: Any = None

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.provider.shutdown()


def setup_metrics(
    service_name: str,
    port: int,
    host: str = "0.0.0.0",
    *,
    registry: Any = None,
    set_global: bool = True,
) -> MetricsHandle:
    """Install the MeterProvider: a Prometheus endpoint on `port` (0: none), OTLP if configured."""
    readers: list[MetricReader] = []
    server = bound = None
    if port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import REGISTRY as DEFAULT_REGISTRY
        from prometheus_client import start_http_server

        registry = registry if registry is not None else DEFAULT_REGISTRY
        readers.append(
            PrometheusMetricReader(
                scope_info_enabled=False,
                # Every series says which service it comes from, whatever the scrape job is.
                resource_attribute_filter=lambda key: key == "service.name",
                registry=registry,
            )
        )
        try:
            server, _ = start_http_server(port, host, registry=registry)
        except OSError as exc:
            raise ConfigurationError(
                f"CALLSCOPE_METRICS_PORT: cannot serve metrics on {host}:{port}: {exc}"
            ) from None
        bound = int(server.server_address[1])
        log.info("Prometheus metrics on http://%s:%d/metrics", host, bound)
    if otlp_enabled("metrics"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    provider = MeterProvider(resource=service_resource(service_name), metric_readers=readers)
    if set_global:
        otel_metrics.set_meter_provider(provider)
    return MetricsHandle(provider, bound, server)
