import re
from collections.abc import Iterable
from typing import Any

import pytest

from callscope_analyzer.domain.keywords import match_keywords
from callscope_analyzer.domain.rules import (
    AlertDecision,
    CallState,
    RuleConfigError,
    RuleSet,
    UtteranceRecord,
    default_rules,
    evaluate,
)

NEG = ("negative", -0.8)
NEU = ("neutral", 0.0)
POS = ("positive", 0.8)


def utt(
    no: int,
    start_s: float,
    text: str = "some words here",
    *,
    channel: str = "customer",
    sentiment: tuple[str, float] | None = NEU,
    dbfs: float | None = None,
    duration_s: float = 2.0,
    language: str = "en",
    categories: tuple[str, ...] = (),
    human: tuple[str, ...] = (),
    version: int = 1,
) -> UtteranceRecord:
    return UtteranceRecord(
        channel=channel,
        utterance_no=no,
        version=version,
        start_ms=int(start_s * 1000),
        end_ms=int((start_s + duration_s) * 1000),
        text=text,
        language=language,
        rms_dbfs=dbfs,
        sentiment_label=sentiment[0] if sentiment else None,
        sentiment_score=sentiment[1] if sentiment else None,
        keywords={k: tuple(v) for k, v in match_keywords(text, language).items()},
        categories=categories,
        human_requests=human,
    )


def state_of(utterances: Iterable[UtteranceRecord], call_id: str = "call-1") -> CallState:
    state = CallState(call_id)
    for u in utterances:
        state.add_utterance(u)
    return state


def only(rule: str, overrides: dict[str, Any] | None = None, **kwargs: Any) -> RuleSet:
    """The packaged rules with every rule but ``rule`` disabled."""
    base = default_rules()
    disabled = {r.name: {"enabled": False} for r in base.rules if r.name != rule}
    merged = {**disabled, **(overrides or {})}
    return RuleSet.load(overrides=merged, **kwargs)


def fire(state: CallState, rules: RuleSet, now_ms: int | None = None) -> list[AlertDecision]:
    return evaluate(state, now_ms if now_ms is not None else state.last_end_ms(), rules)


# ---- CallState -------------------------------------------------------------------------------


def test_add_utterance_is_idempotent_by_channel_number_version() -> None:
    state = CallState("c")
    first = utt(0, 1.0, "hello")
    assert state.add_utterance(first) == "added"
    assert state.add_utterance(first) == "duplicate"
    assert state.add_utterance(utt(0, 1.0, "hello again")) == "updated"
    assert state.add_utterance(utt(0, 1.0, "hello", version=2)) == "added"
    assert state.add_utterance(utt(0, 1.0, "hello", channel="agent")) == "added"
    assert len(state.utterances) == 3
    assert [(u.key, u.text) for u in state.timeline(1)] == [
        ("agent:0", "hello"),
        ("customer:0", "hello again"),
    ]
    assert state.versions() == [1, 2]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (utt(0, 1.0, "hi", channel="bot"), "unknown_channel"),
        (utt(0, 1.0, "   "), "empty_text"),
        (utt(-1, 1.0, "hi"), "negative_utterance_no"),
        (utt(0, 1.0, "hi", version=-1), "negative_version"),
    ],
)
def test_bad_utterances_are_rejected_not_stored(record: UtteranceRecord, reason: str) -> None:
    state = CallState("c")
    assert state.add_utterance(record) == "rejected"
    assert state.utterances == {}
    assert state.rejected[-1][1] == reason
    assert evaluate(state, 0) == []


def test_unknown_call_and_empty_state_are_harmless() -> None:
    state = CallState()  # transcript for a call never seen starting
    assert evaluate(state, None) == []
    assert evaluate(state, 10**15) == []
    state.add_utterance(utt(0, 1.0, "hello"))
    assert evaluate(state, "garbage") == []  # type: ignore[arg-type]


def test_add_hold_validates_and_deduplicates() -> None:
    state = CallState("c")
    assert state.add_hold(1_000, 5_000)
    assert not state.add_hold(1_000, 5_000)
    assert not state.add_hold(5_000, 1_000)
    assert not state.add_hold(-10, -5)
    assert not state.add_hold(None, 5)  # type: ignore[arg-type]
    assert state.holds == {(1_000, 5_000)}


# ---- human_request ---------------------------------------------------------------------------


