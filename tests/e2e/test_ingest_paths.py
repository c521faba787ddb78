"""Every way a call can come in, driven from outside by a real client against the running
stack, and checked where users look: the stereo recording in object storage, the call row in
PostgreSQL, and the events on Kafka.

- SIPREC over TCP with SIPp (`-t t1`), including a transfer (re-INVITE with new rs-metadata);
- Genesys AudioHook with a `websockets` client (pause, discarded, close, a bad API key, a
  misbehaving session next to a good one);
- Twilio Media Streams with a `websockets` client (tracks, a gap);
- gRPC Recorder.StreamCall with a grpcio client (PCM16 at 16 kHz and G.711 A-law; refusals);
- `callscope import` (WAV, FLAC, MP3, mono), re-run to skip what is done.
"""

from __future__ import annotations

import asyncio
import audioop
import base64
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import psycopg
import pytest
import soundfile
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callscope.v1 import common_pb2, events_pb2, recorder_pb2, recorder_pb2_grpc
from callscope_core.channels import channel_name
from callscope_core.devtools import SampleCall, TopicTail, sipp_command
from callscope_core.topics import AUDIO_SEGMENTS, CALL_EVENTS, TRANSCRIPTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SHORT = SampleCall(REPO / "tests" / "data" / "calls" / "short_en")
TRANSFER_SCENARIO = REPO / "tests" / "sipp" / "siprec_transfer_uac.xml"
CUSTOMER_ULAW = (SHORT.directory / "customer.ulaw").read_bytes()
AGENT_ULAW = (SHORT.directory / "agent.ulaw").read_bytes()
CUSTOMER_PCM = audioop.ulaw2lin(CUSTOMER_ULAW, 2)
AGENT_PCM = audioop.ulaw2lin(AGENT_ULAW, 2)
# A loud 1 kHz tone: what must NOT be in a recording when it is sent during a pause.
TONE_PCM = (np.sin(np.arange(8000) * 2 * np.pi / 8) * 12000).astype("<i2").tobytes()
TONE_ULAW = audioop.lin2ulaw(TONE_PCM, 2)


# -- helpers ------------------------------------------------------------------------------


class Events:
    """Follows topics from now on and keeps everything seen, so several calls can be waited
    for one after the other."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.tail = TopicTail(bootstrap, topics)
        self.seen: list[Any] = []

    async def call(
        self,
        *,
        external_call_id: str | None = None,
        call_id: str | None = None,
        source: str | None = None,
        timeout: float = 120,
        until: type = events_pb2.RecordingStored,
    ) -> list[Any]:
        """Every message of one call until `until`: the call is found by its id, its
        external id, or as the first call from `source` since the tail started."""
        async with asyncio.timeout(timeout):
            while True:
                if call_id is None:
                    started = [
                        m
                        for m in self.seen
                        if isinstance(m, events_pb2.CallStarted)
                        and (m.external_call_id == external_call_id or m.source == source)
                    ]
                    if started:
                        call_id = started[0].call_id
                if call_id is not None:
                    mine = [m for m in self.seen if getattr(m, "call_id", None) == call_id]
                    if any(isinstance(m, until) for m in mine):
                        return mine
                self.seen += [m for _, m in await self.tail.poll(0.5)]


def of_type(messages: list[Any], kind: type) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


def stored_audio(stack: dict, stored: events_pb2.RecordingStored) -> np.ndarray:
    """The stored recording as int16 (frames, 2): customer left, agent right."""
    data = (Path(stack["dir"]) / "objects" / stored.bucket / stored.object_key).read_bytes()
    assert len(data) == stored.size_bytes
    audio, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
    assert rate == 8000 and audio.shape[1] == 2
    return audio


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def assert_speakers_on_their_sides(audio: np.ndarray, offset_ms: int = 0) -> None:
    """Each turn of the short call is loud on its speaker's side, quiet on the other."""
    for turn in SHORT.script["turns"]:
        a, b = (turn["start_ms"] + offset_ms) * 8, (turn["end_ms"] + offset_ms) * 8
        left, right = rms(audio[a:b, 0]), rms(audio[a:b, 1])
        speaker, other = (left, right) if turn["channel"] == "customer" else (right, left)
        assert speaker > 300 and speaker > 10 * other, (turn["text"], left, right)


