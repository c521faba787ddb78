# Multilingual test data.
# ruff: noqa: RUF001

import re

import pytest

from callscope_analyzer.domain.rules import CallState, RuleSet, UtteranceRecord, evaluate
from callscope_analyzer.domain.summary import (
    Scorecard,
    ScorecardConfigError,
    default_scorecard,
    summarize,
)


def utt(
    channel: str,
    no: int,
    start_s: float,
    end_s: float,
    text: str = "some words",
    score: float | None = 0.0,
    *,
    categories: tuple[str, ...] = (),
    language: str = "en",
    keywords: dict[str, tuple[str, ...]] | None = None,
    human: tuple[str, ...] = (),
) -> UtteranceRecord:
    label = None
    if score is not None:
        label = "negative" if score < -0.2 else "positive" if score > 0.2 else "neutral"
    return UtteranceRecord(
        channel=channel,
        utterance_no=no,
        version=1,
        start_ms=int(start_s * 1000),
        end_ms=int(end_s * 1000),
        text=text,
        language=language,
        sentiment_score=score,
        sentiment_label=label,
        categories=categories,
        keywords=keywords or {},
        human_requests=human,
    )


LEGAL = {"legal_threat": ("lawyer",)}


def good_call() -> CallState:
    state = CallState("call-good")
    for u in [
        utt("agent", 0, 0, 5, "Hello, thank you for calling, how can I help?", 0.5),
        utt("customer", 0, 5, 12, "My bill is wrong again", -0.6, categories=("billing_dispute",)),
        utt("agent", 1, 12, 20, "I'm sorry, let me check that for you", 0.0),
        utt("customer", 1, 20, 26, "Okay", 0.0, categories=("billing_dispute",)),
        utt("agent", 2, 26, 34, "I've refunded the charge", 0.4),
        utt("customer", 2, 34, 40, "Great, thank you so much", 0.8, categories=("compliment",)),
        utt("agent", 3, 40, 46, "Anything else? Have a nice day, goodbye", 0.6),
    ]:
        state.add_utterance(u)
    return state


def test_summary_of_a_good_call() -> None:
    summary = summarize(good_call(), 48_000)
    assert summary.call_id == "call-good"
    assert summary.duration_ms == 48_000
    assert summary.customer_utterances == 3
    assert summary.customer_sentiment == pytest.approx((-0.6 + 0.0 + 0.8) / 3, abs=1e-4)
    assert summary.customer_sentiment_label == "neutral"
    # Quarters of 12 s: midpoints 8.5 s (q1), 23 s (q2), 37 s (q4).
    assert summary.sentiment_by_quarter == (-0.6, 0.0, None, 0.8)
    assert summary.trend == "improving"
    assert summary.categories == ("billing_dispute", "compliment")
    assert summary.metrics.agent_talk_ms == 27_000
    assert summary.metrics.customer_talk_ms == 19_000
    assert summary.alert_keys == ()
    assert summary.qa_score == 100.0
    assert {c.name: c.passed for c in summary.qa_components} == {
        "greeting": True,
        "closing": True,
        "talk_ratio": True,
        "no_long_silence": True,
        "no_overtalk": True,
        "resolved_without_escalation": True,
    }


def test_summary_of_a_bad_call_lists_alerts_and_loses_qa_points() -> None:
    state = CallState("call-bad")
    for u in [
        utt("agent", 0, 0, 40, "Yes what", 0.0),  # no greeting, talks a lot
        utt("customer", 0, 30, 45, "Hi, I have a question", 0.3),  # 10 s of over-talk
        utt("customer", 1, 90, 95, "An agent, a manager!", -0.8, human=("agent", "manager")),
        utt("customer", 2, 100, 104, "I'll call my lawyer", -0.9, keywords=LEGAL),
        utt("agent", 1, 105, 160, "Fine", 0.0),
    ]:
        state.add_utterance(u)
    rules = RuleSet.load(overrides={"human_request": {"params": {"threshold": 1}}})
    for decision in evaluate(state, state.last_end_ms(), rules):
        state.record_alert(decision)
    summary = summarize(state, 160_000)
    assert summary.customer_sentiment_label == "negative"
    assert summary.trend == "worsening"
    assert summary.alert_keys == (
        "long_silence/v1/45000",  # 45 s .. 90 s
        "human_request/v1",
        "legal_threat/v1/customer:2",
    )
    assert summary.keyword_counts == {"legal_threat": 1}
    assert {c.name: c.passed for c in summary.qa_components} == {
        "greeting": False,
        "closing": False,
        "talk_ratio": False,  # agent 95 s of 119 s
        "no_long_silence": False,
        "no_overtalk": False,  # 10 s of 119 s
        "resolved_without_escalation": False,
    }
    assert summary.qa_score == 0.0


