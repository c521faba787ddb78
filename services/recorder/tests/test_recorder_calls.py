"""The source-agnostic CallRecorder API against real PostgreSQL, Kafka (Tansu) and object
storage: a call fed PCM/G.711 per channel comes out as a stereo FLAC recording, a call row and
the call events; pause leaves nothing behind (not in the file, not on Kafka); gaps are marked;
SIPREC RTP from a real socket goes through the same model, with DTMF pause/resume."""

from __future__ import annotations

import asyncio
import audioop
import io
import socket
import struct
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from callscope.v1 import events_pb2
from callscope_core.channels import channel_name
from callscope_recorder.calls import CallInfo, CallParticipant
from callscope_recorder.domain.call import CallSession

if TYPE_CHECKING:
    from conftest import RecorderHarness

RATE = 8000


def tone(freq: float, ms: int, amplitude: int = 12000, rate: int = RATE) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


async def read_recording(harness: RecorderHarness, message: events_pb2.RecordingStored):
    objects = harness.proof_objects if message.proof_only else harness.objects
    data = await objects.get(message.object_key)
    assert len(data) == message.size_bytes
    pcm, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    assert rate == RATE and pcm.shape[1] == 2
    return pcm


def feed_in_frames(handle, channel: str, pcm: bytes, frame_ms: int = 20) -> None:  # type: ignore[no-untyped-def]
    step = 2 * RATE * frame_ms // 1000
    for i in range(0, len(pcm), step):
        handle.feed(channel, pcm[i : i + step])


async def test_any_source_feeds_two_channels_into_a_stereo_flac_and_events(
    harness: RecorderHarness,
) -> None:
    handle = await harness.recorder.open_call(
        CallInfo(
            source="grpc",
            external_call_id="softphone-1",
            queue="sales",
            language="fr",
            agent_id="agent-7",
            participants=[
                CallParticipant("c1", "tel:+33612345678", "Client", "customer"),
                CallParticipant("a1", "sip:agent-7@cc.example", "Agent 7", "agent"),
            ],
        )
    )
    feed_in_frames(handle, "customer", tone(440, 2000))
    ulaw = audioop.lin2ulaw(tone(1000, 2000), 2)
    for i in range(0, len(ulaw), 160):
        handle.feed("agent", ulaw[i : i + 160], codec="pcmu")
    # 16 kHz PCM is resampled; an explicit position lands where it says (at 2.5 s).
    handle.feed("customer", tone(300, 500, rate=16000), sample_rate=16000, position=20000)
    await handle.add_participant(CallParticipant("s1", "sip:sup@cc.example", "Sup", "agent"))
    finished = await handle.end("hangup")
    assert finished.stored is not None and finished.stored.key.endswith(".flac")

    events = await harness.events_after_end(handle.call_id)
    [started] = [m for m in events if isinstance(m, events_pb2.CallStarted)]
    assert started.source == "grpc" and started.queue == "sales" and started.agent_id == "agent-7"
    assert started.recording and started.recording_mode == "all"
    assert {channel_name(p.channel): p.aor for p in started.participants} == {
        "customer": "tel:+33612345678",
        "agent": "sip:agent-7@cc.example",
    }
    [joined] = [m for m in events if isinstance(m, events_pb2.ParticipantJoined)]
    assert joined.participant.aor == "sip:sup@cc.example"
    [message] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert message.content_type == "audio/flac" and message.channels == 2
    assert message.purposes == ["quality", "analytics"] and not message.proof_only
    assert message.encryption == ""  # the filesystem backend has no server-side encryption
    pcm = await read_recording(harness, message)
    assert len(pcm) == 3 * RATE  # the positioned piece ends at 3 s
    left, right = pcm[:, 0], pcm[:, 1]
    assert rms(left[: 2 * RATE]) > 5000 and rms(right[: 2 * RATE]) > 5000
    assert rms(left[2 * RATE + 100 : int(2.5 * RATE) - 100]) == 0  # nothing fed there
    assert rms(left[int(2.5 * RATE) + 100 : 3 * RATE - 100]) > 5000
    # Each side holds its own tone: customer 440 Hz on the left, agent 1 kHz on the right.
    spectrum = np.abs(np.fft.rfft(left[:RATE]))
    assert abs(np.argmax(spectrum) - 440) <= 2
    spectrum = np.abs(np.fft.rfft(right[:RATE]))
    assert abs(np.argmax(spectrum) - 1000) <= 2
    segments = [m for m in events if isinstance(m, events_pb2.AudioSegment)]
    for channel in (1, 2):
        seqs = [s.seq for s in segments if s.channel == channel]
        assert seqs == list(range(len(seqs))) and len(seqs) >= 4
        assert [s for s in segments if s.channel == channel][-1].last
    row = await harness.call_row(handle.call_id)
    assert row is not None and row["state"] == "stored" and row["object_key"] == message.object_key
    assert {p["participant_id"] for p in row["participants"]} == {"c1", "a1", "s1"}
    assert row["announced_at"] is not None
    # Stored and announced: the call's spool journal is gone.
    harness.spool.drain()
    assert not (harness.settings.spool_dir / handle.call_id).exists()