def call_row(stack: dict, call_id: str) -> dict[str, Any]:
    with psycopg.connect(stack["endpoints"]["database_url"]) as conn:
        cur = conn.execute(
            "SELECT source, state, queue, language, external_call_id, object_key, end_reason,"
            " participants FROM recorder.calls WHERE call_id = %s",
            (call_id,),
        )
        row = cur.fetchone()
        assert row is not None, f"no recorder.calls row for {call_id}"
        return dict(zip([d.name for d in cur.description], row, strict=True))


def segment_audio(messages: list[Any], channel: str) -> dict[int, bytes]:
    return {
        m.start_ms: m.audio
        for m in of_type(messages, events_pb2.AudioSegment)
        if channel_name(m.channel) == channel
    }


def assert_complete_call(
    stack: dict, messages: list[Any], source: str, min_ms: int = 3900
) -> tuple[events_pb2.RecordingStored, np.ndarray]:
    [started] = of_type(messages, events_pb2.CallStarted)
    [ended] = of_type(messages, events_pb2.CallEnded)
    [stored] = of_type(messages, events_pb2.RecordingStored)
    assert started.source == source
    assert ended.duration_ms >= min_ms and stored.channels == 2 and stored.sample_rate == 8000
    for channel in ("customer", "agent"):
        segments = [
            m
            for m in of_type(messages, events_pb2.AudioSegment)
            if channel_name(m.channel) == channel
        ]
        assert segments and segments[-1].last, channel
        assert [m.seq for m in segments] == list(range(len(segments)))
    row = call_row(stack, started.call_id)
    assert row["source"] == source and row["state"] == "stored"
    assert row["object_key"] == stored.object_key
    return stored, stored_audio(stack, stored)


@pytest.fixture
async def tail(stack: dict):  # type: ignore[no-untyped-def]
    events = Events(stack["endpoints"]["kafka_bootstrap"], [CALL_EVENTS.name, AUDIO_SEGMENTS.name])
    await events.tail.start()
    yield events
    await events.tail.stop()


# -- SIPREC over TCP, with a transfer -------------------------------------------------------


async def test_siprec_over_tcp_with_a_transfer_re_invite(
    stack: dict, tail: Events, tmp_path: Path
) -> None:
    endpoints = stack["endpoints"]
    command = sipp_command(SHORT, endpoints["sip_host"], endpoints["sip_port"])
    command[command.index("-sf") + 1] = str(TRANSFER_SCENARIO)
    command[command.index("u1")] = "t1"  # SIP over TCP
    sipp = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await sipp.communicate()
    assert sipp.returncode == 0, out.decode(errors="replace")[-3000:]
    messages = await tail.call(source="siprec")
    stored, audio = assert_complete_call(stack, messages, "siprec")
    assert_speakers_on_their_sides(audio)
    [joined] = of_type(messages, events_pb2.ParticipantJoined)
    assert joined.participant.aor == "sip:agent-2002@callcenter.example"
    assert channel_name(joined.participant.channel) == "agent"
    row = call_row(stack, stored.call_id)
    assert "sip:agent-2002@callcenter.example" in {p["aor"] for p in row["participants"]}


# -- Genesys AudioHook ---------------------------------------------------------------------


