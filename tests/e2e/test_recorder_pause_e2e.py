"""PCI pause end to end: a live SIPREC call from SIPp into the whole local stack; the agent
desktop pauses the recording over gRPC (Recorder.SetRecording) while the customer speaks and
resumes it later. What was said in between is nowhere: not in the stored recording, not on
callscope.audio.segments, not in any transcript."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path

import grpc
import pytest
import soundfile

from callscope.v1 import events_pb2, recorder_pb2, recorder_pb2_grpc
from callscope_core.channels import channel_name
from callscope_core.devtools import SampleCall, TopicTail, sipp_command
from callscope_core.topics import AUDIO_SEGMENTS, CALL_EVENTS, TRANSCRIPTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESCALATION = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en")
# The customer's first turn (4.8 s to 9.1 s: "...charged twice on my card...") is paused, with
# a margin for the delay between the media starting and CallStarted reaching the test.
PAUSE_AT_S, RESUME_AT_S = 3.0, 10.2


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


async def test_paused_speech_is_not_stored_published_or_transcribed(
    stack: dict, tmp_path: Path
) -> None:
    endpoints = stack["endpoints"]
    tail = TopicTail(
        endpoints["kafka_bootstrap"], [CALL_EVENTS.name, AUDIO_SEGMENTS.name, TRANSCRIPTS.name]
    )
    await tail.start()
    seen: list = []
    sipp = await asyncio.create_subprocess_exec(
        *sipp_command(ESCALATION, endpoints["sip_host"], endpoints["sip_port"]),
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(60):
            while not (started := [m for _, m in seen if isinstance(m, events_pb2.CallStarted)]):
                seen += await tail.poll(0.1)
        call_id = started[0].call_id
        loop = asyncio.get_running_loop()
        began = loop.time()  # media starts right after the 200/ACK, ~with CallStarted
        async with grpc.aio.insecure_channel(f"127.0.0.1:{endpoints['grpc']['recorder']}") as ch:
            stub = recorder_pb2_grpc.RecorderStub(ch)
            Action = recorder_pb2.SetRecordingRequest
            for at, action, reason in (
                (PAUSE_AT_S, Action.ACTION_PAUSE, "card details"),
                (RESUME_AT_S, Action.ACTION_RESUME, "card taken"),
            ):
                while loop.time() - began < at:
                    seen += await tail.poll(0.05)
                reply = await stub.SetRecording(
                    Action(
                        call_id=call_id, action=action, reason=reason, requested_by="agent-1001"
                    ),
                    timeout=10,
                )
                assert reply.state in ("paused", "recording")
        assert await sipp.wait() == 0

        def done() -> bool:
            stored = any(isinstance(m, events_pb2.RecordingStored) for _, m in seen)
            ends: dict[int, int] = {}
            for _, m in seen:
                if isinstance(m, events_pb2.TranscriptSegment) and m.call_id == call_id:
                    ends[m.channel] = max(ends.get(m.channel, 0), m.end_ms)
            return stored and min(ends.get(1, 0), ends.get(2, 0)) >= 14000

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(150):
                while not done():
                    seen += await tail.poll(0.5)
        seen += await tail.poll(2.0)
    finally:
        if sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
        await tail.stop()

    mine = [m for _, m in seen if getattr(m, "call_id", "") == call_id]
    [paused] = [m for m in mine if isinstance(m, events_pb2.RecordingPaused)]
    [resumed] = [m for m in mine if isinstance(m, events_pb2.RecordingResumed)]
    assert (paused.by, paused.reason, paused.source) == ("agent-1001", "card details", "api")
    assert resumed.source == "api" and resumed.gap_ms > 3000
    [stored] = [m for m in mine if isinstance(m, events_pb2.RecordingStored)]
    [gap] = stored.gaps
    assert gap.reason == "paused" and gap.start_ms == paused.at_ms
    assert gap.start_ms + gap.duration_ms == resumed.at_ms
    # The customer's paused turn lies inside the gap.
    assert gap.start_ms <= 4768 and gap.start_ms + gap.duration_ms >= 9075, gap

    data = (Path(stack["dir"]) / "objects" / stored.bucket / stored.object_key).read_bytes()
    pcm, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    start, end = gap.start_ms * 8, (gap.start_ms + gap.duration_ms) * 8
    assert not pcm[start:end].any(), "paused audio is in the stored recording"
    assert pcm[:start].any() and pcm[end:].any()

    segments = [m for m in mine if isinstance(m, events_pb2.AudioSegment) and m.audio]
    for segment in segments:
        assert (
            segment.start_ms + segment.duration_ms <= gap.start_ms
            or segment.start_ms >= gap.start_ms + gap.duration_ms
        ), (segment.channel, segment.start_ms, segment.duration_ms)

    transcripts = [m for m in mine if isinstance(m, events_pb2.TranscriptSegment)]
    heard_customer = set().union(
        *(words(m.text) for m in transcripts if channel_name(m.channel) == "customer")
    )
    turns = ESCALATION.script["turns"]
    paused_turn = turns[1]
    assert paused_turn["channel"] == "customer"
    secret = words(paused_turn["text"]) - words(
        " ".join(t["text"] for t in turns if t is not paused_turn)
    )
    assert {"charged", "twice", "card"} <= secret
    assert not secret & heard_customer, secret & heard_customer
    # The turns outside the pause are still transcribed.
    assert {"agent", "real"} & heard_customer
