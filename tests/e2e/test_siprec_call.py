"""A SIPREC call driven in from outside with SIPp, checked where users look: Kafka, object
storage, PostgreSQL and the OpenTelemetry spans of every service."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import socket
from pathlib import Path

import numpy as np
import psycopg
import pytest
import soundfile

from callscope.v1 import events_pb2
from callscope_core.channels import channel_name
from callscope_core.devtools import SampleCall, TopicTail, run_sipp
from callscope_core.topics import ALERTS, CALL_EVENTS, CALL_SUMMARIES, TRANSCRIPTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESCALATION = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


async def collect(tail: TopicTail, seen: list, done: asyncio.Event, until) -> None:  # type: ignore[no-untyped-def]
    while not done.is_set():
        seen.extend(await tail.poll(0.5))
        if until(seen):
            done.set()


@pytest.fixture(scope="module")
def escalation_call(stack: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Send the escalation call once; every test below checks one place it reached."""
    endpoints = stack["endpoints"]

    def finished(seen: list) -> bool:
        # Only this call's events count (other tests' calls may still be finishing).
        started = [m for _, m in seen if isinstance(m, events_pb2.CallStarted)]
        ours = started[0].call_id if started else None
        kinds = {type(m).__name__ for _, m in seen if getattr(m, "call_id", None) == ours}
        wanted = {"RecordingStored", "SupervisorAlert", "CallSummary"}
        return wanted <= kinds and _finals_settled(seen)

    async def scenario() -> dict:
        tail = TopicTail(
            endpoints["kafka_bootstrap"],
            [CALL_EVENTS.name, TRANSCRIPTS.name, ALERTS.name, CALL_SUMMARIES.name],
        )
        await tail.start()
        seen: list = []
        done = asyncio.Event()
        collector = asyncio.create_task(collect(tail, seen, done, finished))
        sipp = await run_sipp(
            ESCALATION,
            endpoints["sip_host"],
            endpoints["sip_port"],
            tmp_path_factory.mktemp("sipp"),
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 180)
        collector.cancel()
        await tail.stop()
        return {"sipp": sipp, "seen": seen}

    return asyncio.run(scenario())


def _finals_settled(seen: list) -> bool:
    """Both channels' last audio was transcribed: a final ends near the end of each channel."""
    ends: dict[int, int] = {}
    for _, m in seen:
        if isinstance(m, events_pb2.TranscriptSegment):
            ends[m.channel] = max(ends.get(m.channel, 0), m.end_ms)
    script = ESCALATION.script
    last_turn_end = {turn["channel"]: turn["end_ms"] for turn in script["turns"]}
    return all(
        ends.get(1 if channel == "customer" else 2, 0) >= end - 1500
        for channel, end in last_turn_end.items()
    )


def _events(call: dict, kind: type) -> list:
    return [m for _, m in call["seen"] if isinstance(m, kind)]


def _call_id(call: dict) -> str:
    started = _events(call, events_pb2.CallStarted)
    assert started, "no CallStarted on callscope.call.events"
    return started[0].call_id


def test_sipp_completed_the_call(escalation_call: dict) -> None:
    sipp = escalation_call["sipp"]
    assert sipp.returncode == 0, sipp.stdout.decode(errors="replace")[-3000:]


def test_call_started_names_the_participants_from_rs_metadata(escalation_call: dict) -> None:
    [started] = _events(escalation_call, events_pb2.CallStarted)
    assert started.source == "siprec" and started.queue == "billing"
    by_channel = {channel_name(p.channel): p.aor for p in started.participants}
    assert by_channel == {
        "customer": "sip:+33612345678@pstn.example",
        "agent": "sip:agent-1001@callcenter.example",
    }


def test_recording_is_a_stereo_flac_of_the_call_in_object_storage(
    escalation_call: dict, stack: dict
) -> None:
    call_id = _call_id(escalation_call)
    [stored] = [
        m for m in _events(escalation_call, events_pb2.RecordingStored) if m.call_id == call_id
    ]
    path = Path(stack["dir"]) / "objects" / stored.bucket / stored.object_key
    data = path.read_bytes()
    assert len(data) == stored.size_bytes and stored.content_type == "audio/flac"
    info = soundfile.info(io.BytesIO(data))
    assert info.format == "FLAC" and info.channels == 2 and info.samplerate == 8000
    assert info.subtype == "PCM_16"
    pcm, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    frames = len(pcm)
    duration_ms = frames * 1000 // 8000
    assert abs(duration_ms - ESCALATION.duration_ms) < 1000, (duration_ms, ESCALATION.duration_ms)
    # Each speaker is on their own side: customer left, agent right.
    for turn in ESCALATION.script["turns"]:
        a, b = turn["start_ms"] * 8, turn["end_ms"] * 8
        left = float(np.sqrt(np.mean(pcm[a:b, 0].astype(np.float64) ** 2)))
        right = float(np.sqrt(np.mean(pcm[a:b, 1].astype(np.float64) ** 2)))
        speaker, other = (left, right) if turn["channel"] == "customer" else (right, left)
        assert speaker > 300 and speaker > 10 * other, (turn, left, right)