async def test_paused_audio_is_neither_stored_nor_published(harness: RecorderHarness) -> None:
    """A 2 kHz tone fed while paused (the card number) must be nowhere: the stored samples of
    the pause are silence and no AudioSegment overlaps it."""
    handle = await harness.recorder.open_call(CallInfo(source="twilio", queue="billing"))
    speech = tone(440, 1000)
    secret = tone(2000, 1500, amplitude=20000)
    for channel in ("customer", "agent"):
        feed_in_frames(handle, channel, speech)
    await asyncio.sleep(0.1)
    assert await handle.pause(by="agent-7", reason="card details", source="api") == "paused"
    assert await handle.pause(by="agent-7", reason="double click") == "paused"  # no-op
    for channel in ("customer", "agent"):
        feed_in_frames(handle, channel, secret)
    assert await handle.resume(by="agent-7", reason="card taken") == "recording"
    for channel in ("customer", "agent"):
        feed_in_frames(handle, channel, speech)
    await handle.end("hangup")

    events = await harness.events_after_end(handle.call_id)
    [paused] = [m for m in events if isinstance(m, events_pb2.RecordingPaused)]
    [resumed] = [m for m in events if isinstance(m, events_pb2.RecordingResumed)]
    assert (paused.by, paused.reason, paused.source) == ("agent-7", "card details", "api")
    assert (resumed.by, resumed.reason, resumed.source) == ("agent-7", "card taken", "api")
    assert paused.at_ms == 1000 and resumed.at_ms == 2500 and resumed.gap_ms == 1500
    names = harness.kinds(events)
    assert names.index("RecordingPaused") > names.index("CallStarted")
    [message] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert [(g.start_ms, g.duration_ms, g.reason) for g in message.gaps] == [(1000, 1500, "paused")]
    pcm = await read_recording(harness, message)
    assert len(pcm) == int(3.5 * RATE)
    pause = pcm[1 * RATE : int(2.5 * RATE)]
    assert not pause.any(), "audio from the pause is in the stored recording"
    assert rms(pcm[:RATE, 0]) > 5000 and rms(pcm[int(2.5 * RATE) :, 1]) > 5000
    segments = [m for m in events if isinstance(m, events_pb2.AudioSegment)]
    for segment in segments:
        start, end = segment.start_ms, segment.start_ms + segment.duration_ms
        assert end <= 1000 or start >= 2500, (start, end)
        samples = np.frombuffer(segment.audio, dtype="<i2")
        spectrum = np.abs(np.fft.rfft(samples)) if len(samples) else np.zeros(1)
        assert len(samples) == 0 or abs(np.argmax(spectrum) * RATE / len(samples) - 2000) > 50
    published_ms = sum(s.duration_ms for s in segments)
    assert published_ms == 2 * 2000  # both channels: 1 s before + 1 s after the pause


async def test_discarded_audio_is_a_marked_gap_on_both_channels(harness: RecorderHarness) -> None:
    handle = await harness.recorder.open_call(CallInfo(source="audiohook"))
    for channel in ("customer", "agent"):
        feed_in_frames(handle, channel, tone(440, 1000))
    gap = handle.mark_gap(None, 700, "discarded")
    assert (gap.start_ms, gap.duration_ms) == (1000, 700)
    for channel in ("customer", "agent"):
        feed_in_frames(handle, channel, tone(440, 300))
    await handle.end("close")
    events = await harness.events_after_end(handle.call_id)
    [message] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert [(g.start_ms, g.duration_ms, g.reason) for g in message.gaps] == [
        (1000, 700, "discarded")
    ]
    pcm = await read_recording(harness, message)
    assert len(pcm) == 2 * RATE and not pcm[RATE : int(1.7 * RATE)].any()
    assert rms(pcm[int(1.7 * RATE) :, 0]) > 5000


def _rtp(seq: int, ts: int, payload: bytes, pt: int = 0, ssrc: int = 0x5151) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload


def _dtmf(event: int, ts: int, seq: int, end: bool, ssrc: int) -> bytes:
    return _rtp(seq, ts, struct.pack("!BBH", event, (0x80 if end else 0) | 10, 800), 101, ssrc)