class AudioHookClient:
    """Speaks AudioHook v2 as Genesys Cloud does: seq/serverseq, open, frames, close."""

    def __init__(self, ws: Any, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.seq = 0
        self.server_seq = 0
        self.position_ms = 0

    async def send(self, kind: str, parameters: dict | None = None, seq: int | None = None) -> None:
        self.seq = self.seq + 1 if seq is None else seq
        await self.ws.send(
            json.dumps(
                {
                    "version": "2",
                    "type": kind,
                    "seq": self.seq,
                    "serverseq": self.server_seq,
                    "id": self.session_id,
                    "position": f"PT{self.position_ms / 1000}S",
                    "parameters": parameters or {},
                }
            )
        )

    async def receive(self) -> dict:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        self.server_seq = message["seq"]
        return message

    async def open(self, conversation_id: str) -> dict:
        await self.send(
            "open",
            {
                "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
                "conversationId": conversation_id,
                "participant": {"id": "p1", "ani": "+33612345678", "dnis": "+33123456789"},
                "media": [
                    {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000},
                    {
                        "type": "audio",
                        "format": "PCMU",
                        "channels": ["external", "internal"],
                        "rate": 8000,
                    },
                ],
                "language": "en-US",
                "customConfig": {"queue": "billing"},
            },
        )
        return await self.receive()

    async def stream(self, customer: bytes, agent: bytes, frame_ms: int = 100) -> None:
        step = 8 * frame_ms
        for i in range(0, min(len(customer), len(agent)), step):
            frame = bytearray(2 * len(customer[i : i + step]))
            frame[0::2] = customer[i : i + step]
            frame[1::2] = agent[i : i + step]
            await self.ws.send(bytes(frame))
            self.position_ms += frame_ms


def audiohook_url(stack: dict) -> str:
    return f"ws://127.0.0.1:{stack['endpoints']['websocket_port']}/audiohook"


def audiohook_headers(stack: dict, session_id: str, key: str | None = None) -> dict[str, str]:
    return {
        "X-API-KEY": stack["endpoints"]["audiohook_api_key"] if key is None else key,
        "Audiohook-Session-Id": session_id,
        "Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
        "Audiohook-Correlation-Id": str(uuid.uuid4()),
    }


async def test_audiohook_bad_api_key_is_refused_with_401(stack: dict) -> None:
    for key in ("wrong-key", ""):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                audiohook_url(stack),
                additional_headers=audiohook_headers(stack, str(uuid.uuid4()), key),
            ):
                pass
        assert refused.value.response.status_code == 401


async def _misbehaving_audiohook_session(stack: dict) -> dict:
    """Opens, sends audio, then skips a sequence number: refused with a reason."""
    session_id = str(uuid.uuid4())
    async with connect(
        audiohook_url(stack), additional_headers=audiohook_headers(stack, session_id)
    ) as ws:
        client = AudioHookClient(ws, session_id)
        await client.open(f"bad-{session_id}")
        await client.stream(CUSTOMER_ULAW[:8000], AGENT_ULAW[:8000])
        await client.send("ping", seq=client.seq + 5)
        return await client.receive()