def test_call_row_in_postgresql(escalation_call: dict, stack: dict) -> None:
    call_id = _call_id(escalation_call)
    with psycopg.connect(stack["endpoints"]["database_url"]) as conn:
        row = conn.execute(
            "SELECT state, labels_source, participants, rs_metadata, object_key, duration_ms,"
            " media_stats FROM recorder.calls WHERE call_id = %s",
            (call_id,),
        ).fetchone()
    assert row is not None
    state, labels_source, participants, rs_metadata, object_key, _, stats = row
    assert state == "stored" and labels_source == "metadata"
    assert {p["aor"] for p in participants} >= {"sip:agent-1001@callcenter.example"}
    assert "urn:ietf:params:xml:ns:recording:1" in rs_metadata
    assert object_key.endswith(f"{call_id}.flac")
    assert all(stats[c]["packets"] > 900 and stats[c]["lost"] == 0 for c in ("customer", "agent"))


def test_transcript_contains_the_spoken_words_per_channel(escalation_call: dict) -> None:
    call_id = _call_id(escalation_call)
    finals = [
        m
        for m in _events(escalation_call, events_pb2.TranscriptSegment)
        if m.call_id == call_id and m.kind == events_pb2.TranscriptSegment.KIND_FINAL
    ]
    keys = [(m.channel, m.utterance_no, m.version) for m in finals]
    assert len(keys) == len(set(keys)), "duplicate finals"
    for channel in ("customer", "agent"):
        spoken = words(
            " ".join(t["text"] for t in ESCALATION.script["turns"] if t["channel"] == channel)
        )
        heard = words(" ".join(m.text for m in finals if channel_name(m.channel) == channel))
        recall = sum(1 for w in set(spoken) if w in heard) / len(set(spoken))
        assert recall >= 0.7, (channel, recall, heard)
        assert all(m.language == "en" for m in finals if channel_name(m.channel) == channel)
    customer_text = " ".join(m.text for m in finals if channel_name(m.channel) == "customer")
    assert words(customer_text).count("agent") >= 2
    for m in finals:
        assert m.words and m.start_ms <= m.words[0].start_ms <= m.words[-1].end_ms <= m.end_ms + 50


def test_alert_for_the_repeated_request_for_a_human(escalation_call: dict) -> None:
    call_id = _call_id(escalation_call)
    alerts = [
        m
        for m in _events(escalation_call, events_pb2.SupervisorAlert)
        if m.call_id == call_id and m.kind == "human_request"
    ]
    assert len(alerts) == 1, alerts  # other rules may fire too; this one exactly once
    [alert] = alerts
    assert alert.kind == "human_request" and alert.queue == "billing"
    assert alert.agent == "sip:agent-1001@callcenter.example"
    assert len(alert.evidence) >= 2
    assert all("agent" in e.text.lower() for e in alert.evidence)
    assert alert.at_ms == alert.evidence[1].at_ms


