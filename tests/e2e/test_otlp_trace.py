"""Traces and metrics of one SIPREC call as an operator's collector receives them: OTLP/gRPC
into the session's stand-in receiver (tests/conftest.py), and the Prometheus endpoints.

The call is the escalation call tests/e2e/test_siprec_call.py sends (conftest runs this module
after it); run alone, this module sends the same call itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

# The console declares its metrics in its own package; register them for the scrape check.
import callscope_console.telemetry  # noqa: F401
from callscope.v1 import recorder_pb2, recorder_pb2_grpc
from callscope_core import metrics
from callscope_core.devtools import SampleCall, run_sipp

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESCALATION = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en")
SERVICES = {"recorder", "transcriber", "analyzer", "retention"}


def _complete_call_traces(spans: list[dict]) -> dict[str, list[dict]]:
    """Traces with a recorder root span, an alert publish, and every service in them."""
    roots = {
        s["trace_id"]
        for s in spans
        if s["service"] == "recorder" and s["name"] == "siprec call" and not s["parent_span_id"]
    }
    alerts = {s["trace_id"] for s in spans if s["name"] == "publish callscope.alerts"}
    out: dict[str, list[dict]] = {}
    for trace_id in roots & alerts:
        of_trace = [s for s in spans if s["trace_id"] == trace_id]
        if {s["service"] for s in of_trace} >= SERVICES:
            out[trace_id] = of_trace
    return out


def _wait(predicate, timeout: float, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="module")
def call_trace(stack: dict, otlp_receiver: Any, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The escalation call's trace, once it has stopped growing."""
    spans = otlp_receiver.spans
    sent_before = any(s["name"] == "siprec call" for s in spans())
    traces = _wait(lambda: _complete_call_traces(spans()), 60 if sent_before else 0)
    if not traces:
        endpoints = stack["endpoints"]
        workdir = tmp_path_factory.mktemp("sipp-otlp")
        sipp = asyncio.run(
            run_sipp(ESCALATION, endpoints["sip_host"], endpoints["sip_port"], workdir)
        )
        assert sipp.returncode == 0, sipp.stdout.decode(errors="replace")[-2000:]
        traces = _wait(lambda: _complete_call_traces(spans()), 180)
    assert traces, "no trace with the call, its alert and all four services reached the receiver"
    trace_id = next(iter(traces))
    # Finals of the last words and RecordingStored come after the alert: wait until it is whole.
    sizes: list[int] = []

    def settled() -> bool:
        sizes.append(sum(1 for s in spans() if s["trace_id"] == trace_id))
        return len(sizes) >= 4 and sizes[-1] == sizes[-4]

    _wait(settled, 60)
    of_trace = [s for s in spans() if s["trace_id"] == trace_id]
    [root] = [s for s in of_trace if not s["parent_span_id"]]
    return {"trace_id": trace_id, "spans": of_trace, "root": root, "stack": stack}


def test_one_call_is_one_trace_through_all_four_services(call_trace: dict) -> None:
    spans = call_trace["spans"]
    root = call_trace["root"]
    assert root["service"] == "recorder" and root["kind"] == "SERVER"
    assert root["attributes"]["callscope.call_id"]
    by_id = {s["span_id"]: s for s in spans}
    orphans = [s["name"] for s in spans if s["parent_span_id"] and s["parent_span_id"] not in by_id]
    assert not orphans, f"spans whose parent never arrived: {orphans}"
    [invite] = [s for s in spans if s["name"] == "SIP INVITE"]
    assert invite["parent_span_id"] == root["span_id"]
    # From the alert back to the SIP call: analyzer <- transcriber <- recorder.
    [alert] = [s for s in spans if s["name"] == "publish callscope.alerts"]
    chain, span = [], alert
    while span is not None:
        chain.append((span["service"], span["name"]))
        span = by_id.get(span["parent_span_id"])
    services = [service for service, _ in chain]
    assert services[0] == "analyzer" and services[-1] == "recorder" and "transcriber" in services
    assert chain[-1] == ("recorder", "siprec call")
    counts = Counter(s["service"] for s in spans)
    print(f"\ntrace {call_trace['trace_id']}: {len(spans)} spans {dict(counts)}")
    print(Counter((s["service"], s["name"]) for s in spans).most_common())