def test_human_request_fires_once_on_repeated_requests() -> None:
    rules = only("human_request")
    state = state_of(
        [
            utt(0, 10, "I want an agent", human=("agent",)),
            utt(1, 20, "something else"),
            utt(2, 30, "a real person please", human=("real person",)),
        ]
    )
    [decision] = fire(state, rules)
    assert decision.rule == "human_request"
    assert decision.alert_key == "human_request/v1"  # the key app.py has always used
    assert decision.evidence == ("customer:0", "customer:2")
    assert decision.at_ms == 30_000
    assert decision.severity == "warning"
    state.record_alert(decision)
    state.add_utterance(utt(3, 40, "agent!", human=("agent",)))
    assert fire(state, rules) == []


def test_human_request_single_request_or_agent_side_does_not_fire() -> None:
    rules = only("human_request")
    state = state_of(
        [
            utt(0, 10, "I want an agent", human=("agent",)),
            utt(0, 12, "I'm the agent", channel="agent", human=("agent",)),
        ]
    )
    assert fire(state, rules) == []


def test_human_request_threshold_from_overrides() -> None:
    rules = only("human_request", {"human_request": {"params": {"threshold": 1}}})
    state = state_of([utt(0, 10, "agent please", human=("agent",))])
    assert [d.alert_key for d in fire(state, rules)] == ["human_request/v1"]


# ---- negative_streak -------------------------------------------------------------------------


def test_negative_streak_fires_on_n_consecutive_negative_utterances() -> None:
    rules = only("negative_streak")
    state = state_of([utt(i, 10 * i, sentiment=NEG) for i in range(3)])
    [decision] = fire(state, rules)
    assert decision.alert_key == "negative_streak/v1/customer:0"
    assert decision.evidence == ("customer:0", "customer:1", "customer:2")
    assert decision.at_ms == 20_000
    # The streak going on is the same occurrence.
    state.record_alert(decision)
    state.add_utterance(utt(3, 30, sentiment=NEG))
    assert fire(state, rules) == []


def test_negative_streak_broken_by_neutral_or_agent_does_not_fire() -> None:
    rules = only("negative_streak")
    state = state_of(
        [
            utt(0, 0, sentiment=NEG),
            utt(1, 10, sentiment=NEU),
            utt(2, 20, sentiment=NEG),
            utt(3, 30, sentiment=NEG),
            utt(0, 5, channel="agent", sentiment=NEG),
            utt(1, 15, channel="agent", sentiment=NEG),
            utt(4, 40, sentiment=None),  # not scored: neither counts nor breaks
        ]
    )
    assert fire(state, rules) == []


def test_negative_streak_uses_spoken_order_not_bad_timings() -> None:
    rules = only("negative_streak")
    state = state_of(
        [utt(0, 0, sentiment=NEG), utt(1, -99_999, sentiment=NEG), utt(2, 20, sentiment=NEG)]
    )
    [decision] = fire(state, rules)
    assert decision.evidence == ("customer:0", "customer:1", "customer:2")


def test_negative_streak_cooldown_suppresses_a_new_streak_soon_after() -> None:
    rules = only("negative_streak")  # cooldown 180 s
    soon = [utt(i, 10 * i, sentiment=NEG) for i in range(3)]
    soon += [utt(3, 30, sentiment=POS)]
    soon += [utt(i, 10 * i, sentiment=NEG) for i in range(4, 7)]  # second streak at 60 s
    state = state_of(soon)
    first = fire(state, rules)
    assert [d.alert_key for d in first] == ["negative_streak/v1/customer:0"]
    state.record_alert(first[0])
    assert fire(state, rules) == []  # still inside the cool-down
    # A streak well after the cool-down is a new alert.
    state.add_utterance(utt(7, 300, sentiment=POS))
    for i in range(8, 11):
        state.add_utterance(utt(i, 300 + 10 * i, sentiment=NEG))
    assert [d.alert_key for d in fire(state, rules)] == ["negative_streak/v1/customer:8"]


# ---- sentiment_drop --------------------------------------------------------------------------


def test_sentiment_drop_fires_when_the_customer_turns_negative() -> None:
    rules = only("sentiment_drop")
    state = state_of(
        [utt(i, 10 * i, sentiment=POS) for i in range(3)]
        + [utt(i, 10 * i, sentiment=NEG) for i in range(3, 6)]
    )
    decisions = fire(state, rules)
    # Two full windows are needed: the sixth utterance completes them.
    assert [d.alert_key for d in decisions] == ["sentiment_drop/v1/customer:5"]
    assert "dropped from +0.80" in decisions[0].reason
    # Going on declining is the same drop, not a new alert.
    state.record_alert(decisions[0])
    state.add_utterance(utt(6, 60, sentiment=NEG))
    assert fire(state, rules) == []


