import math

import pytest

from callscope_analyzer.domain.conversation import (
    Span,
    Turn,
    conversation_metrics,
    count_words,
    intersect_spans,
    merge_spans,
    valid_dbfs,
)


def agent(no: int, start: int, end: int, words: int = 0, dbfs: float | None = None) -> Turn:
    return Turn("agent", no, start, end, words, dbfs)


def customer(no: int, start: int, end: int, words: int = 0, dbfs: float | None = None) -> Turn:
    return Turn("customer", no, start, end, words, dbfs)


def reasons(metrics, key: str) -> list[str]:
    return [s.reason for s in metrics.skipped if s.key == key]


def test_talk_silence_overtalk_on_a_simple_call() -> None:
    turns = [
        agent(0, 1_000, 5_000, 10),  # 4 s
        customer(0, 4_000, 10_000, 15),  # 6 s, 1 s over-talk with the agent
        agent(1, 12_000, 14_000, 5),  # 2 s after a 2 s gap
    ]
    m = conversation_metrics(turns, duration_ms=20_000)
    assert m.agent_talk_ms == 6_000
    assert m.customer_talk_ms == 6_000
    assert m.talk_ratio == 0.5
    assert m.overtalk_ms == 1_000
    assert m.overtalk_spans == (Span(4_000, 5_000),)
    # Gaps: 0-1 s (leading), 10-12 s, 14-20 s (trailing) = 9 s.
    assert m.silence_ms == 9_000
    assert m.hold_ms == 0
    assert m.duration_ms == 20_000
    assert m.long_silences == ()
    assert m.skipped == ()


def test_talk_ratio_is_the_agent_share() -> None:
    m = conversation_metrics([agent(0, 0, 30_000), customer(0, 30_000, 40_000)])
    assert m.talk_ratio == 0.75
    assert conversation_metrics([]).talk_ratio is None


def test_long_silences_are_internal_gaps_only() -> None:
    turns = [agent(0, 40_000, 41_000), customer(0, 80_000, 81_000), agent(1, 82_000, 83_000)]
    m = conversation_metrics(turns, duration_ms=200_000, long_silence_ms=30_000)
    # The 40 s before the first word (ringing/IVR) and the end after hang-up are not "long
    # silences" of the conversation; the 39 s in between is.
    assert m.long_silences == (Span(41_000, 80_000),)
    assert m.silence_ms == 200_000 - 3_000


def test_hold_time_is_not_silence() -> None:
    turns = [agent(0, 0, 10_000), customer(0, 70_000, 75_000)]
    m = conversation_metrics(turns, holds=[Span(15_000, 65_000)])
    assert m.hold_ms == 50_000
    assert m.silence_ms == 60_000 - 50_000
    # A hold span past the end of the call is cut, a broken one ignored.
    m2 = conversation_metrics(turns, holds=[Span(70_000, 999_000), Span(5, 1)])
    assert m2.hold_ms == 0


def test_overlapping_utterances_of_one_channel_count_once() -> None:
    m = conversation_metrics([customer(0, 0, 10_000), customer(1, 5_000, 12_000)])
    assert m.customer_talk_ms == 12_000
    assert m.overtalk_ms == 0


def test_duplicates_of_one_key_count_once_and_versions_never_mix() -> None:
    turns = [customer(0, 0, 10_000, 20)] * 3 + [
        Turn("customer", 0, 0, 9_000, 18, version=2),
        Turn("agent", 0, 10_000, 12_000, 4, version=2),
    ]
    latest = conversation_metrics(turns)
    assert latest.customer_talk_ms == 9_000
    assert latest.channels["customer"].utterances == 1
    assert latest.agent_talk_ms == 2_000
    live = conversation_metrics(turns, version=1)
    assert live.customer_talk_ms == 10_000
    assert live.channels["customer"].words == 20
    assert live.agent_talk_ms == 0


def test_short_overlaps_are_not_overtalk() -> None:
    turns = [agent(0, 0, 5_000), customer(0, 4_800, 8_000)]  # 200 ms: backchannel/jitter
    assert conversation_metrics(turns).overtalk_ms == 0
    assert conversation_metrics(turns, min_overtalk_ms=100).overtalk_ms == 200