def test_kafka_consumer_spans_are_children_of_the_producing_services_spans(
    call_trace: dict,
) -> None:
    spans = call_trace["spans"]
    by_id = {s["span_id"]: s for s in spans}
    consumed = Counter()
    for span in (s for s in spans if s["kind"] == "CONSUMER"):
        topic = span["attributes"]["messaging.destination.name"]
        parent = by_id[span["parent_span_id"]]
        assert parent["kind"] == "PRODUCER" and parent["name"] == f"publish {topic}", parent
        if topic != "callscope.alerts":  # analyzer replicas follow each other's acks there
            assert parent["service"] != span["service"]
        consumed[(span["service"], topic)] += 1
    assert consumed[("transcriber", "callscope.audio.segments")] > 30
    assert consumed[("analyzer", "callscope.transcripts")] >= 2
    assert consumed[("analyzer", "callscope.call.events")] >= 2
    assert consumed[("retention", "callscope.call.events")] >= 2


def test_grpc_spans_join_the_caller_trace_and_health_checks_make_none(
    call_trace: dict, otlp_receiver: Any
) -> None:
    assert not [s for s in call_trace["spans"] if "rpc.system" in s["attributes"]]
    # The stack polled every service's health until it was ready: none of it is traced.
    assert not [s for s in otlp_receiver.spans() if "grpc.health" in s["name"]]
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    port = call_trace["stack"]["endpoints"]["grpc"]["recorder"]

    # The caller's context, both as current OTel context (an instrumented client, as in any
    # process that ran a ServiceRuntime, propagates that) and as plain metadata (what an
    # uninstrumented client sends).
    caller = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(
                int(trace_id, 16),
                int(parent_id, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
        )
    )

    async def call() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = recorder_pb2_grpc.RecorderStub(channel)
            metadata = (("traceparent", f"00-{trace_id}-{parent_id}-01"),)
            # Not found, or not implemented yet: the server span is what matters.
            with contextlib.suppress(grpc.aio.AioRpcError):
                await stub.GetRecording(
                    recorder_pb2.GetRecordingRequest(call_id="no-such-call"),
                    metadata=metadata,
                    timeout=5,
                )

    token = otel_context.attach(caller)
    try:
        asyncio.run(call())
    finally:
        otel_context.detach(token)
    found = _wait(lambda: [s for s in otlp_receiver.spans() if s["trace_id"] == trace_id], 30, 0.2)
    # Exactly one server span for the call; spans the handler makes under it are its children.
    servers = [s for s in found if s["kind"] == "SERVER"]
    assert len(servers) == 1, [(s["service"], s["name"], s["kind"]) for s in found]
    [server_span] = servers
    assert server_span["service"] == "recorder" and server_span["kind"] == "SERVER"
    assert server_span["name"] == "/callscope.v1.Recorder/GetRecording"
    # Its parent is the caller's span, or the instrumented client's span made under it (that
    # one is exported by the client process, not by a service).
    assert server_span["parent_span_id"]


def test_json_logs_carry_the_call_trace_id(call_trace: dict) -> None:
    call_id = call_trace["root"]["attributes"]["callscope.call_id"]
    log = Path(call_trace["stack"]["processes"]["recorder"]["log"])
    entries = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and call_id in line
    ]
    recording = [e for e in entries if e["msg"].startswith("recording call")]
    assert recording and recording[0]["trace_id"] == call_trace["trace_id"]
    assert len(recording[0]["span_id"]) == 16