def test_greeting_and_closing_in_other_languages() -> None:
    card = default_scorecard()
    for language, hello, bye in [
        ("fr", "Bonjour, que puis-je faire pour vous ?", "Bonne journée, au revoir"),
        ("ru", "Здравствуйте, чем могу помочь?", "Всего доброго, до свидания"),
        ("zh", "您好，很高兴为您服务", "祝您生活愉快，再见"),
    ]:
        state = CallState(language)
        state.add_utterance(utt("agent", 0, 0, 3, hello, language=language))
        state.add_utterance(utt("customer", 0, 3, 6, "…", language=language))
        state.add_utterance(utt("agent", 1, 6, 9, bye, language=language))
        passed = {c.name: c.passed for c in summarize(state, 10_000, scorecard=card).qa_components}
        assert passed["greeting"] and passed["closing"], language


def test_empty_call_has_no_scores_but_does_not_crash() -> None:
    summary = summarize(CallState("nothing"), 60_000)
    assert summary.customer_sentiment is None
    assert summary.customer_sentiment_label == "neutral"
    assert summary.sentiment_by_quarter == (None, None, None, None)
    assert summary.trend == "unknown"
    assert summary.categories == ()
    assert summary.qa_score is None  # nothing applicable: an empty call is not a good one
    assert all(c.passed is None for c in summary.qa_components)


@pytest.mark.parametrize("duration", [None, 0, -1, 10**12])
def test_absurd_duration_falls_back_to_the_transcript(duration: int | None) -> None:
    summary = summarize(good_call(), duration)
    assert summary.duration_ms == 46_000
    assert summary.sentiment_by_quarter[0] == -0.6


def test_utterances_with_absurd_timings_do_not_break_the_summary() -> None:
    state = good_call()
    state.add_utterance(utt("customer", 3, -50, -10, "weird", -1.0))
    state.add_utterance(utt("customer", 4, 30, 20, "inverted", -1.0))
    state.add_utterance(utt("customer", 5, 10**9, 10**9 + 5, "far away", -1.0))
    summary = summarize(state, 48_000)
    assert summary.metrics.customer_talk_ms == 19_000  # the bad ones are skipped
    assert {(x.key, x.reason) for x in summary.metrics.skipped} == {
        ("customer:3", "negative_time"),
        ("customer:4", "end_before_start"),
        ("customer:5", "beyond_max_call"),
    }
    assert summary.customer_utterances == 6  # what was said still counts for sentiment
    assert summary.customer_sentiment == pytest.approx((-0.6 + 0.0 + 0.8 - 3.0) / 6, abs=1e-4)
    assert summary.sentiment_by_quarter == (-0.6, 0.0, None, 0.8)  # but not in a quarter


def test_unscored_utterances_are_left_out_of_sentiment() -> None:
    state = CallState("c")
    state.add_utterance(utt("customer", 0, 0, 5, "hello", None))
    state.add_utterance(utt("customer", 1, 5, 10, "bad", -0.5))
    summary = summarize(state, 10_000)
    assert summary.customer_sentiment == -0.5
    assert summary.trend == "unknown"


def test_only_one_transcript_version_is_summarized() -> None:
    state = good_call()
    late = utt("customer", 0, 5, 12, "My bill is wrong again", -0.6)
    state.add_utterance(UtteranceRecord(**{**late.__dict__, "version": 2}))
    assert summarize(state, 48_000, version=1).customer_utterances == 3
    assert summarize(state, 48_000).customer_utterances == 1  # latest version by default


def test_scorecard_is_config_driven() -> None:
    card = Scorecard.from_mapping(
        {
            "components": {
                "short_silences": {"check": "no_long_silence", "weight": 1, "min_ms": 5_000},
                "balanced": {"check": "talk_ratio", "weight": 3, "min": 0.45, "max": 0.55},
            }
        }
    )
    summary = summarize(good_call(), 48_000, scorecard=card)
    # agent share 27/46 = 0.59: unbalanced (3 points lost); no 5 s silence (1 point won).
    assert summary.qa_score == 25.0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "expected a mapping under 'components'"),
        ({"components": {"x": {"check": "vibes"}}}, "component 'x': check must be one of"),
        ({"components": {"x": {"check": "talk_ratio", "colour": 1}}}, "unknown key(s) ['colour']"),
        ({"components": {"x": {"check": "talk_ratio", "min": 0.8, "max": 0.2}}}, "min must not"),
        ({"components": {"x": {"check": "talk_ratio", "weight": -1}}}, "weight must be >= 0"),
        ({"components": {"x": {"check": "agent_phrases", "phrases": {"en": "hi"}}}}, "phrases"),
        ({"components": {"x": {"check": "no_alerts", "rules": "all"}}}, "rules must be a list"),
    ],
)
def test_bad_scorecard_names_the_component(doc: object, message: str) -> None:
    with pytest.raises(ScorecardConfigError, match=re.escape(message)):
        Scorecard.from_mapping(doc)
