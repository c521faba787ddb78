"""Supervisor alert rules over the state of one call (pure: no I/O, no clock).

The rules and their settings come from ``data/alert_rules.yaml``, merged with overrides (a dict,
e.g. from the database). Each rule has ``type`` (the implementation, defaults to its name),
``enabled``, ``severity`` (info|warning|critical), ``cooldown_ms``, ``title`` and ``params``.
Rule types:

* ``human_request``: repeated requests for a human, via :func:`escalation.decide_escalation`.
* ``negative_streak``: ``count`` consecutive negative utterances of a channel.
* ``sentiment_drop``: the mean sentiment of the last ``window`` utterances is ``min_drop`` below
  the ``window`` before and at most ``max_current``.
* ``shouting``: a negative utterance whose loudness is ``min_dbfs`` or more, or
  ``above_baseline_db`` over the median of the speaker's earlier utterances.
* ``long_silence``: nobody spoke for ``min_ms`` (between utterances, or since the last one).
* ``keyword``: an utterance with a keyword of kind ``kind`` (``legal_threat`` is one).
* ``flagged_category``: a category flagged in categories.yaml or listed in ``categories``.

Idempotency and flood control:

* :meth:`CallState.add_utterance` keys utterances by (channel, utterance_no, version): a
  redelivery replaces, never adds, so nothing is counted twice.
* Every alert has a stable ``alert_key`` = ``<rule>/v<version>[/<occurrence>]``, where the
  occurrence comes from the data only (the first utterance of a streak, the start of a silence,
  the category…). Re-evaluating the same data yields the same keys; keys already in
  ``CallState.alerts`` are never returned again. ``human_request`` fires once per call and version
  with key ``human_request/v<version>``, the key the analyzer used before this module.
* Cool-down: an occurrence closer than ``cooldown_ms`` (in call time, so a replay decides alike)
  to an alert of the same rule and version is suppressed, before or after it.

:func:`evaluate` does not change the state: record what was published with
:meth:`CallState.record_alert`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml

from .conversation import (
    CHANNELS,
    MAX_CALL_MS,
    ConversationMetrics,
    Span,
    Turn,
    conversation_metrics,
    count_words,
    valid_dbfs,
)
from .escalation import HumanRequest, decide_escalation

ALERT_RULES_DATA: Traversable = resources.files("callscope_analyzer") / "data" / "alert_rules.yaml"

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

AddResult = Literal["added", "updated", "duplicate", "rejected"]


# ---- per-call state ------------------------------------------------------------------------


@dataclass(frozen=True)
class UtteranceRecord:
    """One analysed final utterance, as the rules and the summary need it."""

    channel: str  # agent | customer
    utterance_no: int
    version: int
    start_ms: int
    end_ms: int
    text: str
    language: str = ""
    word_count: int | None = None  # None: counted from the text
    rms_dbfs: float | None = None  # None/0.0: unknown (protobuf default)
    sentiment_score: float | None = None  # None: not scored
    sentiment_label: str | None = None
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    human_requests: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """ "customer:12": the evidence key, shared by all versions of the utterance."""
        return f"{self.channel}:{self.utterance_no}"

    @property
    def at_ms(self) -> int:
        """Start clamped into [0, MAX_CALL_MS]: an absurd timing never yields an absurd alert."""
        try:
            return min(max(0, int(self.start_ms)), MAX_CALL_MS)
        except (TypeError, ValueError, OverflowError):
            return 0

    @property
    def words(self) -> int:
        return self.word_count if self.word_count is not None else count_words(self.text)

    def turn(self) -> Turn:
        return Turn(
            channel=self.channel,
            utterance_no=self.utterance_no,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            word_count=self.words,
            rms_dbfs=self.rms_dbfs,
            version=self.version,
        )


@dataclass(frozen=True)
class RaisedAlert:
    alert_key: str
    rule: str
    at_ms: int
    version: int


@dataclass(frozen=True)
class AlertDecision:
    rule: str
    severity: str  # info | warning | critical
    reason: str
    evidence: tuple[str, ...]  # utterance keys ("customer:12"), in time order
    at_ms: int  # position in the call
    alert_key: str  # stable per (rule, version, occurrence); derive the alert id from it
    version: int = 1


class CallState:
    """Everything the rules and the summary know about one call; safe to rebuild from storage.

    A transcript for a call the analyzer never saw start is fine: create the state on first use.
    """

    def __init__(self, call_id: str = "") -> None:
        self.call_id = call_id
        self.utterances: dict[tuple[str, int, int], UtteranceRecord] = {}
        self.alerts: dict[str, RaisedAlert] = {}
        self.holds: set[tuple[int, int]] = set()
        self.rejected: list[tuple[str, str]] = []  # (utterance key, reason), for logs/metrics

    def add_utterance(self, utterance: UtteranceRecord) -> AddResult:
        """Store an utterance; idempotent by (channel, utterance_no, version).

        A redelivery with identical content is a ``duplicate``; a changed record replaces the old
        one (``updated``, as the database upsert does). Rejected (never stored): unknown channel,
        negative utterance number or version, empty text.
        """
        reason = _rejection(utterance)
        if reason is not None:
            self.rejected.append((f"{utterance.channel}:{utterance.utterance_no}", reason))
            return "rejected"
        key = (utterance.channel, int(utterance.utterance_no), int(utterance.version))
        known = self.utterances.get(key)
        if known == utterance:
            return "duplicate"
        self.utterances[key] = utterance
        return "added" if known is None else "updated"

    def add_hold(self, start_ms: int, end_ms: int) -> bool:
        """A hold or recording pause (e.g. RecordingPaused at_ms .. + gap_ms); idempotent."""
        try:
            span = (int(start_ms), int(end_ms))
        except (TypeError, ValueError, OverflowError):
            return False
        if span[1] <= span[0] or span[1] <= 0 or span[0] > MAX_CALL_MS or span in self.holds:
            return False
        self.holds.add(span)
        return True

    def record_alert(self, decision: AlertDecision) -> bool:
        """Remember a published alert (for de-duplication and cool-down); False if known."""
        return self.restore_alert(decision.alert_key, decision.rule, decision.at_ms)

    def restore_alert(self, alert_key: str, rule: str, at_ms: int) -> bool:
        """:meth:`record_alert` from stored columns (analyzer.alerts: alert_key, kind, at_ms)."""
        if not alert_key or alert_key in self.alerts:
            return False
        self.alerts[alert_key] = RaisedAlert(alert_key, rule, int(at_ms), _key_version(alert_key))
        return True

    def versions(self) -> list[int]:
        return sorted({version for _, _, version in self.utterances})

    def latest_version(self) -> int | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def timeline(self, version: int | None = None) -> list[UtteranceRecord]:
        """Utterances of one version (default: the latest) by start time."""
        wanted = self.latest_version() if version is None else version
        rows = [u for (_, _, v), u in self.utterances.items() if v == wanted]
        return sorted(rows, key=lambda u: (u.at_ms, u.channel, u.utterance_no))

    def channel_sequence(self, channel: str, version: int | None = None) -> list[UtteranceRecord]:
        """One channel's utterances in spoken order (utterance_no: immune to bad timings)."""
        rows = [u for u in self.timeline(version) if u.channel == channel]
        return sorted(rows, key=lambda u: u.utterance_no)

    def utterance(self, key: str, version: int | None = None) -> UtteranceRecord | None:
        """Look up an evidence key ("customer:12")."""
        channel, _, number = key.partition(":")
        wanted = self.latest_version() if version is None else version
        try:
            return self.utterances.get((channel, int(number), wanted or 0))
        except ValueError:
            return None

    def last_end_ms(self, version: int | None = None) -> int:
        """End of the latest plausible speech: a safe ``now_ms`` for :func:`evaluate`."""
        return self.metrics(version).last_speech_end_ms

    def metrics(
        self, version: int | None = None, *, duration_ms: int | None = None, **options: Any
    ) -> ConversationMetrics:
        return conversation_metrics(
            [u.turn() for u in self.timeline(version)],
            duration_ms=duration_ms,
            holds=[Span(a, b) for a, b in sorted(self.holds)],
            version=self.latest_version() if version is None else version,
            **options,
        )


