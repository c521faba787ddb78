"""End-of-call summary (CallEnded -> CallSummary): sentiment, trend, categories, metrics, QA score.

Definitions:

* Customer sentiment: the mean score (-1..+1) of the customer's scored utterances; label
  negative below -``label_threshold``, positive above +``label_threshold``, neutral otherwise.
  Every utterance weighs the same: a call is judged by what was said, not by who talked longest.
* Per quarter: the call is cut into four equal parts of ``duration_ms``; an utterance belongs to
  the quarter of its midpoint. A quarter where the customer said nothing is None, and so are
  utterances whose timing the metrics had to skip.
* Trend: last non-empty quarter minus the first; ``improving`` / ``worsening`` beyond
  ``trend_delta``, else ``stable``; ``unknown`` with fewer than two non-empty quarters.
* Categories: :func:`categories.call_categories` over the customer's utterances.
* QA score: config-driven scorecard (``data/qa_scorecard.yaml``, documented there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml

from .categories import call_categories
from .conversation import EXCLUDING_REASONS, ConversationMetrics
from .keywords import PhraseMatcher
from .rules import CallState, UtteranceRecord

QA_SCORECARD_DATA: Traversable = (
    resources.files("callscope_analyzer") / "data" / "qa_scorecard.yaml"
)

Trend = Literal["improving", "worsening", "stable", "unknown"]

LABEL_THRESHOLD = 0.2
TREND_DELTA = 0.3


class ScorecardConfigError(ValueError):
    """The scorecard YAML is malformed; the message names the component and key."""


# ---- scorecard -------------------------------------------------------------------------------

_CHECK_KEYS: dict[str, set[str]] = {
    "agent_phrases": {"where", "utterances", "phrases"},
    "talk_ratio": {"min", "max"},
    "no_long_silence": {"min_ms"},
    "max_overtalk": {"max_ratio"},
    "no_alerts": {"rules"},
}


@dataclass(frozen=True)
class Component:
    name: str
    check: str
    weight: float
    options: Mapping[str, Any]
    matcher: PhraseMatcher | None = None


@dataclass(frozen=True)
class Scorecard:
    components: tuple[Component, ...]

    @classmethod
    def load(cls, source: Path | Traversable = QA_SCORECARD_DATA) -> Scorecard:
        return cls.from_mapping(yaml.safe_load(source.read_bytes()), str(source))

    @classmethod
    def from_mapping(cls, doc: object, name: str = "scorecard") -> Scorecard:
        raw = doc.get("components") if isinstance(doc, Mapping) else None
        if not isinstance(raw, Mapping) or not raw:
            raise ScorecardConfigError(f"{name}: expected a mapping under 'components'")
        return cls(tuple(_component(str(k), v, name) for k, v in raw.items()))

    @property
    def long_silence_ms(self) -> int:
        """The silence length the scorecard judges by (metrics are computed with it)."""
        for component in self.components:
            if component.check == "no_long_silence":
                return int(component.options.get("min_ms", 30_000))
        return 30_000


def _number(value: object, where: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScorecardConfigError(f"{where} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScorecardConfigError(f"{where} must be >= {minimum}, got {value}")
    return float(value)


def _component(key: str, spec: object, name: str) -> Component:
    where = f"{name}: component {key!r}"
    if not isinstance(spec, Mapping):
        raise ScorecardConfigError(f"{where} must be a mapping")
    check = spec.get("check")
    if check not in _CHECK_KEYS:
        raise ScorecardConfigError(f"{where}: check must be one of {sorted(_CHECK_KEYS)}")
    unknown = set(spec) - {"check", "weight"} - _CHECK_KEYS[check]
    if unknown:
        raise ScorecardConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    weight = _number(spec.get("weight", 1), f"{where}: weight", minimum=0)
    options = {k: v for k, v in spec.items() if k not in ("check", "weight")}
    matcher = None
    if check == "agent_phrases":
        if options.get("where", "start") not in ("start", "end"):
            raise ScorecardConfigError(f"{where}: where must be 'start' or 'end'")
        _number(options.get("utterances", 3), f"{where}: utterances", minimum=1)
        phrases = options.get("phrases")
        if not isinstance(phrases, Mapping) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in phrases.values()
        ):
            raise ScorecardConfigError(f"{where}: phrases must map language -> list of strings")
        matcher = PhraseMatcher({str(k): v for k, v in phrases.items()})
    elif check == "talk_ratio":
        low = _number(options.get("min", 0.0), f"{where}: min", minimum=0)
        high = _number(options.get("max", 1.0), f"{where}: max", minimum=0)
        if low > high:
            raise ScorecardConfigError(f"{where}: min must not exceed max")
    elif check == "no_long_silence":
        _number(options.get("min_ms", 30_000), f"{where}: min_ms", minimum=1)
    elif check == "max_overtalk":
        _number(options.get("max_ratio", 0.05), f"{where}: max_ratio", minimum=0)
    elif check == "no_alerts":
        rules = options.get("rules")
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise ScorecardConfigError(f"{where}: rules must be a list of rule names")
    return Component(key, str(check), weight, options, matcher)


@lru_cache(maxsize=1)
def default_scorecard() -> Scorecard:
    return Scorecard.load()


# ---- summary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QaComponent:
    name: str
    weight: float
    passed: bool | None  # None: not applicable (left out of the score)
    detail: str


@dataclass(frozen=True)
class CallSummaryData:
    call_id: str
    version: int | None
    duration_ms: int
    customer_sentiment: float | None  # mean score, -1..+1; None: the customer said nothing scored
    customer_sentiment_label: str  # negative | neutral | positive
    customer_utterances: int
    sentiment_by_quarter: tuple[float | None, float | None, float | None, float | None]
    trend: Trend
    categories: tuple[str, ...]
    keyword_counts: dict[str, int]  # kind -> customer utterances with it
    metrics: ConversationMetrics
    alert_keys: tuple[str, ...]  # in call-time order
    qa_score: float | None  # 0-100; None when no component applies
    qa_components: tuple[QaComponent, ...]


def _label(score: float | None, threshold: float) -> str:
    if score is None or abs(score) < threshold:
        return "neutral"
    return "positive" if score > 0 else "negative"


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _quarters(
    scored: list[UtteranceRecord], duration_ms: int
) -> tuple[float | None, float | None, float | None, float | None]:
    buckets: list[list[float]] = [[], [], [], []]
    if duration_ms > 0:
        for u in scored:
            middle = min(max(0, (u.at_ms + int(u.end_ms)) // 2), duration_ms - 1)
            buckets[min(3, middle * 4 // duration_ms)].append(float(u.sentiment_score or 0.0))
    q = [_mean(b) for b in buckets]
    return (q[0], q[1], q[2], q[3])


def _trend(quarters: tuple[float | None, ...], delta: float) -> Trend:
    present = [q for q in quarters if q is not None]
    if len(present) < 2:
        return "unknown"
    change = present[-1] - present[0]
    if change >= delta:
        return "improving"
    if change <= -delta:
        return "worsening"
    return "stable"


@dataclass(frozen=True)
class LiveSentiment:
    """What the floor shows of a call in progress: the customer's overall sentiment so far
    (same definition as the summary's) and the call's categories."""

    score: float | None
    label: str
    categories: tuple[str, ...]


def live_sentiment(
    state: CallState, version: int | None = None, label_threshold: float = LABEL_THRESHOLD
) -> LiveSentiment:
    wanted = state.latest_version() if version is None else version
    timeline = state.timeline(wanted) if wanted is not None else []
    customer = [u for u in timeline if u.channel == "customer"]
    overall = _mean([float(u.sentiment_score) for u in customer if u.sentiment_score is not None])
    return LiveSentiment(
        overall,
        _label(overall, label_threshold),
        tuple(call_categories([u.categories for u in customer])),
    )


def summarize(
    state: CallState,
    duration_ms: int | None,
    *,
    scorecard: Scorecard | None = None,
    version: int | None = None,
    label_threshold: float = LABEL_THRESHOLD,
    trend_delta: float = TREND_DELTA,
) -> CallSummaryData:
    """Summary of a call. ``duration_ms`` from CallEnded; None, zero, negative or absurd values
    fall back to the end of the last utterance. ``version``: default the latest present."""
    scorecard = scorecard or default_scorecard()
    wanted = state.latest_version() if version is None else version
    metrics = state.metrics(
        wanted, duration_ms=duration_ms, long_silence_ms=scorecard.long_silence_ms
    )
    timeline = state.timeline(wanted) if wanted is not None else []
    customer = [u for u in timeline if u.channel == "customer"]
    scored = [u for u in customer if u.sentiment_score is not None]
    overall = _mean([float(u.sentiment_score or 0.0) for u in scored])
    # Utterances whose timing is unusable still count for the overall sentiment (what was said
    # is real), but cannot be placed in a quarter.
    misplaced = {x.key for x in metrics.skipped if x.reason in EXCLUDING_REASONS}
    quarters = _quarters([u for u in scored if u.key not in misplaced], metrics.duration_ms)
    keyword_counts: dict[str, int] = {}
    for u in customer:
        for kind, terms in u.keywords.items():
            if terms:
                keyword_counts[kind] = keyword_counts.get(kind, 0) + 1
    # Every alert raised on the call, whichever transcript version raised it: a summary of
    # the post-call transcript still lists what supervisors were alerted to during the call.
    alerts = sorted(state.alerts.values(), key=lambda a: (a.at_ms, a.alert_key))
    raised_rules = {a.rule for a in alerts}
    components = tuple(_judge(c, timeline, metrics, raised_rules) for c in scorecard.components)
    applicable = [c for c in components if c.passed is not None]
    total = sum(c.weight for c in applicable)
    qa_score = (
        round(100 * sum(c.weight for c in applicable if c.passed) / total, 1) if total else None
    )
    return CallSummaryData(
        call_id=state.call_id,
        version=wanted,
        duration_ms=metrics.duration_ms,
        customer_sentiment=overall,
        customer_sentiment_label=_label(overall, label_threshold),
        customer_utterances=len(customer),
        sentiment_by_quarter=quarters,
        trend=_trend(quarters, trend_delta),
        categories=tuple(call_categories([u.categories for u in customer])),
        keyword_counts=keyword_counts,
        metrics=metrics,
        alert_keys=tuple(a.alert_key for a in alerts),
        qa_score=qa_score,
        qa_components=components,
    )


def _judge(
    component: Component,
    timeline: list[UtteranceRecord],
    metrics: ConversationMetrics,
    raised_rules: set[str],
) -> QaComponent:
    o = component.options

    def result(passed: bool | None, detail: str) -> QaComponent:
        return QaComponent(component.name, component.weight, passed, detail)

    if component.check == "agent_phrases":
        agent = sorted((u for u in timeline if u.channel == "agent"), key=lambda u: u.utterance_no)
        if not agent:
            return result(None, "no agent transcript")
        count = int(o.get("utterances", 3))
        window = agent[:count] if o.get("where", "start") == "start" else agent[-count:]
        assert component.matcher is not None
        for u in window:
            found = component.matcher.find(u.text, u.language or None)
            if found:
                return result(True, f'"{found[0]}" in {u.key}')
        return result(False, f"none of the phrases in the agent's {o.get('where', 'start')}")
    if component.check == "talk_ratio":
        if metrics.talk_ratio is None:
            return result(None, "nobody spoke")
        low, high = float(o.get("min", 0.0)), float(o.get("max", 1.0))
        ok = low <= metrics.talk_ratio <= high
        return result(ok, f"agent talk share {metrics.talk_ratio:.2f} (bounds {low}-{high})")
    if component.check == "no_long_silence":
        if metrics.talk_ratio is None:
            return result(None, "nobody spoke")
        limit = int(o.get("min_ms", 30_000))
        long_ones = [s for s in metrics.long_silences if s.duration_ms >= limit]
        return result(not long_ones, f"{len(long_ones)} silence(s) of {limit // 1000} s or more")
    if component.check == "max_overtalk":
        talk = metrics.agent_talk_ms + metrics.customer_talk_ms
        if not talk:
            return result(None, "nobody spoke")
        ratio = metrics.overtalk_ms / talk
        limit = float(o.get("max_ratio", 0.05))
        return result(ratio <= limit, f"over-talk {ratio:.1%} of talk time (max {limit:.0%})")
    if component.check == "no_alerts":
        if metrics.talk_ratio is None:
            return result(None, "nobody spoke")  # an empty call is not a well-handled one
        hit = sorted(raised_rules & set(o.get("rules", [])))
        return result(not hit, f"raised: {', '.join(hit)}" if hit else "no escalation alert")
    return result(None, f"unknown check {component.check!r}")  # unreachable: validated on load