def test_sentiment_drop_not_fired_on_small_or_positive_changes() -> None:
    rules = only("sentiment_drop")
    mild = [utt(i, 10 * i, sentiment=("neutral", 0.1)) for i in range(3)]
    mild += [utt(i, 10 * i, sentiment=("negative", -0.4)) for i in range(3, 6)]
    assert fire(state_of(mild), rules) == []
    still_happy = [utt(i, 10 * i, sentiment=("positive", 1.0)) for i in range(3)]
    still_happy += [utt(i, 10 * i, sentiment=("positive", 0.1)) for i in range(3, 6)]
    assert fire(state_of(still_happy), rules) == []  # a drop that stays positive
    assert fire(state_of([utt(0, 0, sentiment=POS), utt(1, 5, sentiment=NEG)]), rules) == []


# ---- shouting --------------------------------------------------------------------------------


def test_shouting_loud_and_negative() -> None:
    rules = only("shouting")
    state = state_of([utt(0, 0, sentiment=NEG, dbfs=-6.0)])
    [decision] = fire(state, rules)
    assert decision.alert_key == "shouting/v1/customer:0"
    assert decision.severity == "critical"
    assert "-6 dBFS" in decision.reason


def test_shouting_relative_to_the_speakers_own_level() -> None:
    rules = only("shouting")
    calm = [utt(i, 10 * i, dbfs=-32.0) for i in range(3)]
    state = state_of([*calm, utt(3, 30, sentiment=NEG, dbfs=-20.0)])  # 12 dB over the usual
    [decision] = fire(state, rules)
    assert decision.evidence == ("customer:3",)
    assert "+12 dB over usual" in decision.reason


@pytest.mark.parametrize(
    ("sentiment", "dbfs"),
    [
        (POS, -5.0),  # loud but happy
        (NEG, -30.0),  # negative but calm
        (NEG, 0.0),  # protobuf default: loudness unknown
        (NEG, None),
        (NEG, float("nan")),
    ],
)
def test_shouting_needs_both_loud_and_negative(sentiment: tuple[str, float], dbfs: float) -> None:
    assert fire(state_of([utt(0, 0, sentiment=sentiment, dbfs=dbfs)]), only("shouting")) == []


def test_shouting_on_agent_channel_not_watched_by_default() -> None:
    state = state_of([utt(0, 0, channel="agent", sentiment=NEG, dbfs=-5.0)])
    assert fire(state, only("shouting")) == []


def test_shouting_cooldown() -> None:
    rules = only("shouting")  # cooldown 120 s
    state = state_of(
        [
            utt(0, 0, sentiment=NEG, dbfs=-5.0),
            utt(1, 30, sentiment=NEG, dbfs=-5.0),  # 30 s later: suppressed
            utt(2, 200, sentiment=NEG, dbfs=-5.0),  # after the cool-down
        ]
    )
    decisions = fire(state, rules)
    assert [d.alert_key for d in decisions] == ["shouting/v1/customer:0", "shouting/v1/customer:2"]
    for d in decisions:
        state.record_alert(d)
    assert fire(state, rules) == []


# ---- long_silence ----------------------------------------------------------------------------


def test_long_silence_between_utterances() -> None:
    rules = only("long_silence")
    state = state_of([utt(0, 0, channel="agent"), utt(0, 42)])  # 2 s .. 42 s: 40 s of silence
    [decision] = fire(state, rules)
    assert decision.alert_key == "long_silence/v1/2000"
    assert decision.at_ms == 32_000  # when it became long
    assert decision.evidence == ("agent:0", "customer:0")
    assert decision.severity == "info"
    assert decision.reason == "Silence of 0:40 (from 0:02)"


def test_short_pauses_are_not_long_silences() -> None:
    state = state_of([utt(0, 0, channel="agent"), utt(0, 22), utt(1, 45, channel="agent")])
    assert fire(state, only("long_silence")) == []


def test_long_silence_still_going_on_uses_now_with_grace() -> None:
    rules = only("long_silence")
    state = state_of([utt(0, 0, channel="agent")])
    assert fire(state, rules, now_ms=30_000) == []  # 28 s minus 5 s of transcript lag
    [open_gap] = fire(state, rules, now_ms=40_000)
    assert open_gap.alert_key == "long_silence/v1/2000"
    state.record_alert(open_gap)
    # The silence ends: the same gap, the same key, no second alert.
    state.add_utterance(utt(0, 60))
    assert fire(state, rules, now_ms=62_000) == []


def test_long_silence_during_a_known_hold_is_not_dead_air() -> None:
    rules = only("long_silence")
    state = state_of([utt(0, 0, channel="agent"), utt(0, 62)])
    state.add_hold(5_000, 58_000)
    assert fire(state, rules) == []
    with_hold = only("long_silence", {"long_silence": {"params": {"include_hold": True}}})
    assert len(fire(state, with_hold)) == 1