async def _eventually(query, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while (result := query()) is None:
            await asyncio.sleep(0.2)
    return result


async def test_retention_registered_the_recording(escalation_call: dict, stack: dict) -> None:
    call_id = _call_id(escalation_call)

    def query():  # type: ignore[no-untyped-def]
        with psycopg.connect(stack["endpoints"]["database_url"]) as conn:
            return conn.execute(
                "SELECT purposes, expires_at - stored_at FROM retention.recordings"
                " WHERE call_id = %s",
                (call_id,),
            ).fetchone()

    purposes, kept_for = await _eventually(query)
    assert set(purposes) == {"quality", "analytics"}
    assert kept_for.days == 365  # the longest purpose wins


async def test_one_trace_from_recorder_to_alert(escalation_call: dict, stack: dict) -> None:
    call_id = _call_id(escalation_call)
    trace_file = Path(stack["endpoints"]["trace_file"])

    def spans_of_call():  # type: ignore[no-untyped-def]
        spans = [json.loads(line) for line in trace_file.read_text().splitlines()]
        roots = [
            s
            for s in spans
            if s["attributes"].get("callscope.call_id") == call_id
            and s["service"] == "recorder"
            and s["parent_span_id"] is None
        ]
        if not roots:
            return None
        trace_id = roots[0]["trace_id"]
        of_trace = [s for s in spans if s["trace_id"] == trace_id]
        services = {s["service"] for s in of_trace}
        return (
            of_trace if {"recorder", "transcriber", "analyzer", "retention"} <= services else None
        )

    spans = await _eventually(spans_of_call)
    by_id = {s["span_id"]: s for s in spans}
    alert_publish = [s for s in spans if s["name"] == "publish callscope.alerts"]
    assert alert_publish and alert_publish[0]["service"] == "analyzer"
    # Walk from the alert back to the SIP call: analyzer <- transcriber <- recorder.
    chain = []
    span = alert_publish[0]
    while span is not None:
        chain.append(span["service"])
        span = by_id.get(span["parent_span_id"])
    assert chain[-1] == "recorder" and "transcriber" in chain


def test_malformed_sip_gets_an_error_response_and_the_server_goes_on(stack: dict) -> None:
    host, port = stack["endpoints"]["sip_host"], stack["endpoints"]["sip_port"]
    bad = (
        b"INVITE sip:srs@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-bad1\r\n"
        b"From: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\n"
        b"Call-ID: bad-length@test\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        b"Content-Length: 5000\r\n\r\nv=0\r\n"
    )
    options = (
        b"OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-opt1\r\n"
        b"From: <sip:src@127.0.0.1>;tag=2\r\nTo: <sip:srs@127.0.0.1>\r\n"
        b"Call-ID: options@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"\x00\xffnot sip at all", (host, port))
        sock.sendto(bad, (host, port))
        reply = sock.recv(65536).decode()
        assert reply.startswith("SIP/2.0 400 "), reply
        assert "Call-ID: bad-length@test" in reply
        sock.sendto(options, (host, port))
        reply = sock.recv(65536).decode()
        assert reply.startswith("SIP/2.0 200 "), reply


def test_call_summary_after_the_call(escalation_call: dict) -> None:
    call_id = _call_id(escalation_call)
    summaries = _events(escalation_call, events_pb2.CallSummary)
    # The latest: a final after the summary (e.g. the post-call pass) brings a new one.
    summary = [m for m in summaries if m.call_id == call_id][-1]
    assert summary.customer_sentiment.label == "negative"
    assert summary.agent_talk_ms > 3000 and summary.customer_talk_ms > 3000
    assert len(summary.sentiment_by_quarter) == 4
    alerts = _events(escalation_call, events_pb2.SupervisorAlert)
    human = [a for a in alerts if a.call_id == call_id and a.kind == "human_request"]
    assert human[0].alert_id in summary.alert_ids


async def test_watch_call_gives_a_late_supervisor_the_whole_call(
    escalation_call: dict, stack: dict
) -> None:
    import grpc

    from callscope.v1 import supervisor_pb2, supervisor_pb2_grpc

    call_id = _call_id(escalation_call)
    port = stack["endpoints"]["grpc"]["analyzer"]

    def registered():  # type: ignore[no-untyped-def]
        with psycopg.connect(stack["endpoints"]["database_url"]) as conn:
            return conn.execute(
                "SELECT 1 FROM retention.recordings WHERE call_id = %s", (call_id,)
            ).fetchone()

    await _eventually(registered)  # the call is over: its purposes decide (CheckAccess)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = supervisor_pb2_grpc.SupervisorStub(channel)
        request = supervisor_pb2.WatchCallRequest(
            call_id=call_id, requested_by="qa-reviewer-1", purpose="quality"
        )
        updates = [u async for u in stub.WatchCall(request, timeout=20)]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetCallAnalysis(
                supervisor_pb2.GetCallAnalysisRequest(
                    call_id="no-such-call", requested_by="qa-reviewer-1", purpose="quality"
                ),
                timeout=5,
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED  # retention knows no such
    kinds = [u.WhichOneof("update") for u in updates]
    assert kinds.count("transcript") == kinds.count("analysis") >= 4
    assert any(u.alert.kind == "human_request" for u in updates if u.HasField("alert"))
    customer = [u.analysis for u in updates if u.HasField("analysis") and u.analysis.channel == 1]
    assert customer and all(a.sentiment.label for a in customer)


async def test_get_recording_serves_a_signed_url_only_for_an_allowed_purpose_and_audits_it(
    escalation_call: dict, stack: dict
) -> None:
    import grpc

    from callscope.v1 import recorder_pb2, recorder_pb2_grpc, retention_pb2, retention_pb2_grpc

    call_id = _call_id(escalation_call)
    endpoints = stack["endpoints"]

    def registered():  # type: ignore[no-untyped-def]
        with psycopg.connect(endpoints["database_url"]) as conn:
            return conn.execute(
                "SELECT 1 FROM retention.recordings WHERE call_id = %s", (call_id,)
            ).fetchone()

    await _eventually(registered)
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{endpoints['grpc']['recorder']}") as rec,
        grpc.aio.insecure_channel(f"127.0.0.1:{endpoints['grpc']['retention']}") as ret,
    ):
        recorder = recorder_pb2_grpc.RecorderStub(rec)
        reply = await recorder.GetRecording(
            recorder_pb2.GetRecordingRequest(
                call_id=call_id, requested_by="qa-reviewer-1", purpose="quality", ttl_seconds=60
            ),
            timeout=10,
        )
        assert reply.url.endswith(f"{call_id}.flac") and reply.expires_at_unix > 0
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await recorder.GetRecording(
                recorder_pb2.GetRecordingRequest(
                    call_id=call_id, requested_by="lawyer-1", purpose="proof"
                ),
                timeout=10,
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert refused.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await recorder.GetRecording(
                recorder_pb2.GetRecordingRequest(call_id=call_id), timeout=10
            )
        assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        audit = await retention_pb2_grpc.RetentionStub(ret).ListAudit(
            retention_pb2.ListAuditRequest(limit=1000), timeout=10
        )
    actors = [e.actor for e in audit.entries if call_id in (e.subject + e.details_json)]
    assert "qa-reviewer-1" in actors and "lawyer-1" in actors  # granted and refused, both kept