def test_speaking_rate() -> None:
    turns = [
        customer(0, 0, 30_000, 75),  # 150 wpm
        customer(1, 40_000, 70_000, 75),
        customer(2, 80_000, 80_500, 3),  # under a second: ignored for the rate
        agent(0, 90_000, 91_000, 500),  # 30000 wpm: misaligned, excluded from the rate
    ]
    m = conversation_metrics(turns)
    assert m.channels["customer"].words_per_minute == 150.0
    assert m.channels["customer"].words == 153
    assert m.channels["agent"].words_per_minute is None
    assert reasons(m, "agent:0") == ["rate_implausible"]
    assert m.agent_talk_ms == 1_000  # still talk time


def test_loudness_per_utterance_and_channel() -> None:
    turns = [
        customer(0, 0, 1_000, dbfs=-30.0),
        customer(1, 2_000, 3_000, dbfs=-10.0),
        customer(2, 4_000, 5_000, dbfs=0.0),  # protobuf default: unknown, never "very loud"
        agent(0, 6_000, 7_000, dbfs=float("nan")),
    ]
    m = conversation_metrics(turns)
    assert m.loudness == {"customer:0": -30.0, "customer:1": -10.0}
    assert m.channels["customer"].mean_dbfs == -20.0
    assert m.channels["customer"].max_dbfs == -10.0
    assert m.channels["agent"].mean_dbfs is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(-25.5, -25.5), (0.0, None), (3.0, None), (-150.0, None), (None, None), (math.inf, None)],
)
def test_valid_dbfs(value: float | None, expected: float | None) -> None:
    assert valid_dbfs(value) == expected


@pytest.mark.parametrize(
    ("turn", "reason"),
    [
        (customer(0, 5_000, 1_000), "end_before_start"),
        (customer(0, -5_000, -1_000), "negative_time"),
        (customer(0, 0, 5 * 3_600_000), "too_long"),  # a five-hour utterance
        (customer(0, 13 * 3_600_000, 13 * 3_600_000 + 1_000), "beyond_max_call"),
        (customer(0, 3_000, 3_000), "empty_span"),
        (Turn("supervisor", 0, 0, 1_000), "unknown_channel"),
        (Turn("customer", 0, None, 1_000), "invalid_time"),  # type: ignore[arg-type]
    ],
)
def test_absurd_timings_are_skipped_with_a_reason(turn: Turn, reason: str) -> None:
    m = conversation_metrics([turn, agent(0, 0, 1_000)])
    assert reasons(m, turn.key) == [reason]
    assert m.customer_talk_ms == 0
    assert m.agent_talk_ms == 1_000


def test_small_negative_start_is_clamped_and_overrun_cut_at_call_end() -> None:
    m = conversation_metrics(
        [customer(0, -200, 1_000), agent(0, 9_000, 12_000), agent(1, 15_000, 16_000)],
        duration_ms=10_000,
    )
    assert m.customer_talk_ms == 1_000
    assert m.agent_talk_ms == 1_000
    assert reasons(m, "customer:0") == ["clamped_start"]
    assert reasons(m, "agent:0") == ["clamped_to_duration"]
    assert reasons(m, "agent:1") == ["after_call_end"]


@pytest.mark.parametrize("duration", [None, 0, -5, 100 * 3_600_000])
def test_absurd_call_duration_falls_back_to_last_utterance(duration: int | None) -> None:
    m = conversation_metrics(
        [agent(0, 1_000, 2_000), customer(0, 3_000, 4_000)], duration_ms=duration
    )
    assert m.duration_ms == 4_000
    assert m.silence_ms == 2_000


def test_no_utterances_at_all() -> None:
    m = conversation_metrics([], duration_ms=60_000)
    assert m.silence_ms == 60_000
    assert m.long_silences == ()
    assert m.talk_ratio is None
    assert m.last_speech_end_ms == 0


def test_span_helpers() -> None:
    assert merge_spans([Span(5, 8), Span(0, 5), Span(7, 9), Span(3, 3)]) == [Span(0, 9)]
    assert intersect_spans([Span(0, 10), Span(20, 30)], [Span(5, 25)]) == [
        Span(5, 10),
        Span(20, 25),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [("Hello there, how are you?", 5), ("我要取消", 4), ("我要 cancel 了", 4), ("", 0), ("...", 0)],
)
def test_count_words(text: str, words: int) -> None:
    assert count_words(text) == words