async def start_siprec_call(
    harness: RecorderHarness, external_call_id: str
) -> tuple[CallSession, list[int]]:
    """A SIPREC call with customer and agent PCMU streams; its RTP ports."""
    from datetime import UTC, datetime

    session = CallSession(
        call_id=harness.recorder.new_call_id(),
        external_call_id=external_call_id,
        source="siprec",
        queue="billing",
        language="en",
        started_at=datetime.now(UTC),
        channel_of_stream={0: "customer", 1: "agent"},
        codec_of_stream={0: "PCMU", 1: "PCMU"},
    )
    ports = await harness.recorder.start_call(
        session, stream_indexes=[0, 1], participants=[], rs_metadata=None
    )
    return session, ports


async def test_siprec_rtp_from_a_real_socket_with_dtmf_pause_and_resume(
    harness: RecorderHarness,
) -> None:
    """Two RTP streams sent over UDP to the ports start_call opened; the agent keys *1 then
    *2 as RFC 4733 telephone-events; the audio between them is silence in the file."""
    session, ports = await start_siprec_call(harness, "dtmf-call@test")
    loud = audioop.lin2ulaw(tone(2000, 20, amplitude=20000), 2)
    speech = audioop.lin2ulaw(tone(440, 20), 2)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    start = loop.time()
    keyed = {25: (10, 1), 35: (1, 1), 125: (10, 2), 135: (2, 2)}  # packet -> (event, n)
    try:
        for n in range(200):  # 4 s: *1 at 0.5 s, *2 at 2.5 s
            payload = loud if 50 <= n < 125 else speech
            for stream, port in enumerate(ports):
                ssrc = 0x1000 + stream
                sender.sendto(_rtp(n, n * 160, payload, ssrc=ssrc), ("127.0.0.1", port))
            if n in keyed:
                event = keyed[n][0]
                for k, end in enumerate((False, False, True, True, True)):
                    packet = _dtmf(event, n * 160, 10000 + 10 * n + k, end, 0x2001)
                    sender.sendto(packet, ("127.0.0.1", ports[1]))  # the agent's stream
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))
        await asyncio.sleep(0.3)
    finally:
        sender.close()
    finished = await harness.recorder.end_call(session.call_id, "bye")  # type: ignore[misc]
    assert finished.stored is not None
    events = await harness.events_after_end(session.call_id)
    [paused] = [m for m in events if isinstance(m, events_pb2.RecordingPaused)]
    [resumed] = [m for m in events if isinstance(m, events_pb2.RecordingResumed)]
    assert paused.source == resumed.source == "dtmf" and paused.by == "agent"
    assert 600 <= paused.at_ms <= 1000 and 2600 <= resumed.at_ms <= 3000, (paused, resumed)
    [message] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    [gap] = message.gaps
    assert gap.reason == "paused" and gap.start_ms == paused.at_ms
    pcm = await read_recording(harness, message)
    assert not pcm[gap.start_ms * 8 : (gap.start_ms + gap.duration_ms) * 8].any()
    # The loud tone was sent from 1.0 s to 2.5 s, inside the pause: none of it was kept.
    for channel in (0, 1):
        samples = pcm[:, channel].astype(np.float64)
        for i in range(0, len(samples) - 160, 160):
            window = samples[i : i + 160]
            spectrum = np.abs(np.fft.rfft(window))
            if rms(window) > 1000:
                assert abs(np.argmax(spectrum) * RATE / 160 - 2000) > 100, i / RATE
    assert rms(pcm[: 5 * 800, 0]) > 3000 and rms(pcm[-RATE:, 1]) > 3000
    row = await harness.call_row(session.call_id)
    assert row is not None and row["media_stats"]["agent"]["dtmf_digits"] == 4


async def test_rtp_still_in_the_sockets_at_the_bye_is_recorded(make_harness) -> None:  # type: ignore[no-untyped-def]
    """Batched reception reads every drain_ms; with no jitter wait at the BYE, closing the
    streams reads what they still hold into the call before it ends."""
    harness = await make_harness(jitter_ms=0, rtp_drain_ms=200)
    assert harness.recorder.rtp_ports.receiver == "batched"
    session, ports = await start_siprec_call(harness, "late-rtp@test")
    payload = audioop.lin2ulaw(tone(440, 20), 2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for n in range(50):  # 1 s per stream, sent at once, then the BYE
            for stream, port in enumerate(ports):
                sender.sendto(_rtp(n, n * 160, payload, ssrc=0x1000 + stream), ("127.0.0.1", port))
    finished = await harness.recorder.end_call(session.call_id, "bye")  # type: ignore[misc]
    assert finished.stored is not None
    row = await harness.call_row(session.call_id)
    assert row is not None
    for channel in ("customer", "agent"):
        assert row["media_stats"][channel]["packets"] == 50, row["media_stats"]
    events = await harness.events_after_end(session.call_id)
    [message] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    pcm = await read_recording(harness, message)
    assert len(pcm) == RATE and rms(pcm[:, 0]) > 3000 and rms(pcm[:, 1]) > 3000