def test_absurd_timings_raise_no_bogus_silence() -> None:
    rules = only("long_silence")
    state = state_of(
        [
            utt(0, 0, channel="agent"),
            utt(0, 10 * 3600, duration_s=2),  # ten hours later
            utt(1, 5, duration_s=4 * 3600),  # four-hour utterance
            utt(2, 8, duration_s=-3),  # ends before it starts
        ]
    )
    assert fire(state, rules) == []
    assert fire(state, rules, now_ms=-5) == []


# ---- legal_threat (keyword) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("fr", "Je vais contacter mon avocat."),
        ("en", "I'm calling my lawyer."),
        ("ru", "Я подам в суд."),
        ("zh", "我要找律师。"),
    ],
)
def test_legal_threat_from_customer(language: str, text: str) -> None:
    state = state_of([utt(0, 5, text, language=language)])
    [decision] = fire(state, only("legal_threat"))
    assert decision.alert_key == "legal_threat/v1/customer:0"
    assert decision.reason.startswith("Legal threat: ")
    assert decision.severity == "critical"


def test_legal_threat_not_fired_for_agent_or_plain_text() -> None:
    state = state_of(
        [
            utt(0, 5, "Our lawyers reviewed the contract.", channel="agent"),
            utt(0, 9, "I would like to pay my bill"),
        ]
    )
    assert fire(state, only("legal_threat")) == []


def test_legal_threat_cooldown() -> None:
    state = state_of([utt(0, 5, "my lawyer"), utt(1, 60, "my lawyer again")])
    assert [d.evidence for d in fire(state, only("legal_threat"))] == [("customer:0",)]


# ---- flagged_category ------------------------------------------------------------------------


def test_flagged_category_once_per_category() -> None:
    rules = only("flagged_category", flagged_categories={"cancel"})
    state = state_of(
        [
            utt(0, 5, categories=("billing_dispute",)),
            utt(1, 15, categories=("cancel", "billing_dispute")),
            utt(2, 25, categories=("cancel",)),
        ]
    )
    [decision] = fire(state, rules)
    assert decision.alert_key == "flagged_category/v1/cancel"
    assert decision.evidence == ("customer:1",)
    assert decision.at_ms == 15_000


def test_flagged_category_not_fired_for_unflagged_or_agent() -> None:
    rules = only("flagged_category", flagged_categories={"cancel"})
    state = state_of(
        [
            utt(0, 5, categories=("payment",)),
            utt(0, 8, channel="agent", categories=("cancel",)),
        ]
    )
    assert fire(state, rules) == []


def test_flagged_category_listed_in_rule_params() -> None:
    rules = only("flagged_category", {"flagged_category": {"params": {"categories": ["payment"]}}})
    state = state_of([utt(0, 5, categories=("payment",))])
    assert [d.alert_key for d in fire(state, rules)] == ["flagged_category/v1/payment"]


# ---- idempotency -----------------------------------------------------------------------------


def _busy_call() -> list[UtteranceRecord]:
    return [
        utt(0, 0, "Hello, how can I help?", channel="agent", sentiment=POS),
        utt(0, 3, "This is unacceptable", sentiment=NEG, dbfs=-6.0),
        utt(1, 10, "I want an agent, a manager", sentiment=NEG, human=("agent", "manager")),
        utt(2, 20, "I'm calling my lawyer", sentiment=NEG, categories=("cancel",)),
        utt(3, 30, "Get me a supervisor", sentiment=NEG, human=("supervisor",)),
        utt(1, 90, "I'm back", channel="agent"),
    ]


def test_redelivery_never_repeats_an_alert() -> None:
    rules = RuleSet.load(flagged_categories={"cancel"})
    state = state_of(_busy_call())
    decisions = evaluate(state, state.last_end_ms(), rules)
    assert {d.rule for d in decisions} == {
        "human_request",
        "negative_streak",
        "shouting",
        "long_silence",
        "legal_threat",
        "flagged_category",
    }
    for d in decisions:
        state.record_alert(d)
    for u in _busy_call():  # the whole transcript again
        assert state.add_utterance(u) == "duplicate"
    assert evaluate(state, state.last_end_ms(), rules) == []


