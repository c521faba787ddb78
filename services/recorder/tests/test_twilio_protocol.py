"""Twilio Media Streams: start/media/stop, tracks as channels, timestamps placing audio (gaps
as silence), and checks of sequence numbers, stream ids, formats and chunk sizes."""

from __future__ import annotations

import audioop
import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callscope_recorder.ingest.twilio.protocol import (
    DtmfReceived,
    MediaChunk,
    StreamStarted,
    StreamStopped,
    TwilioMediaStream,
    TwilioProtocolError,
)

STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL_SID = "CA5b4d6f6b8c2e4e5e9b1c1d2e3f4a5b6c"


class Twilio:
    def __init__(self, stream: TwilioMediaStream) -> None:
        self.stream = stream
        self.sequence = 0

    def send(self, event: str, body: dict[str, Any] | None = None, **extra: Any) -> list:
        self.sequence += 1
        message = {"event": event, "sequenceNumber": str(self.sequence), **(body or {})}
        if event != "start":
            message["streamSid"] = STREAM_SID
        message.update(extra)
        return self.stream.on_text(json.dumps(message))

    def start(self, tracks: list[str] | None = None, **media_format: Any) -> list:
        self.stream.on_text(json.dumps({"event": "connected", "protocol": "Call"}))
        return self.send(
            "start",
            {
                "streamSid": STREAM_SID,
                "start": {
                    "accountSid": "AC123",
                    "streamSid": STREAM_SID,
                    "callSid": CALL_SID,
                    "tracks": tracks or ["inbound", "outbound"],
                    "customParameters": {"queue": "billing", "language": "en"},
                    "mediaFormat": {
                        "encoding": "audio/x-mulaw",
                        "sampleRate": 8000,
                        "channels": 1,
                        **media_format,
                    },
                },
            },
        )

    def media(self, track: str, timestamp_ms: int, mulaw: bytes) -> list:
        payload = base64.b64encode(mulaw).decode()
        return self.send(
            "media", {"media": {"track": track, "timestamp": str(timestamp_ms), "payload": payload}}
        )


def test_start_names_the_call_and_the_channels() -> None:
    twilio = Twilio(TwilioMediaStream())
    [started] = twilio.start()
    assert started == StreamStarted(
        STREAM_SID, CALL_SID, "AC123", ("customer", "agent"), {"queue": "billing", "language": "en"}
    )


def test_inbound_is_the_customer_outbound_the_agent() -> None:
    twilio = Twilio(TwilioMediaStream())
    twilio.start()
    [inbound] = twilio.media("inbound", 0, b"\x10" * 160)
    [outbound] = twilio.media("outbound", 0, b"\x20" * 160)
    assert inbound == MediaChunk("customer", audioop.ulaw2lin(b"\x10" * 160, 2), 0)
    assert outbound == MediaChunk("agent", audioop.ulaw2lin(b"\x20" * 160, 2), 0)


def test_a_gap_in_timestamps_becomes_counted_silence() -> None:
    stream = TwilioMediaStream()
    twilio = Twilio(stream)
    twilio.start()
    twilio.media("inbound", 0, b"\xff" * 160)
    [late] = twilio.media("inbound", 500, b"\x10" * 160)  # 480 ms never arrived
    assert late.gap_ms == 480 and late.pcm[: 2 * 3840] == bytes(2 * 3840)
    assert stream.lost_ms == {"customer": 480, "agent": 0}
    [jitter] = twilio.media("inbound", 540, b"\x10" * 160)  # 20 ms late is jitter, not a gap
    assert jitter.gap_ms == 0
    assert stream.samples["customer"] == 160 + 3840 + 160 + 160


def test_stop_and_dtmf() -> None:
    twilio = Twilio(TwilioMediaStream())
    twilio.start()
    assert twilio.send("dtmf", {"dtmf": {"track": "inbound_track", "digit": "5"}}) == [
        DtmfReceived("customer", "5")
    ]
    assert twilio.send("mark", {"mark": {"name": "x"}}) == []
    assert twilio.send("stop", {"stop": {"callSid": CALL_SID}}) == [StreamStopped("stop")]
    with pytest.raises(TwilioProtocolError, match="after stop"):
        twilio.media("inbound", 0, b"\x00")


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (lambda t: t.send("media", sequenceNumber="7"), "expected sequenceNumber 2, got 7"),
        (lambda t: t.send("media", streamSid="MZother"), "does not match"),
        (lambda t: t.media("dialog", 0, b"\x00"), "unknown track"),
        (lambda t: t.send("media", {"media": {"track": "inbound", "payload": "!!"}}), "base64"),
        (lambda t: t.media("inbound", 0, b"\x00" * 9000), "exceeds 8000 bytes"),
        (lambda t: t.send("start"), "a second start"),
    ],
)
def test_violations_are_refused_with_a_reason(action: Any, reason: str) -> None:
    twilio = Twilio(TwilioMediaStream())
    twilio.start()
    with pytest.raises(TwilioProtocolError, match=reason):
        action(twilio)


def test_media_before_start_and_other_formats_are_refused() -> None:
    with pytest.raises(TwilioProtocolError, match="before start"):
        Twilio(TwilioMediaStream()).media("inbound", 0, b"\x00")
    with pytest.raises(TwilioProtocolError, match="unsupported media format"):
        Twilio(TwilioMediaStream()).start(encoding="audio/l16")
    with pytest.raises(TwilioProtocolError, match="unsupported media format"):
        Twilio(TwilioMediaStream()).start(sampleRate=16000)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"event": st.sampled_from(["connected", "start", "media", "stop", "dtmf", "mark"])},
            optional={
                "sequenceNumber": st.sampled_from(["1", "2", "3", "x", 2, None]),
                "streamSid": st.sampled_from([STREAM_SID, "MZx", 5]),
                "start": st.fixed_dictionaries(
                    {},
                    optional={
                        "callSid": st.sampled_from([CALL_SID, "", 3]),
                        "streamSid": st.just(STREAM_SID),
                        "tracks": st.lists(st.sampled_from(["inbound", "outbound", "x"])),
                        "mediaFormat": st.sampled_from(
                            [{"encoding": "audio/x-mulaw", "sampleRate": 8000}, {}, "x"]
                        ),
                        "customParameters": st.sampled_from([{}, {"a": 1}, []]),
                    },
                ),
                "media": st.fixed_dictionaries(
                    {},
                    optional={
                        "track": st.sampled_from(["inbound", "outbound", "both", 1]),
                        "timestamp": st.sampled_from(["0", "20", "-5", "x", None, 10**12]),
                        "payload": st.sampled_from(["/w==", "", "@@", 7])
                        | st.binary(max_size=50).map(lambda b: base64.b64encode(b).decode()),
                    },
                ),
                "dtmf": st.sampled_from([{}, {"digit": "1"}, None]),
            },
        ).map(json.dumps)
        | st.text(max_size=30),
        max_size=10,
    )
)
def test_any_input_only_raises_protocol_errors(messages: list[str]) -> None:
    stream = TwilioMediaStream()
    for text in messages:
        try:
            effects = stream.on_text(text)
        except TwilioProtocolError as exc:
            assert str(exc)
            return
        for effect in effects:
            if isinstance(effect, MediaChunk):
                assert len(effect.pcm) % 2 == 0 and effect.gap_ms >= 0