async def test_audiohook_call_is_recorded_with_pause_and_discarded_gaps(
    stack: dict, tail: Events
) -> None:
    session_id = str(uuid.uuid4())
    conversation_id = str(uuid.uuid4())
    async with connect(
        audiohook_url(stack), additional_headers=audiohook_headers(stack, session_id)
    ) as ws:
        client = AudioHookClient(ws, session_id)
        # A misbehaving session on the same server at the same time must not disturb this one.
        bad = asyncio.create_task(_misbehaving_audiohook_session(stack))
        opened = await client.open(conversation_id)
        assert opened["type"] == "opened" and opened["clientseq"] == 1
        assert opened["parameters"]["media"] == [
            {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
        ]
        await client.stream(CUSTOMER_ULAW, AGENT_ULAW)  # 4 s of the short call
        await client.send("ping")
        assert (await client.receive())["type"] == "pong"
        await client.send("paused")  # e.g. the customer gives card details: nothing kept
        await client.stream(TONE_ULAW[:4000], TONE_ULAW[:4000])  # sent anyway: dropped
        await asyncio.sleep(1.0)
        await client.send("resumed")
        await client.stream(TONE_ULAW[:2400], TONE_ULAW[:2400])  # 300 ms kept
        await client.send("discarded", {"start": "PT5.3S", "discarded": "PT0.5S"})
        await client.stream(TONE_ULAW[:1600], TONE_ULAW[:1600])  # 200 ms kept
        await client.send("close", {"reason": "end"})
        closed = await client.receive()
        assert closed["type"] == "closed"
        disconnect = await bad
    assert disconnect["type"] == "disconnect"
    assert disconnect["parameters"]["reason"] == "error"
    assert "expected seq" in disconnect["parameters"]["info"]

    messages = await tail.call(external_call_id=conversation_id)
    stored, audio = assert_complete_call(stack, messages, "audiohook")
    [started] = of_type(messages, events_pb2.CallStarted)
    assert started.queue == "billing" and started.language == "en-US"
    assert_speakers_on_their_sides(audio)
    [paused] = of_type(messages, events_pb2.RecordingPaused)
    [resumed] = of_type(messages, events_pb2.RecordingResumed)
    assert paused.source == resumed.source == "audiohook"
    assert paused.at_ms == 4000 and 900 <= resumed.gap_ms <= 3000, (paused, resumed)
    reasons = {g.reason: g for g in stored.gaps}
    assert {"paused", "discarded"} <= set(reasons), stored.gaps
    assert reasons["discarded"].duration_ms == 500
    # The paused stretch is silence in the recording and in every published segment,
    # although the client sent a loud tone during it.
    pause_start, pause_end = 4000, 4000 + resumed.gap_ms
    assert rms(audio[pause_start * 8 : pause_end * 8]) == 0
    for channel in ("customer", "agent"):
        for start_ms, pcm in segment_audio(messages, channel).items():
            samples = np.frombuffer(pcm, dtype="<i2")
            times = start_ms + np.arange(len(samples)) // 8
            inside = samples[(times >= pause_start) & (times < pause_end)]
            assert not inside.any(), (channel, start_ms)
    # After the pause, the tone that was sent is kept on both sides.
    after = audio[pause_end * 8 + 400 : pause_end * 8 + 2000]
    assert rms(after[:, 0]) > 3000 and rms(after[:, 1]) > 3000
    row = call_row(stack, stored.call_id)
    assert row["external_call_id"] == conversation_id and row["queue"] == "billing"


async def test_audiohook_oversized_frames_are_refused_and_the_audio_before_kept(
    stack: dict, tail: Events
) -> None:
    conversations = [str(uuid.uuid4()), str(uuid.uuid4())]
    outcomes = []
    for conversation_id, frame_bytes in zip(conversations, (20_000, 200_000), strict=True):
        session_id = str(uuid.uuid4())
        async with connect(
            audiohook_url(stack), additional_headers=audiohook_headers(stack, session_id)
        ) as ws:
            client = AudioHookClient(ws, session_id)
            await client.open(conversation_id)
            await client.stream(CUSTOMER_ULAW, AGENT_ULAW)
            await ws.send(b"\xff" * frame_bytes)
            try:
                outcomes.append(await client.receive())
            except ConnectionClosed:
                outcomes.append({})
            await ws.wait_closed()
            outcomes.append({"code": ws.close_code, "reason": ws.close_reason})
    # Over the protocol's bound: an AudioHook disconnect that says why, then a close.
    assert outcomes[0]["type"] == "disconnect"
    assert "exceeds" in outcomes[0]["parameters"]["info"] and outcomes[1]["code"] == 1008
    # Over the WebSocket message limit: closed by the transport (1009, message too big).
    assert outcomes[3]["code"] == 1009, outcomes
    for conversation_id in conversations:
        messages = await tail.call(external_call_id=conversation_id)
        [ended] = of_type(messages, events_pb2.CallEnded)
        assert ended.reason in ("error", "disconnected") and ended.duration_ms >= 3900
        _, audio = assert_complete_call(stack, messages, "audiohook")
        assert_speakers_on_their_sides(audio)


# -- Twilio Media Streams -----------------------------------------------------------------


async def test_twilio_media_stream_tracks_become_the_two_channels(
    stack: dict, tail: Events
) -> None:
    call_sid = "CA" + uuid.uuid4().hex
    stream_sid = "MZ" + uuid.uuid4().hex
    url = f"ws://127.0.0.1:{stack['endpoints']['websocket_port']}/twilio"
    sequence = 0

    def message(event: str, **body: Any) -> str:
        nonlocal sequence
        sequence += 1
        return json.dumps(
            {"event": event, "sequenceNumber": str(sequence), "streamSid": stream_sid, **body}
        )

    async with connect(url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(
            message(
                "start",
                start={
                    "accountSid": "AC" + uuid.uuid4().hex,
                    "streamSid": stream_sid,
                    "callSid": call_sid,
                    "tracks": ["inbound", "outbound"],
                    "customParameters": {"queue": "sales", "language": "en"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            )
        )
        for chunk, at in enumerate(range(0, len(CUSTOMER_ULAW), 160)):
            for track, audio in (("inbound", CUSTOMER_ULAW), ("outbound", AGENT_ULAW)):
                payload = base64.b64encode(audio[at : at + 160]).decode()
                await ws.send(
                    message(
                        "media",
                        media={
                            "track": track,
                            "chunk": str(chunk + 1),
                            "timestamp": str(at // 8),
                            "payload": payload,
                        },
                    )
                )
        # Twilio dropped 400 ms of the customer; the next chunk says where it belongs.
        for i in range(10):
            payload = base64.b64encode(TONE_ULAW[i * 160 : (i + 1) * 160]).decode()
            ts = 4400 + 20 * i
            await ws.send(
                message(
                    "media", media={"track": "inbound", "timestamp": str(ts), "payload": payload}
                )
            )
        await ws.send(message("stop", stop={"accountSid": "AC1", "callSid": call_sid}))
        await ws.wait_closed()

    messages = await tail.call(external_call_id=call_sid)
    _, audio = assert_complete_call(stack, messages, "twilio")
    assert of_type(messages, events_pb2.CallStarted)[0].queue == "sales"
    assert_speakers_on_their_sides(audio)
    customer = audio[:, 0]
    assert rms(customer[4000 * 8 : 4400 * 8]) == 0  # the gap is silence of its real length
    assert rms(customer[4400 * 8 : 4600 * 8]) > 3000  # and the audio after it is in place


async def test_twilio_malformed_message_closes_that_stream_with_a_reason(stack: dict) -> None:
    url = f"ws://127.0.0.1:{stack['endpoints']['websocket_port']}/twilio"
    async with connect(url) as ws:
        await ws.send(json.dumps({"event": "media", "sequenceNumber": "1", "media": {}}))
        await ws.wait_closed()
    assert ws.close_code == 1008 and "before start" in (ws.close_reason or "")


# -- gRPC StreamCall ------------------------------------------------------------------------


def frames(
    channel: int, pcm: bytes, codec: str, rate: int, frame_ms: int = 100
) -> list[recorder_pb2.StreamCallRequest]:
    step = rate * frame_ms // 1000 * (1 if codec in ("pcmu", "pcma") else 2)
    return [
        recorder_pb2.StreamCallRequest(
            frame=recorder_pb2.AudioFrame(
                channel=channel, codec=codec, sample_rate=rate, audio=pcm[i : i + step]
            )
        )
        for i in range(0, len(pcm), step)
    ]


def recorder_channel(stack: dict) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{stack['endpoints']['grpc']['recorder']}")


async def _stream(stub: Any, requests: list[recorder_pb2.StreamCallRequest]) -> Any:
    async def generate():  # type: ignore[no-untyped-def]
        for request in requests:
            yield request

    return await stub.StreamCall(generate(), timeout=60)


async def test_grpc_stream_call_pcm16_at_16khz_and_alaw(stack: dict, tail: Events) -> None:
    external = f"fork-{uuid.uuid4()}"
    customer_16k = np.repeat(np.frombuffer(CUSTOMER_PCM, dtype="<i2"), 2).astype("<i2").tobytes()
    agent_alaw = audioop.lin2alaw(AGENT_PCM, 2)
    customer = frames(common_pb2.CHANNEL_CUSTOMER, customer_16k, "pcm_s16le", 16000)
    agent = frames(common_pb2.CHANNEL_AGENT, agent_alaw, "pcma", 8000)
    interleaved = [f for pair in zip(customer, agent, strict=True) for f in pair]
    metadata = recorder_pb2.CallMetadata(
        queue="support",
        language="en",
        agent_id="agent-7",
        customer_number="+33611111111",
        external_call_id=external,
    )
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{stack['endpoints']['grpc']['recorder']}"
    ) as ch:
        stub = recorder_pb2_grpc.RecorderStub(ch)
        reply = await _stream(
            stub, [recorder_pb2.StreamCallRequest(metadata=metadata), *interleaved]
        )
    assert reply.call_id and reply.object_key.endswith(".flac")
    messages = await tail.call(call_id=reply.call_id)
    stored, audio = assert_complete_call(stack, messages, "grpc")
    assert stored.object_key == reply.object_key
    assert_speakers_on_their_sides(audio)
    [started] = of_type(messages, events_pb2.CallStarted)
    assert started.agent_id == "agent-7" and started.external_call_id == external


@pytest.mark.parametrize(
    ("requests", "reason"),
    [
        (
            [recorder_pb2.StreamCallRequest(frame=recorder_pb2.AudioFrame(codec="pcmu"))],
            "first message of StreamCall must be CallMetadata",
        ),
        (
            [
                recorder_pb2.StreamCallRequest(metadata=recorder_pb2.CallMetadata(queue="q")),
                *frames(common_pb2.CHANNEL_AGENT, AGENT_ULAW[:1600], "pcmu", 8000),
                recorder_pb2.StreamCallRequest(
                    frame=recorder_pb2.AudioFrame(
                        channel=common_pb2.CHANNEL_AGENT, codec="opus", audio=b"\x00" * 10
                    )
                ),
            ],
            "unsupported codec 'opus'",
        ),
        (
            [
                recorder_pb2.StreamCallRequest(metadata=recorder_pb2.CallMetadata(queue="q")),
                recorder_pb2.StreamCallRequest(
                    frame=recorder_pb2.AudioFrame(
                        channel=common_pb2.CHANNEL_CUSTOMER,
                        codec="pcm_s16le",
                        sample_rate=8000,
                        audio=b"\x00" * 200_000,
                    )
                ),
            ],
            "exceeds",
        ),
        (
            [
                recorder_pb2.StreamCallRequest(metadata=recorder_pb2.CallMetadata(queue="q")),
                recorder_pb2.StreamCallRequest(
                    frame=recorder_pb2.AudioFrame(codec="pcmu", audio=b"\x00" * 160)
                ),
            ],
            "unknown channel",
        ),
    ],
    ids=["frame-first", "bad-codec", "oversized-frame", "no-channel"],
)
async def test_grpc_stream_call_refuses_bad_input_with_a_reason(
    stack: dict, requests: list, reason: str
) -> None:
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{stack['endpoints']['grpc']['recorder']}"
    ) as ch:
        stub = recorder_pb2_grpc.RecorderStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _stream(stub, requests)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in (refused.value.details() or "")


# -- batch import -----------------------------------------------------------------------------


def _write_import_files(directory: Path) -> dict[str, Path]:
    """The short call as a stereo WAV and MP3 (agent right), a FLAC with the agent on the
    left (in its own folder, imported with --agent-channel left) and a mono WAV."""
    # A few quiet random samples at the end: content of this run's own, never imported before.
    tail = np.random.default_rng().integers(-3, 3, size=80).astype("<i2")
    customer = np.concatenate([np.frombuffer(CUSTOMER_PCM, dtype="<i2"), tail])
    agent = np.concatenate([np.frombuffer(AGENT_PCM, dtype="<i2"), tail])
    (directory / "right").mkdir()
    (directory / "left").mkdir()
    files = {
        "wav": directory / "right" / "call.wav",
        "mp3": directory / "right" / "call.mp3",
        "mono": directory / "right" / "mono.wav",
        "flac": directory / "left" / "call.flac",
    }
    soundfile.write(files["wav"], np.stack([customer, agent], axis=1), 8000, subtype="PCM_16")
    soundfile.write(files["flac"], np.stack([agent, customer], axis=1), 8000)
    soundfile.write(files["mono"], customer, 8000, subtype="PCM_16")
    import av

    with av.open(str(files["mp3"]), "w") as out:
        stream = out.add_stream("libmp3lame", rate=16000, layout="stereo")
        stereo = np.repeat(np.stack([customer, agent], axis=1), 2, axis=0)
        frame = av.AudioFrame.from_ndarray(stereo.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return files


def _imported_call_ids(output: str) -> dict[str, str]:
    """file name -> call id, from the `imported|skipped PATH  call ID  KEY` lines."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[0] in ("imported", "skipped") and "call" in parts:
            found[Path(parts[1]).name] = parts[parts.index("call") + 1]
    return found


def _callscope_import(stack: dict, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CALLSCOPE_RECORDER_TARGET": f"127.0.0.1:{stack['endpoints']['grpc']['recorder']}",
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "callscope"), "import", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


async def test_callscope_import_stores_each_file_once(
    stack: dict, tail: Events, tmp_path: Path
) -> None:
    files = _write_import_files(tmp_path)
    common = ("--queue", "backlog", "--language", "en")
    right = await asyncio.to_thread(_callscope_import, stack, str(tmp_path / "right"), *common)
    assert right.returncode == 0, right.stdout + right.stderr
    assert "3 imported, 0 skipped" in right.stdout, right.stdout + right.stderr
    left = await asyncio.to_thread(
        _callscope_import, stack, str(files["flac"]), "--agent-channel", "left", *common
    )
    assert left.returncode == 0 and "1 imported" in left.stdout, left.stdout + left.stderr
    call_ids = _imported_call_ids(right.stderr + left.stderr)
    assert set(call_ids) == {p.name for p in files.values()}, right.stderr + left.stderr

    for kind, path in files.items():
        messages = await tail.call(call_id=call_ids[path.name])
        _, audio = assert_complete_call(stack, messages, "import", min_ms=3900)
        [started] = of_type(messages, events_pb2.CallStarted)
        assert started.queue == "backlog" and started.language == "en"
        assert started.external_call_id.startswith("sha256:")
        if kind == "mono":  # the customer channel only
            assert rms(audio[:, 1]) == 0 and rms(audio[300 * 8 : 1900 * 8, 0]) > 300
        else:  # whichever side of the file the agent was on, it is the agent channel now
            assert_speakers_on_their_sides(audio)

    again = await asyncio.to_thread(_callscope_import, stack, str(tmp_path), *common)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 imported, 4 skipped" in again.stdout, again.stdout + again.stderr
    assert _imported_call_ids(again.stderr) == call_ids


async def test_imported_call_is_transcribed_like_a_finished_call(
    stack: dict, tmp_path: Path
) -> None:
    """The pipeline downstream of the recorder treats an import as any call."""
    customer = np.frombuffer(CUSTOMER_PCM, dtype="<i2")
    agent = np.frombuffer(AGENT_PCM, dtype="<i2")
    path = tmp_path / "transcribe-me.wav"
    # A content of its own (a few samples of noise at the end), so it is not a re-import.
    noise = np.random.default_rng().integers(-3, 3, size=(80, 2)).astype("<i2")
    soundfile.write(path, np.concatenate([np.stack([customer, agent], axis=1), noise]), 8000)
    transcripts = Events(stack["endpoints"]["kafka_bootstrap"], [TRANSCRIPTS.name])
    await transcripts.tail.start()
    try:
        result = await asyncio.to_thread(
            _callscope_import, stack, str(path), "--language", "en", "--queue", "billing"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        call_id = next(
            line.split()[line.split().index("call") + 1]
            for line in result.stderr.splitlines()
            if line.startswith("imported")
        )
        finals = await transcripts.call(
            call_id=call_id, until=events_pb2.TranscriptSegment, timeout=240
        )
    finally:
        await transcripts.tail.stop()
    text = " ".join(m.text.lower() for m in of_type(finals, events_pb2.TranscriptSegment))
    assert any(word in text for word in ("bill", "help", "hello", "sure")), text
