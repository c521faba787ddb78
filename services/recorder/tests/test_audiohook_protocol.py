"""Genesys AudioHook v2 server state machine: the open/opened handshake, media choice,
sequence numbers, pause/resume/discarded, close, and fuzzed input (only protocol errors)."""

from __future__ import annotations

import audioop
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callscope_recorder.ingest.audiohook.protocol import (
    AudioDiscarded,
    AudioHookProtocolError,
    AudioHookSession,
    AudioReceived,
    CallOpened,
    CloseRequested,
    LanguageChanged,
    State,
    StreamPaused,
    StreamResumed,
    choose_media,
    format_duration,
    parse_duration_ms,
)

SESSION = "e160e428-53e2-487c-977d-96989bf5c99d"
STEREO = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
MONO_EXTERNAL = {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}


class Client:
    """Builds client messages with correct sequence numbers, like Genesys Cloud would."""

    def __init__(self, session: AudioHookSession) -> None:
        self.session = session
        self.seq = 0
        self.server_seq = 0

    def send(
        self,
        kind: str,
        parameters: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> Any:
        self.seq += 1
        message = {
            "version": "2",
            "type": kind,
            "seq": self.seq,
            "serverseq": self.server_seq,
            "id": SESSION,
            "position": format_duration(self.session.position_ms),
            "parameters": parameters or {},
            **(overrides or {}),
        }
        step = self.session.on_text(json.dumps(message))
        for reply in step.replies:
            self.server_seq = reply["seq"]
        return step

    def open(self, media: list[dict[str, Any]] | None = None) -> Any:
        return self.send(
            "open",
            {
                "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
                "conversationId": "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
                "participant": {"id": "883efee8", "ani": "+33612345678", "dnis": "+3312345"},
                "media": media if media is not None else [STEREO, MONO_EXTERNAL],
                "language": "fr-FR",
                "customConfig": {"queue": "billing"},
            },
        )


def stereo_frame(customer: bytes, agent: bytes) -> bytes:
    """Interleave two mu-law byte strings sample by sample (external first)."""
    out = bytearray(2 * len(customer))
    out[0::2] = customer
    out[1::2] = agent
    return bytes(out)


def test_open_chooses_pcmu_stereo_and_starts_the_call() -> None:
    session = AudioHookSession(SESSION)
    client = Client(session)
    step = client.open()
    [opened] = step.replies
    assert opened["type"] == "opened" and opened["seq"] == 1 and opened["clientseq"] == 1
    assert opened["id"] == SESSION
    assert opened["parameters"] == {"startPaused": False, "media": [STEREO]}
    [call] = step.effects
    assert isinstance(call, CallOpened)
    assert call.channels == ("customer", "agent")
    assert (call.conversation_id, call.language, call.queue, call.customer_number) == (
        "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
        "fr-FR",
        "billing",
        "+33612345678",
    )
    assert session.state is State.OPEN


def test_channel_order_follows_the_chosen_media() -> None:
    swapped = {**STEREO, "channels": ["internal", "external"]}
    session = AudioHookSession(SESSION)
    Client(session).open([swapped])
    assert session.channels == ("agent", "customer")
    [audio] = session.on_audio(stereo_frame(b"\x00" * 80, b"\xff" * 80)).effects
    assert isinstance(audio, AudioReceived)
    assert audio.pcm_by_channel["agent"] == audioop.ulaw2lin(b"\x00" * 80, 2)
    assert audio.pcm_by_channel["customer"] == audioop.ulaw2lin(b"\xff" * 80, 2)


def test_mono_is_taken_when_stereo_is_not_offered() -> None:
    assert choose_media([MONO_EXTERNAL]) == MONO_EXTERNAL
    assert choose_media([{**STEREO, "format": "L16"}, {**STEREO, "rate": 16000}]) is None
    session = AudioHookSession(SESSION)
    with pytest.raises(AudioHookProtocolError, match="no PCMU"):
        Client(session).open([{**STEREO, "format": "L16"}])


def test_stereo_frames_are_split_per_channel_and_counted() -> None:
    session = AudioHookSession(SESSION)
    Client(session).open()
    customer, agent = bytes(range(0, 160)), bytes(range(96, 256))
    [audio] = session.on_audio(stereo_frame(customer, agent)).effects
    assert audio.pcm_by_channel == {
        "customer": audioop.ulaw2lin(customer, 2),
        "agent": audioop.ulaw2lin(agent, 2),
    }
    assert session.position_ms == 20 and session.frames == 1


def test_ping_pong_and_sequence_numbers() -> None:
    session = AudioHookSession(SESSION)
    client = Client(session)
    client.open()
    [pong] = client.send("ping", {"rtt": "PT0.05S"}).replies
    assert pong["type"] == "pong" and pong["seq"] == 2 and pong["clientseq"] == 2


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"seq": 5}, "expected seq 2, got 5"),
        ({"seq": 1}, "expected seq 2, got 1"),
        ({"seq": "2"}, "must be integers"),
        ({"serverseq": 9}, "never sent"),
        ({"id": "another-session"}, "does not match"),
        ({"version": "1"}, "unsupported version"),
        ({"parameters": []}, "parameters must be an object"),
    ],
)
def test_protocol_violations_are_refused_with_a_reason(
    overrides: dict[str, Any], reason: str
) -> None:
    session = AudioHookSession(SESSION)
    client = Client(session)
    client.open()
    with pytest.raises(AudioHookProtocolError, match=reason):
        client.send("ping", overrides=overrides)


