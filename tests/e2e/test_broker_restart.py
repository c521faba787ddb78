"""The Kafka broker dies in the middle of a live SIPREC call and comes back: the local stack
restarts it on the same port, as Kubernetes restarts a Kafka pod (the local broker is
memory-only, so what it held is gone and the topics are created again). No service process
dies or restarts; the call in progress is stored whole and transcribed in full by the
post-call pass, which reads the stored recording; the next call goes through the whole
pipeline (transcripts, alert, summary) as before."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soundfile

from callscope.v1 import events_pb2
from callscope_core import stack as local_stack
from callscope_core.devtools import SampleCall, TopicTail, run_sipp
from callscope_core.topics import ALERTS, CALL_EVENTS, CALL_SUMMARIES, TRANSCRIPTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESCALATION = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en")
TOPICS = [CALL_EVENTS.name, TRANSCRIPTS.name, ALERTS.name, CALL_SUMMARIES.name]


async def gather_until(
    tail: TopicTail, seen: list[Any], done: Callable[[], bool], timeout: float, what: str
) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not done():
                seen.extend(m for _, m in await tail.poll(0.5))
    except TimeoutError:
        kinds = sorted({type(m).__name__ for m in seen})
        raise AssertionError(f"no {what} within {timeout:.0f} s; seen {kinds}") from None


def of_call(seen: list[Any], call_id: str, kind: type) -> list[Any]:
    return [m for m in seen if isinstance(m, kind) and getattr(m, "call_id", "") == call_id]


def post_call_finals(seen: list[Any], call_id: str) -> list[events_pb2.TranscriptSegment]:
    return [
        m
        for m in of_call(seen, call_id, events_pb2.TranscriptSegment)
        if m.version == 2 and m.kind == events_pb2.TranscriptSegment.KIND_FINAL
    ]


async def test_services_ride_out_a_broker_restart_in_the_middle_of_a_call(
    stack: dict, tmp_path: Path
) -> None:
    directory = Path(stack["dir"])
    before = local_stack.status(directory)
    endpoints = before["endpoints"]
    kafka = before["processes"]["kafka"]
    services = {n: p["pid"] for n, p in before["processes"].items() if n not in ("kafka",)}
    sip = (endpoints["sip_host"], endpoints["sip_port"])

    tail = TopicTail(endpoints["kafka_bootstrap"], TOPICS)
    await tail.start()
    seen: list[Any] = []
    first = asyncio.create_task(run_sipp(ESCALATION, *sip, tmp_path / "first"))
    await gather_until(
        tail, seen, lambda: bool([m for m in seen if isinstance(m, events_pb2.CallStarted)]), 60,
        "CallStarted",
    )  # fmt: skip
    call_id = next(m for m in seen if isinstance(m, events_pb2.CallStarted)).call_id
    await asyncio.sleep(3)  # the call's audio is flowing: segments go to Kafka
    await tail.stop()

    os.kill(kafka["pid"], signal.SIGKILL)
    async with asyncio.timeout(60):
        while local_stack.status(directory)["processes"]["kafka"]["restarts"] <= kafka["restarts"]:
            await asyncio.sleep(0.2)
    restarted = local_stack.status(directory)["processes"]["kafka"]
    assert restarted["alive"] and restarted["pid"] != kafka["pid"]

    # The call goes on and ends normally; its recording is stored whole, with no packet lost.
    tail = TopicTail(endpoints["kafka_bootstrap"], TOPICS)
    await tail.start()
    seen = []
    try:
        assert (await first).returncode == 0
        await gather_until(
            tail, seen, lambda: bool(of_call(seen, call_id, events_pb2.RecordingStored)), 120,
            "RecordingStored of the call in progress",
        )  # fmt: skip
        [stored] = of_call(seen, call_id, events_pb2.RecordingStored)
        assert stored.lost_packets == 0 and not stored.gaps
        data = (directory / "objects" / stored.bucket / stored.object_key).read_bytes()
        pcm, rate = soundfile.read(io.BytesIO(data), dtype="int16")
        assert pcm.shape[1] == 2 and len(pcm) / rate >= ESCALATION.duration_ms / 1000 - 0.5
        # What the broker held for the live path is gone; the post-call pass (version 2)
        # transcribes the stored recording: every turn of the call is in the transcript.
        channels = {"customer": 1, "agent": 2}
        await gather_until(
            tail, seen,
            lambda: {m.channel for m in post_call_finals(seen, call_id)} >= set(channels.values()),
            180, "post-call transcript of both channels",
        )  # fmt: skip
        await asyncio.sleep(3)
        seen.extend(m for _, m in await tail.poll(1.0))
        heard = " ".join(m.text.lower() for m in post_call_finals(seen, call_id))
        assert {"charged", "card", "agent", "account"} <= set(re.findall(r"[a-z']+", heard)), heard

        # The next call goes through the whole pipeline again.
        second = asyncio.create_task(run_sipp(ESCALATION, *sip, tmp_path / "second"))
        starts = lambda: [  # noqa: E731
            m for m in seen if isinstance(m, events_pb2.CallStarted) and m.call_id != call_id
        ]
        await gather_until(tail, seen, lambda: bool(starts()), 60, "the next CallStarted")
        next_id = starts()[0].call_id
        await gather_until(
            tail, seen,
            lambda: bool(of_call(seen, next_id, events_pb2.SupervisorAlert))
            and bool(of_call(seen, next_id, events_pb2.CallSummary)),
            180, "the next call's alert and summary",
        )  # fmt: skip
        assert (await second).returncode == 0
        assert of_call(seen, next_id, events_pb2.TranscriptSegment)
    finally:
        await tail.stop()

    after = local_stack.status(directory)["processes"]
    for name, pid in services.items():
        assert after[name]["alive"] and after[name]["pid"] == pid, f"{name} died or restarted"
