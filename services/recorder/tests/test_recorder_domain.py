"""Pure recorder domain: gaps in channel audio, recording state, DTMF (RFC 4733) and the
recording policy decision."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from callscope_recorder.domain.audio import ChannelAudio
from callscope_recorder.domain.call import CallSession, RecordingStateError, UnknownChannelError
from callscope_recorder.domain.dtmf import (
    DtmfDetector,
    DtmfParseError,
    DtmfSequenceMatcher,
    parse_telephone_event,
)
from callscope_recorder.domain.policy import (
    PolicyError,
    RecordingPolicy,
    decide,
    policy_for,
    sample_point,
)
from callscope_recorder.ingest.rtp import RtpPacket

LOUD = struct.pack("<h", 10000) * 8000  # 1 s at 8 kHz


def session(**kwargs) -> CallSession:  # type: ignore[no-untyped-def]
    return CallSession(
        call_id=kwargs.pop("call_id", "c1"),
        external_call_id="x",
        source="grpc",
        queue="q",
        language="",
        started_at=datetime.now(UTC),
        **kwargs,
    )


# -- gaps in one channel ----------------------------------------------------------------------


def test_nothing_is_written_inside_an_open_gap_and_the_timeline_moves_on() -> None:
    audio = ChannelAudio()
    written: list[tuple[int, int]] = []
    audio.listener = lambda position, pcm: written.append((position, len(pcm) // 2))
    audio.add_pcm(LOUD[:1600])  # 0..800
    audio.start_gap(800, "paused")
    audio.add_pcm(LOUD[:1600])  # 800..1600: dropped
    assert audio.end == 1600 and written == [(0, 800)]
    audio.end_gap(audio.end)
    audio.add_pcm(LOUD[:1600])  # 1600..2400
    pcm = audio.pcm()
    assert len(pcm) == 2 * 2400
    assert pcm[1600:3200] == bytes(1600) and pcm[3200:] == LOUD[:1600]
    assert written == [(0, 800), (1600, 800)]
    assert audio.recorded_samples() == 1600


def test_a_late_write_into_a_closed_gap_is_cut_out() -> None:
    audio = ChannelAudio()
    audio.add_pcm(LOUD[:4000])  # 0..2000
    audio.add_gap(2000, 1000, "discarded")  # 2000..3000
    audio.write(2500, LOUD[:2000])  # 2500..3500: only 3000..3500 is kept
    pcm = audio.pcm()
    assert pcm[4000:6000] == bytes(2000) and pcm[6000:7000] == LOUD[:1000]


def test_segments_never_cover_a_gap() -> None:
    audio = ChannelAudio()
    audio.add_pcm(LOUD[: 2 * 6000])  # 0..6000 (750 ms)
    audio.start_gap(6000, "paused")
    audio.add_pcm(LOUD[: 2 * 8000])  # dropped, timeline to 14000
    ready = audio.take_ready(segment_ms=500, jitter_ms=0)
    # 0..4000 is a full segment; 4000..6000 ends where the gap starts.
    assert [(start, len(pcm) // 2) for start, pcm in ready] == [(0, 4000), (500, 2000)]
    assert audio.take_ready(500, 0) == []  # the gap is open: nothing after it yet
    audio.end_gap(audio.end)
    audio.add_pcm(LOUD[: 2 * 4000])  # 14000..18000
    ready = audio.take_ready(500, 0)
    assert [(start, len(pcm) // 2) for start, pcm in ready] == [(1750, 4000)]
    assert all(pcm == LOUD[: len(pcm)] for _, pcm in ready)


def test_flush_skips_an_open_gap_to_the_end() -> None:
    audio = ChannelAudio()
    audio.add_pcm(LOUD[:2000])
    audio.start_gap(1000, "stopped")
    audio.add_pcm(LOUD[:2000])
    assert [(s, len(p)) for s, p in audio.flush(500)] == [(0, 2000)]
    assert audio.flush(500) == []


# -- recording state --------------------------------------------------------------------------


def test_pause_resume_state_and_positions() -> None:
    call = session()
    call.feed("customer", LOUD[:16000])  # 1 s
    pause = call.pause("agent-1", "card", "api")
    assert pause is not None and pause.at_ms == 1000 and call.state == "paused"
    assert call.pause("agent-1", "again", "api") is None
    call.feed("customer", LOUD[:8000])  # 0.5 s while paused
    call.feed("agent", LOUD[:8000], position=8000)  # agent: 1.0 s to 1.5 s
    resume = call.resume("agent-1", "done", "api")
    assert resume is not None and resume.at_ms == 1500 and resume.gap_ms == 500
    assert call.resume("agent-1", "again", "api") is None
    assert [(g.start_ms, g.duration_ms, g.reason) for g in call.gaps()] == [(1000, 500, "paused")]
    stereo = call.stereo_pcm()
    assert stereo[4 * 8000 : 4 * 12000] == bytes(4 * 4000)  # both sides silent in the pause


def test_on_demand_records_nothing_until_start_and_nothing_after_stop() -> None:
    call = session()
    call.not_started()
    with pytest.raises(RecordingStateError):
        call.resume("a", "", "api")
    call.feed("customer", LOUD[:16000])
    assert call.recorded_ms == 0
    start = call.start("agent-1", "customer agreed", "api")
    assert start is not None and start.at_ms == 1000
    call.feed("customer", LOUD[:16000])
    stop = call.stop("agent-1", "done", "api")
    assert stop is not None and stop.at_ms == 2000
    call.feed("customer", LOUD[:16000])
    with pytest.raises(RecordingStateError):
        call.start("agent-1", "again", "api")
    assert call.recorded_ms == 1000
    assert [(g.start_ms, g.duration_ms, g.reason) for g in call.gaps()] == [
        (0, 1000, "not_recording"),
        (2000, 1000, "stopped"),
    ]


def test_bad_input_is_refused_and_changes_nothing() -> None:
    call = session()
    with pytest.raises(UnknownChannelError):
        call.feed("supervisor", LOUD[:320])
    with pytest.raises(ValueError, match="codec"):
        call.feed("agent", LOUD[:320], codec="opus")
    with pytest.raises(ValueError, match="16-bit"):
        call.feed("agent", b"\x00\x01\x02")
    with pytest.raises(ValueError, match="sample rate"):
        call.feed("agent", LOUD[:320], sample_rate=96000)
    with pytest.raises(ValueError):
        call.mark_gap("agent", -5)
    assert call.position == 0 and call.gaps() == []
    with pytest.raises(UnknownChannelError):
        session(channel_of_stream={0: "left"})


def test_proof_only_publishes_no_more_segments() -> None:
    call = session()
    call.feed("customer", LOUD[:16000])
    call.keep_for_proof_only()
    call.feed("customer", LOUD[:16000])
    assert call.ready_segments(500, 0) == []
    final = call.final_segments()
    assert all(s.pcm == b"" and s.last for s in final)
    assert call.recorded_ms == 2000  # still stored


# -- DTMF -------------------------------------------------------------------------------------


def event_packet(event: int, timestamp: int, end: bool = False, ssrc: int = 7) -> RtpPacket:
    payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, 400)
    return RtpPacket(101, 1, timestamp, ssrc, False, payload)


def test_parse_telephone_event() -> None:
    event = parse_telephone_event(bytes([11, 0x80 | 0x0A, 0x03, 0x20]))
    assert (event.digit, event.end, event.volume, event.duration) == ("#", True, 10, 800)
    assert parse_telephone_event(bytes([16, 0, 0, 0])).digit is None  # flash, not a digit
    with pytest.raises(DtmfParseError):
        parse_telephone_event(b"\x01\x02")


def test_one_key_press_is_one_digit_whatever_the_repeats() -> None:
    detector = DtmfDetector()
    digits = [
        detector.on_packet(event_packet(1, 1000, end))
        for end in (False, False, False, True, True, True)
    ]
    digits.append(detector.on_packet(event_packet(1, 2000)))  # a second press of 1
    assert [d for d in digits if d] == ["1", "1"]


def test_sequences_match_within_the_time_window() -> None:
    matcher = DtmfSequenceMatcher("*1", "*2", max_gap_ms=1000)
    assert matcher.on_digit("*", 0) is None
    command = matcher.on_digit("1", 500)
    assert command is not None and command.action == "pause"
    assert matcher.on_digit("*", 1000) is None
    assert matcher.on_digit("2", 5000) is None  # too late: not a sequence
    assert matcher.on_digit("4", 5100) is None
    matcher.on_digit("*", 6000)
    command = matcher.on_digit("2", 6100)
    assert command is not None and command.action == "resume"
    with pytest.raises(ValueError):
        DtmfSequenceMatcher("*x", "*2")
    with pytest.raises(ValueError):
        DtmfSequenceMatcher("*1", "*1")


def test_customer_digits_do_not_pause_when_only_the_agent_may() -> None:
    call = session(
        channel_of_stream={0: "customer", 1: "agent"}, codec_of_stream={0: "PCMU", 1: "PCMU"}
    )
    call.dtmf = DtmfSequenceMatcher("*1", "*2")
    call.on_rtp(0, event_packet(10, 100))
    call.on_rtp(0, event_packet(1, 200))
    assert call.dtmf_commands == []
    call.on_rtp(1, event_packet(10, 100, ssrc=9))
    call.on_rtp(1, event_packet(1, 200, ssrc=9))
    assert [c.action for c in call.dtmf_commands] == ["pause"]
    call.on_rtp(1, RtpPacket(101, 2, 300, 9, False, b"\x01"))  # malformed: counted, ignored
    assert call.counters["agent"].malformed_dtmf == 1


# -- recording policy -------------------------------------------------------------------------


def test_percentage_is_reproducible_per_call_and_close_to_the_share() -> None:
    policy = RecordingPolicy("t", mode="percentage", percentage=30.0).validated()
    ids = [f"call-{i}" for i in range(4000)]
    first = [decide(policy, i).record_from_start for i in ids]
    assert first == [decide(policy, i).record_from_start for i in ids]
    assert 0.27 < sum(first) / len(ids) < 0.33
    assert all(0 <= sample_point(i) < 100 for i in ids[:50])
    assert decide(RecordingPolicy("t", mode="percentage", percentage=0.0), "x").mode == "percentage"
    assert not decide(
        RecordingPolicy("t", mode="percentage", percentage=0.0), "x"
    ).record_from_start
    assert decide(RecordingPolicy("t", mode="percentage", percentage=100.0), "x").record_from_start


def test_modes_and_fallback_to_the_tenant_default() -> None:
    queue = RecordingPolicy("t", "sales", mode="on_demand")
    tenant = RecordingPolicy("t", "", mode="percentage", percentage=10)
    assert policy_for([queue, tenant], "t", "sales") is queue
    assert policy_for([queue, tenant], "t", "support") is tenant
    assert policy_for([queue], "t", "support").mode == "all"
    assert policy_for([queue, tenant], "other", "sales").mode == "all"
    assert not decide(queue, "c").record_from_start
    assert decide(RecordingPolicy("t"), "c").record_from_start


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"percentage": 120.0}, "percentage"),
        ({"opt_out_decision": "delete"}, "opt_out_decision"),
        ({"purposes": ("marketing",)}, "purposes"),
        ({"purposes": ()}, "purpose"),
        ({"tenant": ""}, "tenant"),
        ({"proof_retention_days": 0}, "proof_retention_days"),
    ],
)
def test_invalid_policies_name_the_field(changes: dict, field: str) -> None:
    base = {"tenant": "t", "queue": "", "mode": "all"}
    with pytest.raises(PolicyError, match=field):
        RecordingPolicy(**{**base, **changes}).validated()


def test_an_import_is_recorded_whatever_the_live_policy() -> None:
    # Sampling and on-demand govern live calls; importing a file asks for it to be kept.
    none_sampled = RecordingPolicy("t", mode="percentage", percentage=0.0).validated()
    on_demand = RecordingPolicy("t", mode="on_demand").validated()
    for policy in (none_sampled, on_demand):
        assert not decide(policy, "c", "siprec").record_from_start
        decision = decide(policy, "c", "import")
        assert decision.record_from_start and decision.mode == policy.mode


def test_next_segment_in_ms_says_how_much_audio_a_live_segment_still_needs() -> None:
    call = session()
    # Nothing yet: a 1 s segment held back 200 ms for jitter needs 1.2 s on some channel.
    assert call.next_segment_in_ms(1000, 200) == 1200
    call.feed("customer", bytes(2 * 8000 * 1))  # 1 s on one channel
    assert call.next_segment_in_ms(1000, 200) == 200
    call.feed("agent", bytes(2 * 8000 * 2))  # 2 s on the other: ready now
    assert call.next_segment_in_ms(1000, 200) == 0
    assert call.ready_segments(1000, 200)  # and it is
    assert call.next_segment_in_ms(1000, 200) == 200  # the customer's channel is next