def test_alert_keys_are_stable_across_evaluations_and_restarts() -> None:
    rules = RuleSet.load(flagged_categories={"cancel"})
    first = evaluate(state_of(_busy_call()), 95_000, rules)
    again = evaluate(state_of(reversed(_busy_call())), 95_000, rules)  # another arrival order
    assert [d.alert_key for d in first] == [d.alert_key for d in again]
    assert first == again
    # After a restart the state is rebuilt from analyzer.alerts (alert_key, kind, at_ms).
    rebuilt = state_of(_busy_call())
    for d in first:
        assert rebuilt.restore_alert(d.alert_key, d.rule, d.at_ms)
    assert not rebuilt.restore_alert(first[0].alert_key, first[0].rule, first[0].at_ms)
    assert evaluate(rebuilt, 95_000, rules) == []


def test_versions_are_judged_separately() -> None:
    rules = only("legal_threat")
    state = state_of([utt(0, 5, "my lawyer"), utt(0, 5, "my lawyer", version=2)])
    [live] = evaluate(state, None, rules, version=1)
    state.record_alert(live)
    [post_call] = evaluate(state, None, rules)  # default: the latest version
    assert post_call.alert_key == "legal_threat/v2/customer:0"
    assert post_call.version == 2


# ---- configuration ---------------------------------------------------------------------------


def test_packaged_rules_load_with_all_rule_types() -> None:
    rules = default_rules()
    assert [r.name for r in rules.rules] == [
        "human_request",
        "negative_streak",
        "sentiment_drop",
        "shouting",
        "long_silence",
        "legal_threat",
        "flagged_category",
    ]
    for rule in rules.rules:
        assert rule.enabled
        assert rule.severity in ("info", "warning", "critical")


def test_overrides_merge_params_and_keep_the_rest() -> None:
    rules = RuleSet.load(
        overrides={
            "shouting": {"severity": "warning", "params": {"min_dbfs": -12}},
            "sentiment_drop": {"enabled": False},
        }
    )
    shouting = rules.get("shouting")
    assert shouting is not None
    assert shouting.severity == "warning"
    assert shouting.params["min_dbfs"] == -12
    assert shouting.params["above_baseline_db"] == 10.0  # untouched
    assert shouting.cooldown_ms == 120_000
    drop = rules.get("sentiment_drop")
    assert drop is not None and not drop.enabled


def test_a_disabled_rule_never_fires() -> None:
    rules = RuleSet.load(overrides={"legal_threat": {"enabled": False}})
    assert evaluate(state_of([utt(0, 5, "my lawyer")]), None, rules) == []


def test_new_rule_of_an_existing_type_needs_no_code() -> None:
    rules = only(
        "irritants",
        {
            "irritants": {
                "type": "keyword",
                "severity": "info",
                "title": "Irritant",
                "params": {"kind": "irritant"},
            }
        },
    )
    [decision] = fire(state_of([utt(0, 5, "this is unacceptable")]), rules)
    assert decision.alert_key == "irritants/v1/customer:0"
    assert decision.reason == 'Irritant: "unacceptable"'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shouting": {"params": {"min_dbfs": "loud"}}}, "rule 'shouting': params.min_dbfs must"),
        ({"shouting": {"params": {"volume": 3}}}, "rule 'shouting': unknown param 'volume'"),
        ({"shouting": {"colour": "red"}}, "rule 'shouting': unknown key(s) ['colour']"),
        ({"shouting": {"severity": "panic"}}, "rule 'shouting': severity must be one of"),
        ({"shouting": {"cooldown_ms": -1}}, "rule 'shouting': cooldown_ms must be"),
        ({"shouting": {"enabled": "yes"}}, "rule 'shouting': enabled must be true or false"),
        ({"negative_streak": {"params": {"count": 0}}}, "params.count must be >= 1"),
        ({"legal_threat": {"params": {"channels": ["bot"]}}}, "unknown channel(s) ['bot']"),
        ({"nonsense": {"enabled": True}}, "rule 'nonsense': unknown rule"),
        ({"x": {"type": "telepathy"}}, "rule 'x': unknown type 'telepathy'"),
        ({"shouting": 5}, "rule 'shouting': override must be a mapping"),
    ],
)
def test_bad_overrides_name_the_rule_and_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleConfigError, match=re.escape(message)):
        RuleSet.load(overrides=overrides)


def test_all_config_errors_are_reported_at_once() -> None:
    with pytest.raises(RuleConfigError) as caught:
        RuleSet.load(
            overrides={
                "shouting": {"params": {"min_dbfs": None}},
                "long_silence": {"params": {"min_ms": 0}},
            }
        )
    assert len(caught.value.errors) == 2


def test_config_without_rules_is_rejected() -> None:
    with pytest.raises(RuleConfigError, match="expected a mapping under 'rules'"):
        RuleSet.from_mapping({"version": 1})