def _latest(points: list[dict], **attributes: Any) -> list[dict]:
    """The newest point of each attribute set (and service) matching `attributes`."""
    newest: dict[str, dict] = {}
    for p in points:
        if all(p["attributes"].get(k) == v for k, v in attributes.items()):
            key = json.dumps([p["service"], p["attributes"]], sort_keys=True)
            if key not in newest or p["time_ns"] >= newest[key]["time_ns"]:
                newest[key] = p
    return list(newest.values())


def test_metrics_over_otlp_describe_the_call(call_trace: dict, otlp_receiver: Any) -> None:
    points = otlp_receiver.points
    active = points(metrics.RECORDER_CALLS_ACTIVE.name)
    assert max(p["value"] for p in active) >= 1  # seen while the call was up
    assert _wait(lambda: [p["value"] for p in _latest(points(active[0]["name"]))] == [0], 10)
    [received] = _latest(points(metrics.RECORDER_RTP_PACKETS_RECEIVED.name))
    assert received["value"] >= 1800  # 1846 packets in the escalation call's pcap
    [stored] = _latest(points(metrics.RECORDER_RECORDINGS_STORED.name))
    assert stored["value"] > 500_000 and stored["unit"] == "By"  # 18.5 s stereo 16-bit 8 kHz
    ended = _latest(points(metrics.RECORDER_CALLS_ENDED.name), reason="bye", result="stored")
    assert ended and ended[0]["value"] >= 1

    [latency] = _latest(points(metrics.ANALYZER_ALERT_LATENCY.name), rule="human_request")
    assert latency["count"] >= 1 and 0 < latency["sum"] / latency["count"] < 5.0
    [rtf] = _latest(points(metrics.TRANSCRIBER_REALTIME_FACTOR.name))
    [lag] = _latest(points(metrics.TRANSCRIBER_LAG.name))
    assert rtf["count"] >= 4 and lag["count"] >= 4
    assert 0 < rtf["sum"] / rtf["count"] < 5 and 0 < lag["sum"] / lag["count"] < 30

    def consumer_lag() -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for p in _latest(points(metrics.KAFKA_CONSUMER_LAG.name)):
            key = (p["attributes"]["consumer_group"], p["attributes"]["topic"])
            out[key] = out.get(key, 0) + p["value"]
        return out

    lags = consumer_lag()
    assert {
        ("callscope-transcriber", "callscope.audio.segments"),
        ("callscope-analyzer", "callscope.transcripts"),
        ("callscope-analyzer", "callscope.call.events"),
        ("callscope-retention", "callscope.call.events"),
    } <= set(lags), lags
    # Everything the call produced has been consumed: no lag left anywhere.
    assert _wait(lambda: not any(consumer_lag().values()), 15), consumer_lag()
    processed = _latest(
        points(metrics.KAFKA_RECORDS_PROCESSED.name), topic="callscope.audio.segments"
    )
    assert sum(p["value"] for p in processed) >= 36  # ~18 one-second segments per channel


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


def test_every_service_serves_prometheus_metrics(call_trace: dict) -> None:
    ports = call_trace["stack"]["endpoints"]["metrics"]
    # The console (an HTTP gateway, no Kafka consumer) serves its metrics like the others.
    assert set(ports) == SERVICES | {"console"}
    known = {name for spec in metrics.REGISTRY.values() for name in spec.prometheus_series}
    for service, port in ports.items():
        text = _scrape(port)
        samples = {
            line.split("{")[0].split(" ")[0]
            for line in text.splitlines()
            if line.startswith("callscope_")
        }
        unknown = {s for s in samples if s not in known and not s.endswith("_created")}
        assert not unknown, (service, unknown)
        assert f'service_name="{service}"' in text
        if service == "recorder":
            assert "callscope_recorder_calls_active" in samples
            [line] = [
                line
                for line in text.splitlines()
                if line.startswith("callscope_recorder_rtp_packets_received_total")
            ]
            assert float(line.rsplit(" ", 1)[1]) >= 1800
        elif service != "console":
            assert "callscope_kafka_consumer_lag" in samples, service
        if service == "retention":  # counted at start-up, then every 30 s
            assert "callscope_retention_purge_backlog" in samples
