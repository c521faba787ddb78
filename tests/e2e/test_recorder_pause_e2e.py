"""PCI pause end to end: a live SIPREC call from SIPp into the whole local stack; the recording
is paused while the customer speaks and resumed later, by the agent desktop over gRPC
(Recorder.SetRecording) or by the agent's keypad (*1 / *2 as RFC 4733 telephone-events in the
agent's RTP). What was said in between is nowhere: not in the stored recording, not on
callscope.audio.segments, not in any transcript."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

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
# The same audio with the agent keying *1 at 3.0 s and *2 at 10.2 s (tools/make_test_call.py).
ESCALATION_DTMF = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en_dtmf")
# The customer's first turn (4.8 s to 9.1 s: "...charged twice on my card...") is paused, with
# a margin for the delay between the media starting and CallStarted reaching the test.
PAUSE_AT_S, RESUME_AT_S = 3.0, 10.2


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


# What drives the pause while the call plays: (endpoints, call_id, seconds since media began,
# poll the tail) -> None.
Control = Callable[
    [dict, str, Callable[[], float], Callable[[float], Awaitable[None]]], Awaitable[None]
]


async def run_paused_call(
    stack: dict, tmp_path: Path, call: SampleCall, control: Control
) -> tuple[str, list]:
    """Play `call` from SIPp, let `control` pause and resume it, and gather what the stack
    published about it until it is stored and transcribed past the resumed turn."""
    endpoints = stack["endpoints"]
    tail = TopicTail(
        endpoints["kafka_bootstrap"], [CALL_EVENTS.name, AUDIO_SEGMENTS.name, TRANSCRIPTS.name]
    )
    await tail.start()
    seen: list = []
    sipp = await asyncio.create_subprocess_exec(
        *sipp_command(call, endpoints["sip_host"], endpoints["sip_port"]),
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def poll(seconds: float) -> None:
        seen.extend(await tail.poll(seconds))

    try:
        async with asyncio.timeout(60):
            while not (started := [m for _, m in seen if isinstance(m, events_pb2.CallStarted)]):
                await poll(0.1)
        call_id = started[0].call_id
        loop = asyncio.get_running_loop()
        began = loop.time()  # media starts right after the 200/ACK, ~with CallStarted
        await control(endpoints, call_id, lambda: loop.time() - began, poll)
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
                    await poll(0.5)
        await poll(2.0)
    finally:
        if sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
        await tail.stop()
    return call_id, [m for _, m in seen if getattr(m, "call_id", "") == call_id]


def assert_paused_turn_is_nowhere(stack: dict, mine: list) -> tuple[Any, Any]:
    """The customer's first turn lies in the recording's one gap and is nowhere else; returns
    the RecordingPaused and RecordingResumed events."""
    [paused] = [m for m in mine if isinstance(m, events_pb2.RecordingPaused)]
    [resumed] = [m for m in mine if isinstance(m, events_pb2.RecordingResumed)]
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
    return paused, resumed


async def test_paused_speech_is_not_stored_published_or_transcribed(
    stack: dict, tmp_path: Path
) -> None:
    async def agent_desktop(
        endpoints: dict,
        call_id: str,
        elapsed: Callable[[], float],
        poll: Callable[[float], Awaitable[None]],
    ) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{endpoints['grpc']['recorder']}") as ch:
            stub = recorder_pb2_grpc.RecorderStub(ch)
            Action = recorder_pb2.SetRecordingRequest
            for at, action, reason in (
                (PAUSE_AT_S, Action.ACTION_PAUSE, "card details"),
                (RESUME_AT_S, Action.ACTION_RESUME, "card taken"),
            ):
                while elapsed() < at:
                    await poll(0.05)
                reply = await stub.SetRecording(
                    Action(
                        call_id=call_id, action=action, reason=reason, requested_by="agent-1001"
                    ),
                    timeout=10,
                )
                assert reply.state in ("paused", "recording")

    _, mine = await run_paused_call(stack, tmp_path, ESCALATION, agent_desktop)
    paused, resumed = assert_paused_turn_is_nowhere(stack, mine)
    assert (paused.by, paused.reason, paused.source) == ("agent-1001", "card details", "api")
    assert resumed.source == "api" and resumed.gap_ms > 3000


async def test_agent_keypad_pause_over_siprec_leaves_no_audio_behind(
    stack: dict, tmp_path: Path
) -> None:
    """*1 and *2 arrive as telephone-events in the agent's RTP from SIPp (nothing else acts):
    the recorder's default DTMF digits pause and resume the recording."""

    async def nobody(*_: object) -> None:
        return None

    presses = ESCALATION_DTMF.script["dtmf"]
    assert [p["digits"] for p in presses] == ["*1", "*2"]
    _, mine = await run_paused_call(stack, tmp_path, ESCALATION_DTMF, nobody)
    paused, resumed = assert_paused_turn_is_nowhere(stack, mine)
    assert (paused.source, paused.by) == ("dtmf", "agent") and resumed.source == "dtmf"
    # Paused once the sequence's last key press ended; resumed when *2's did.
    assert presses[0]["start_ms"] <= paused.at_ms <= presses[0]["end_ms"] + 100, paused.at_ms
    assert presses[1]["start_ms"] <= resumed.at_ms <= presses[1]["end_ms"] + 100, resumed.at_ms