def _rejection(utterance: UtteranceRecord) -> str | None:
    if utterance.channel not in CHANNELS:
        return "unknown_channel"
    try:
        if int(utterance.utterance_no) < 0:
            return "negative_utterance_no"
        if int(utterance.version) < 0:
            return "negative_version"
    except (TypeError, ValueError):
        return "bad_key"
    if not (utterance.text or "").strip():
        return "empty_text"
    return None


def _key_version(alert_key: str) -> int:
    parts = alert_key.split("/")
    if len(parts) > 1 and parts[1].startswith("v") and parts[1][1:].isdigit():
        return int(parts[1][1:])
    return 0


# ---- configuration ---------------------------------------------------------------------------


class RuleConfigError(ValueError):
    """Invalid alert rule configuration; ``errors`` names each rule and key."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


_ParamKind = Literal[
    "int", "int_or_null", "number", "number_or_null", "bool", "str", "channels", "str_list"
]

# Parameters of each rule type: name -> (kind, default). Defaults apply when the YAML omits one.
PARAM_SCHEMAS: dict[str, dict[str, tuple[_ParamKind, object]]] = {
    "human_request": {"threshold": ("int", 2), "window_ms": ("int_or_null", None)},
    "negative_streak": {
        "count": ("int", 3),
        "max_score": ("number", -0.2),
        "channels": ("channels", ["customer"]),
    },
    "sentiment_drop": {
        "window": ("int", 3),
        "min_drop": ("number", 0.8),
        "max_current": ("number", 0.0),
        "channels": ("channels", ["customer"]),
    },
    "shouting": {
        "min_dbfs": ("number", -10.0),
        "above_baseline_db": ("number_or_null", 10.0),
        "baseline_min_utterances": ("int", 3),
        "max_score": ("number", -0.2),
        "channels": ("channels", ["customer"]),
    },
    "long_silence": {
        "min_ms": ("int", 30_000),
        "max_ms": ("int", 2 * 3_600_000),
        "include_open": ("bool", True),
        "open_grace_ms": ("int", 5_000),
        "include_hold": ("bool", False),
    },
    "keyword": {"kind": ("str", "legal_threat"), "channels": ("channels", ["customer"])},
    "flagged_category": {
        "categories": ("str_list", []),
        "use_category_flags": ("bool", True),
        "channels": ("channels", ["customer"]),
    },
}
# Minimum value of integer parameters (a count of 0 would alert on nothing said).
_INT_MIN: dict[str, int] = {
    "threshold": 1,
    "count": 1,
    "window": 1,
    "baseline_min_utterances": 1,
    "min_ms": 1,
}
_RULE_KEYS = {"type", "enabled", "severity", "cooldown_ms", "title", "params"}


@dataclass(frozen=True)
class RuleConfig:
    name: str
    type: str
    enabled: bool
    severity: str
    cooldown_ms: int
    title: str
    params: Mapping[str, Any]


def _check_param(rule: str, name: str, kind: _ParamKind, value: object) -> str | None:
    where = f"rule {rule!r}: params.{name}"
    if kind in ("int", "int_or_null"):
        if value is None and kind == "int_or_null":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{where} must be an integer, got {value!r}"
        minimum = _INT_MIN.get(name, 0)
        if value < minimum:
            return f"{where} must be >= {minimum}, got {value}"
    elif kind in ("number", "number_or_null"):
        if value is None and kind == "number_or_null":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{where} must be a number, got {value!r}"
        if not math.isfinite(value):
            return f"{where} must be a number, got {value!r}"
    elif kind == "bool":
        if not isinstance(value, bool):
            return f"{where} must be true or false, got {value!r}"
    elif kind == "str":
        if not isinstance(value, str) or not value:
            return f"{where} must be a non-empty string, got {value!r}"
    elif kind in ("str_list", "channels"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"{where} must be a list of strings, got {value!r}"
        if kind == "channels" and (bad := [v for v in value if v not in CHANNELS]):
            return f"{where}: unknown channel(s) {bad} (expected {list(CHANNELS)})"
    return None


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key == "params" and isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = {**base[key], **value}  # a param override keeps the other params
        else:
            merged[key] = value
    return merged


def _build(name: str, raw: object, errors: list[str]) -> RuleConfig | None:
    if not isinstance(raw, Mapping):
        errors.append(f"rule {name!r}: expected a mapping, got {raw!r}")
        return None
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        errors.append(f"rule {name!r}: unknown key(s) {unknown} (expected {sorted(_RULE_KEYS)})")
    rule_type = raw.get("type", name)
    if rule_type not in PARAM_SCHEMAS:
        errors.append(
            f"rule {name!r}: unknown type {rule_type!r} (expected one of {sorted(PARAM_SCHEMAS)})"
        )
        return None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(f"rule {name!r}: enabled must be true or false, got {enabled!r}")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        errors.append(
            f"rule {name!r}: severity must be one of {list(SEVERITIES)}, got {severity!r}"
        )
    cooldown = raw.get("cooldown_ms", 0)
    if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
        errors.append(f"rule {name!r}: cooldown_ms must be an integer >= 0, got {cooldown!r}")
    title = raw.get("title", name.replace("_", " ").capitalize())
    if not isinstance(title, str):
        errors.append(f"rule {name!r}: title must be a string, got {title!r}")
    given = raw.get("params") or {}
    if not isinstance(given, Mapping):
        errors.append(f"rule {name!r}: params must be a mapping, got {given!r}")
        given = {}
    schema = PARAM_SCHEMAS[rule_type]
    for key in sorted(set(given) - set(schema)):
        errors.append(f"rule {name!r}: unknown param {key!r} (expected {sorted(schema)})")
    params: dict[str, Any] = {}
    for key, (kind, default) in schema.items():
        value = given.get(key, default)
        problem = _check_param(name, key, kind, value)
        if problem:
            errors.append(problem)
        params[key] = value
    return RuleConfig(
        name=name,
        type=str(rule_type),
        enabled=bool(enabled),
        severity=str(severity),
        cooldown_ms=cooldown if isinstance(cooldown, int) else 0,
        title=str(title),
        params=params,
    )


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[RuleConfig, ...]
    flagged_categories: frozenset[str] = frozenset()

    def get(self, name: str) -> RuleConfig | None:
        return next((r for r in self.rules if r.name == name), None)

    @classmethod
    def load(
        cls,
        source: Path | Traversable = ALERT_RULES_DATA,
        overrides: Mapping[str, Any] | None = None,
        *,
        flagged_categories: Iterable[str] = (),
    ) -> RuleSet:
        """The YAML rules with ``overrides`` ({rule: {key: value, params: {...}}}) merged in.

        ``flagged_categories``: :attr:`CategoryModel.flagged`, used by ``flagged_category``.
        Raises :class:`RuleConfigError` naming every bad rule and key.
        """
        doc = yaml.safe_load(source.read_bytes())
        return cls.from_mapping(doc, overrides, flagged_categories=flagged_categories)

    @classmethod
    def from_mapping(
        cls,
        doc: object,
        overrides: Mapping[str, Any] | None = None,
        *,
        flagged_categories: Iterable[str] = (),
    ) -> RuleSet:
        base = doc.get("rules") if isinstance(doc, Mapping) else None
        if not isinstance(base, Mapping):
            raise RuleConfigError(["alert rules: expected a mapping under 'rules'"])
        errors: list[str] = []
        merged: dict[str, Any] = {str(k): v for k, v in base.items()}
        if overrides is not None and not isinstance(overrides, Mapping):
            raise RuleConfigError([f"overrides: expected a mapping, got {overrides!r}"])
        for name, override in (overrides or {}).items():
            if not isinstance(override, Mapping):
                errors.append(f"rule {name!r}: override must be a mapping, got {override!r}")
            elif name in merged and isinstance(merged[name], Mapping):
                merged[name] = _merge(merged[name], override)
            elif "type" in override:
                merged[str(name)] = dict(override)  # a new rule of an existing type
            else:
                errors.append(f"rule {name!r}: unknown rule (a new rule needs a 'type')")
        rules = [rule for name, raw in merged.items() if (rule := _build(name, raw, errors))]
        if errors:
            raise RuleConfigError(errors)
        return cls(tuple(rules), frozenset(flagged_categories))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    return RuleSet.load()


# ---- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Occurrence:
    suffix: str  # "" for once-per-call rules
    at_ms: int
    reason: str
    evidence: tuple[str, ...]


_RuleFn = Callable[[CallState, RuleConfig, RuleSet, int, int | None], list[_Occurrence]]


def _is_negative(u: UtteranceRecord, max_score: float) -> bool:
    return (
        u.sentiment_label == "negative"
        and u.sentiment_score is not None
        and u.sentiment_score <= max_score
    )


def _human_request(
    state: CallState, rule: RuleConfig, rules: RuleSet, version: int, now_ms: int | None
) -> list[_Occurrence]:
    requests = [
        HumanRequest(u.key, u.at_ms, u.text, tuple(u.human_requests))
        for u in state.channel_sequence("customer", version)
        if u.human_requests
    ]
    decision = decide_escalation(
        requests, threshold=rule.params["threshold"], window_ms=rule.params["window_ms"]
    )
    if decision is None:
        return []
    keys = tuple(r.utterance_key for r in decision.evidence)
    return [_Occurrence("", decision.at_ms, decision.reason, keys)]


def _negative_streak(
    state: CallState, rule: RuleConfig, rules: RuleSet, version: int, now_ms: int | None
) -> list[_Occurrence]:
    count, max_score = rule.params["count"], rule.params["max_score"]
    found: list[_Occurrence] = []
    for channel in rule.params["channels"]:
        streak: list[UtteranceRecord] = []
        for u in state.channel_sequence(channel, version):
            if u.sentiment_label is None or u.sentiment_score is None:
                continue  # not scored: says nothing either way
            if not _is_negative(u, max_score):
                streak = []
                continue
            streak.append(u)
            if len(streak) == count:  # once per streak: a longer streak is the same occurrence
                evidence = tuple(x.key for x in streak)
                found.append(
                    _Occurrence(
                        streak[0].key,
                        u.at_ms,
                        f"{count} negative {channel} utterances in a row",
                        evidence,
                    )
                )
    return found


def _sentiment_drop(
    state: CallState, rule: RuleConfig, rules: RuleSet, version: int, now_ms: int | None
) -> list[_Occurrence]:
    window, min_drop = rule.params["window"], rule.params["min_drop"]
    found: list[_Occurrence] = []
    for channel in rule.params["channels"]:
        scored = [
            u for u in state.channel_sequence(channel, version) if u.sentiment_score is not None
        ]
        armed = True
        for end in range(2 * window, len(scored) + 1):
            before = scored[end - 2 * window : end - window]
            after = scored[end - window : end]
            previous = sum(u.sentiment_score or 0.0 for u in before) / window
            current = sum(u.sentiment_score or 0.0 for u in after) / window
            drop = previous - current
            if armed and drop >= min_drop and current <= rule.params["max_current"]:
                last = after[-1]
                found.append(
                    _Occurrence(
                        last.key,
                        last.at_ms,
                        f"{channel.capitalize()} sentiment dropped from {previous:+.2f} to "
                        f"{current:+.2f} over the last {window} utterances",
                        tuple(u.key for u in [*before, *after]),
                    )
                )
                armed = False
            elif not armed and drop < min_drop / 2:
                # Hysteresis: one decline spans several windows; only a recovery re-arms,
                # otherwise every further utterance of the same decline would be a new alert.
                armed = True
    return found


def _shouting(
    state: CallState, rule: RuleConfig, rules: RuleSet, version: int, now_ms: int | None
) -> list[_Occurrence]:
    p = rule.params
    found: list[_Occurrence] = []
    for channel in p["channels"]:
        earlier: list[float] = []
        for u in state.channel_sequence(channel, version):
            level = valid_dbfs(u.rms_dbfs)
            if level is None:
                continue
            # Baseline from earlier utterances only: later ones must not change past verdicts.
            baseline = (
                statistics.median(earlier) if len(earlier) >= p["baseline_min_utterances"] else None
            )
            earlier.append(level)
            loud = level >= p["min_dbfs"] or (
                p["above_baseline_db"] is not None
                and baseline is not None
                and level >= baseline + p["above_baseline_db"]
            )
            if loud and _is_negative(u, p["max_score"]):
                relative = "" if baseline is None else f", {level - baseline:+.0f} dB over usual"
                found.append(
                    _Occurrence(
                        u.key,
                        u.at_ms,
                        f"{channel.capitalize()} raised their voice ({level:.0f} dBFS{relative}) "
                        "and is negative",
                        (u.key,),
                    )
                )
    return found


def _long_silence(
    state: CallState, rule: RuleConfig, rules: RuleSet, version: int, now_ms: int | None
) -> list[_Occurrence]:
    p = rule.params
    min_ms = p["min_ms"]
    metrics = state.metrics(version, long_silence_ms=min_ms)
    holds = [Span(a, b) for a, b in sorted(state.holds)]
    gaps: list[tuple[Span, bool]] = [(gap, False) for gap in metrics.long_silences]
    last_end = metrics.last_speech_end_ms
    if p["include_open"] and last_end and now_ms is not None and 0 <= now_ms <= MAX_CALL_MS:
        # The transcript lags the call: allow open_grace_ms before calling it silence.
        open_end = now_ms - p["open_grace_ms"]
        if open_end - last_end >= min_ms:
            gaps.append((Span(last_end, open_end), True))
    timeline = state.timeline(version)
    found: list[_Occurrence] = []
    for gap, is_open in gaps:
        if gap.duration_ms > p["max_ms"]:
            continue  # hours without a word: a timing error (or a forgotten line), not dead air
        on_hold = sum(
            max(0, min(gap.end_ms, h.end_ms) - max(gap.start_ms, h.start_ms)) for h in holds
        )
        if not p["include_hold"] and gap.duration_ms - on_hold < min_ms:
            continue  # mostly a known hold/pause: not dead air
        before = [u.key for u in timeline if u.end_ms == gap.start_ms]
        after = [u.key for u in timeline if u.start_ms == gap.end_ms and not is_open]
        length = _clock(gap.duration_ms)
        what = f"No one has spoken for {length}" if is_open else f"Silence of {length}"
        found.append(
            _Occurrence(
                str(gap.start_ms),
                gap.start_ms + min_ms,
                f"{what} (from {_clock(gap.start_ms)})",
                tuple(before[:1] + after[:1]),
            )
        )
    return found


def _keyword(
    state: CallState, rule: RuleConfig, rules: RuleSet, version: int, now_ms: int | None
) -> list[_Occurrence]:
    kind = rule.params["kind"]
    found: list[_Occurrence] = []
    for u in state.timeline(version):
        terms = tuple(u.keywords.get(kind, ()))
        if u.channel in rule.params["channels"] and terms:
            quoted = ", ".join(f'"{t}"' for t in terms)
            found.append(_Occurrence(u.key, u.at_ms, f"{rule.title}: {quoted}", (u.key,)))
    return found


def _flagged_category(
    state: CallState, rule: RuleConfig, rules: RuleSet, version: int, now_ms: int | None
) -> list[_Occurrence]:
    flagged = set(rule.params["categories"])
    if rule.params["use_category_flags"]:
        flagged |= rules.flagged_categories
    first: dict[str, UtteranceRecord] = {}
    for u in state.timeline(version):
        if u.channel not in rule.params["channels"]:
            continue
        for name in u.categories:
            if name in flagged and name not in first:
                first[name] = u
    return [
        _Occurrence(name, u.at_ms, f"{rule.title}: {name}", (u.key,)) for name, u in first.items()
    ]


RULE_TYPES: dict[str, _RuleFn] = {
    "human_request": _human_request,
    "negative_streak": _negative_streak,
    "sentiment_drop": _sentiment_drop,
    "shouting": _shouting,
    "long_silence": _long_silence,
    "keyword": _keyword,
    "flagged_category": _flagged_category,
}


def evaluate(
    state: CallState,
    now_ms: int | None = None,
    rules: RuleSet | None = None,
    *,
    version: int | None = None,
) -> list[AlertDecision]:
    """New alerts for the call, in call-time order; never one whose key is in ``state.alerts``.

    ``now_ms``: the current position in the call, used only for a silence still going on; pass
    ``state.last_end_ms()`` (or None) when the call clock is not known. ``version``: the
    transcript version to judge (default: the latest present).
    """
    rules = rules or default_rules()
    wanted = state.latest_version() if version is None else version
    if wanted is None:
        return []
    try:
        now = int(now_ms) if now_ms is not None else None
    except (TypeError, ValueError, OverflowError):
        now = None
    raised: list[tuple[str, int]] = [
        (a.rule, a.at_ms) for a in state.alerts.values() if a.version == wanted
    ]
    decisions: list[AlertDecision] = []
    for rule in rules.rules:
        if not rule.enabled:
            continue
        occurrences = RULE_TYPES[rule.type](state, rule, rules, wanted, now)
        for occurrence in sorted(occurrences, key=lambda o: (o.at_ms, o.suffix)):
            key = f"{rule.name}/v{wanted}" + (f"/{occurrence.suffix}" if occurrence.suffix else "")
            if key in state.alerts:
                continue
            if any(
                name == rule.name and abs(at - occurrence.at_ms) < rule.cooldown_ms
                for name, at in raised
            ):
                continue  # cool-down: the supervisor already knows
            raised.append((rule.name, occurrence.at_ms))
            decisions.append(
                AlertDecision(
                    rule=rule.name,
                    severity=rule.severity,
                    reason=occurrence.reason,
                    evidence=occurrence.evidence,
                    at_ms=occurrence.at_ms,
                    alert_key=key,
                    version=wanted,
                )
            )
    return sorted(decisions, key=lambda d: (d.at_ms, d.rule, d.alert_key))


def _clock(ms: int) -> str:
    """m:ss, the way a supervisor reads a call position or a duration."""
    seconds = max(0, ms) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"