def test_nothing_but_open_before_open_and_no_audio_before_open() -> None:
    session = AudioHookSession(SESSION)
    with pytest.raises(AudioHookProtocolError, match="before open"):
        Client(session).send("ping")
    with pytest.raises(AudioHookProtocolError, match="connected"):
        AudioHookSession(SESSION).on_audio(b"\x00\x00")


def test_malformed_and_oversized_frames_are_refused() -> None:
    session = AudioHookSession(SESSION, max_frame_bytes=3200)
    Client(session).open()
    with pytest.raises(AudioHookProtocolError, match="not whole samples of 2 channels"):
        session.on_audio(b"\x00" * 161)
    with pytest.raises(AudioHookProtocolError, match="exceeds 3200"):
        session.on_audio(b"\x00" * 3202)


def test_paused_audio_is_dropped_and_the_gap_reported() -> None:
    session = AudioHookSession(SESSION)
    client = Client(session)
    client.open()
    session.on_audio(b"\xff" * 1600)  # 100 ms
    assert client.send("paused").effects == [StreamPaused(100)]
    assert client.send("paused").effects == []  # still paused
    assert session.on_audio(b"\x00" * 1600).effects == []  # never recorded
    assert session.dropped_while_paused == 800
    assert client.send("resumed").effects == [StreamResumed(100)]
    with pytest.raises(AudioHookProtocolError, match="resumed without paused"):
        client.send("resumed")


def test_discarded_update_and_close() -> None:
    session = AudioHookSession(SESSION)
    client = Client(session)
    client.open()
    step = client.send("discarded", {"start": "PT2.5S", "discarded": "PT1.25S"})
    assert step.effects == [AudioDiscarded(2500, 1250)]
    assert client.send("update", {"language": "en-US"}).effects == [LanguageChanged("en-US")]
    assert client.send("close", {"reason": "end"}).effects == [CloseRequested("end")]
    closed = session.closed_message()
    assert closed["type"] == "closed" and closed["clientseq"] == client.seq
    with pytest.raises(AudioHookProtocolError, match="closed"):
        session.on_audio(b"\x00\x00")


def test_iso_durations() -> None:
    assert parse_duration_ms("PT0S") == 0
    assert parse_duration_ms("PT1M2.5S") == 62500
    assert parse_duration_ms("PT1H") == 3_600_000
    assert format_duration(62500) == "PT62.5S" and format_duration(0) == "PT0S"
    for bad in ("", "P", "PT", "1.5S", "PT-1S", 5):
        with pytest.raises(AudioHookProtocolError):
            parse_duration_ms(bad)


def test_disconnect_message_names_the_problem() -> None:
    session = AudioHookSession(SESSION)
    message = session.disconnect_message("expected seq 2, got 5")
    assert message["type"] == "disconnect"
    assert message["parameters"] == {"reason": "error", "info": "expected seq 2, got 5"}
    assert session.state is State.FAILED


# -- fuzz -----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from(["2", "1", 2]),
        "type": st.sampled_from(
            ["open", "ping", "paused", "resumed", "discarded", "update", "close", "error", "x"]
        ),
        "seq": st.integers(-1, 4) | st.text(max_size=2),
        "serverseq": st.integers(-1, 3),
        "id": st.sampled_from([SESSION, "other", ""]),
        "position": JSON_VALUES,
        "parameters": st.fixed_dictionaries(
            {},
            optional={
                "media": st.lists(
                    st.sampled_from([STEREO, MONO_EXTERNAL, {}]) | JSON_VALUES, max_size=3
                ),
                "start": st.sampled_from(["PT1S", "PT", "x"]) | JSON_VALUES,
                "discarded": st.sampled_from(["PT0.5S", "P1D"]) | JSON_VALUES,
                "language": JSON_VALUES,
                "participant": JSON_VALUES,
                "customConfig": JSON_VALUES,
            },
        )
        | JSON_VALUES,
    },
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(MESSAGES.map(json.dumps) | st.text(max_size=40) | st.binary(max_size=400), max_size=8)
)
def test_any_sequence_of_input_only_raises_protocol_errors(inputs: list[str | bytes]) -> None:
    session = AudioHookSession()
    for item in inputs:
        try:
            step = session.on_audio(item) if isinstance(item, bytes) else session.on_text(item)
        except AudioHookProtocolError as exc:
            assert exc.info
            session.disconnect_message(exc.info)
            return
        for reply in step.replies:
            assert reply["type"] in ("opened", "pong") and reply["seq"] == session.server_seq
        for effect in step.effects:
            if isinstance(effect, AudioReceived):
                assert all(len(pcm) % 2 == 0 for pcm in effect.pcm_by_channel.values())
