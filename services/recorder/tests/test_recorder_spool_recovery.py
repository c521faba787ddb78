"""Replaying the spool keeps the recording's meaning: a call abandoned mid-pause (its process
gone) is recovered by another recorder with the pause as a gap, nothing from inside it, the
live segments it had published not published again, and the last ones published once."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import soundfile

from callscope.v1 import events_pb2
from callscope_recorder.calls import CallInfo
from callscope_recorder.spool import Spool

if TYPE_CHECKING:
    from conftest import RecorderHarness

pytestmark = pytest.mark.integration
RATE = 8000


def tone(freq: float, ms: int, amplitude: int = 12000) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def feed_both(handle: Any, pcm: bytes) -> None:
    for channel in ("customer", "agent"):
        for i in range(0, len(pcm), 320):
            handle.feed(channel, pcm[i : i + 320])


async def test_a_call_left_paused_is_recovered_with_its_gap_and_no_repeats(
    make_harness: Any,
) -> None:
    first: RecorderHarness = await make_harness()
    handle = await first.recorder.open_call(CallInfo(source="grpc", queue="support"))
    feed_both(handle, tone(440, 1500))
    await asyncio.sleep(1.0)  # the pump publishes the first second live
    await handle.pause(by="agent-3", reason="card", source="api")
    feed_both(handle, tone(2000, 1000, amplitude=20000))  # while paused: never kept
    await asyncio.sleep(0.8)  # the pump journals how far the timeline went
    # The process dies: nothing is finished, the pump just stops.
    assert handle.pump is not None
    handle.pump.cancel()
    first.spool.drain()
    first.recorder.calls.clear()
    live = await first.events_of(handle.call_id, lambda ms: "RecordingPaused" in first.kinds(ms))
    published = [m for m in live if isinstance(m, events_pb2.AudioSegment)]
    assert published and all(m.start_ms + m.duration_ms <= 1500 for m in published)

    second: RecorderHarness = await make_harness(spool=Spool(first.settings.spool_dir, fsync=False))
    [finished] = await second.recorder.recover()
    assert finished.call_id == handle.call_id and finished.reason == "recovered"
    events = await second.events_after_end(handle.call_id)
    assert "RecordingPaused" not in second.kinds(events)  # already published, not repeated
    [ended] = [m for m in events if isinstance(m, events_pb2.CallEnded)]
    [stored] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert ended.reason == "recovered"
    [gap] = stored.gaps
    assert (gap.start_ms, gap.reason) == (1500, "paused") and gap.duration_ms >= 900
    pcm, _ = soundfile.read(io.BytesIO(await second.objects.get(stored.object_key)), dtype="int16")
    assert len(pcm) >= int(2.4 * RATE)
    assert pcm[: int(1.5 * RATE)].any() and not pcm[int(1.5 * RATE) :].any()
    # Segments: the recovered ones continue the sequence and never repeat a published one.
    again = [m for m in events if isinstance(m, events_pb2.AudioSegment)]
    for channel in (1, 2):
        seqs = sorted(m.seq for m in published + again if m.channel == channel)
        assert seqs == list(range(len(seqs)))
        assert [m for m in again if m.channel == channel][-1].last
    assert all(not m.audio or m.start_ms >= 1000 for m in again)
    row = await second.call_row(handle.call_id)
    assert row is not None and row["state"] == "stored" and row["end_reason"] == "recovered"
    second.spool.drain()
    assert not (first.settings.spool_dir / handle.call_id).exists()
