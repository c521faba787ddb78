"""Conversation metrics from utterance timings: talk time, silence, hold, over-talk, rate, loudness.

All positions are milliseconds from the start of the call (the transcripts' ``start_ms`` /
``end_ms``). Definitions, chosen so that no input can count twice:

* Talk time of a channel: the union of its utterance spans (overlapping or repeated utterances
  of one channel count once). Duplicates of one key keep the last record, several versions of
  a transcript are never mixed (the highest version present is used unless one is asked for).
* Talk ratio: the agent's share of all talk time, 0..1 (0.5 = balanced); None if nobody spoke.
* Over-talk: time both channels speak at once; overlaps shorter than ``min_overtalk_ms`` are
  ignored because word-timing jitter and backchannels ("mm-hm") make short ones meaningless.
* Silence: time in [0, end of call] where nobody speaks, minus known hold / recording-pause
  spans (reported separately as hold time: music on hold or a paused recording is not dead air).
* Long silences: gaps *between* speech of at least ``long_silence_ms``. The leading gap (ringing,
  IVR) and the trailing one (hang-up) are not conversation and are left out.
* Speaking rate: words per minute of speaking time per channel, from utterances of at least one
  second. Chinese has no spaces: every CJK character counts as a word, so a Chinese "wpm" is
  characters per minute (~1.5-2x a word rate); compare rates within one language.
* Loudness: ``rms_dbfs`` per utterance; 0.0 (the protobuf default when unset), positive values,
  NaN or anything at or below -120 dBFS mean "unknown", never "very loud".

Absurd timings are skipped with a reason (see :class:`Skipped`) instead of raising: negative or
inverted spans, utterances longer than ``max_utterance_ms``, positions beyond ``max_call_ms``.
A start slightly below zero is clamped (clock offset between channels), and spans running past a
known call duration are cut at the end of the call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .text import normalize_text

CHANNELS: tuple[str, ...] = ("agent", "customer")

MAX_UTTERANCE_MS = 10 * 60_000  # one STT utterance is seconds long; ten minutes is a bad timing
MAX_CALL_MS = 12 * 3_600_000  # beyond half a day the timing is wrong, not the call
MIN_RATE_SPAN_MS = 1_000  # shorter utterances give meaningless rates
MAX_PLAUSIBLE_WPM = 600  # faster than any speaker: misaligned timings
MIN_VALID_DBFS = -120.0

# Skip reasons that take an utterance out of every timing metric (see Skipped).
EXCLUDING_REASONS = frozenset(
    {
        "unknown_channel",
        "invalid_time",
        "end_before_start",
        "negative_time",
        "too_long",
        "beyond_max_call",
        "after_call_end",
        "empty_span",
    }
)

_CJK_CHAR = re.compile(
    "[\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]"
)


def count_words(text: str) -> int:
    """Words of a transcript: space-separated tokens, plus one per CJK character."""
    normalized = normalize_text(text)
    cjk = len(_CJK_CHAR.findall(normalized))
    spaced = _CJK_CHAR.sub(" ", normalized).split()
    return cjk + len(spaced)


def valid_dbfs(value: float | None) -> float | None:
    """``value`` if it is a plausible RMS level in dBFS, else None (see the module docstring)."""
    if value is None:
        return None
    try:
        level = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(level) or level >= 0.0 or level <= MIN_VALID_DBFS:
        return None
    return level


@dataclass(frozen=True)
class Turn:
    """The timing facts of one utterance."""

    channel: str
    utterance_no: int
    start_ms: int
    end_ms: int
    word_count: int = 0
    rms_dbfs: float | None = None
    version: int = 1

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.utterance_no}"


@dataclass(frozen=True, order=True)
class Span:
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Skipped:
    """An utterance (or part of its use) left out of the metrics, and why.

    Reasons: ``unknown_channel``, ``invalid_time``, ``end_before_start``, ``negative_time``,
    ``too_long``, ``beyond_max_call``, ``after_call_end``, ``empty_span`` (excluded from every
    metric);
    ``clamped_start``, ``clamped_to_duration`` (kept, span cut); ``rate_implausible`` (kept,
    excluded from the speaking rate only).
    """

    key: str
    reason: str


@dataclass(frozen=True)
class ChannelMetrics:
    talk_ms: int = 0
    utterances: int = 0
    words: int = 0
    words_per_minute: float | None = None
    mean_dbfs: float | None = None
    max_dbfs: float | None = None


@dataclass(frozen=True)
class ConversationMetrics:
    duration_ms: int
    channels: dict[str, ChannelMetrics]
    talk_ratio: float | None
    silence_ms: int
    hold_ms: int
    overtalk_ms: int
    overtalk_spans: tuple[Span, ...]
    long_silences: tuple[Span, ...]
    loudness: dict[str, float]  # utterance key -> rms_dbfs, valid values only
    skipped: tuple[Skipped, ...]
    last_speech_end_ms: int = 0  # end of the last counted utterance (0: nobody spoke)

    @property
    def agent_talk_ms(self) -> int:
        return self.channels["agent"].talk_ms

    @property
    def customer_talk_ms(self) -> int:
        return self.channels["customer"].talk_ms


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted union of spans (touching spans merge); empty spans are dropped."""
    merged: list[Span] = []
    for span in sorted(s for s in spans if s.end_ms > s.start_ms):
        if merged and span.start_ms <= merged[-1].end_ms:
            if span.end_ms > merged[-1].end_ms:
                merged[-1] = Span(merged[-1].start_ms, span.end_ms)
        else:
            merged.append(span)
    return merged


def intersect_spans(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Intersection of two sorted, merged span lists."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i].start_ms, b[j].start_ms)
        end = min(a[i].end_ms, b[j].end_ms)
        if end > start:
            out.append(Span(start, end))
        if a[i].end_ms < b[j].end_ms:
            i += 1
        else:
            j += 1
    return out


def _total(spans: Iterable[Span]) -> int:
    return sum(s.duration_ms for s in spans)


def _select(turns: Iterable[Turn], version: int | None) -> list[Turn]:
    listed = list(turns)
    if not listed:
        return []
    wanted = version if version is not None else max(t.version for t in listed)
    latest: dict[tuple[str, int], Turn] = {}
    for turn in listed:
        if turn.version == wanted:
            latest[turn.channel, turn.utterance_no] = turn  # a redelivery replaces, never adds
    return list(latest.values())


def _sane_duration(duration_ms: int | None, max_call_ms: int) -> int | None:
    if duration_ms is None:
        return None
    try:
        value = int(duration_ms)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= max_call_ms else None


def _clean(
    turn: Turn, duration: int | None, max_utterance_ms: int, max_call_ms: int
) -> tuple[Span | None, list[Skipped]]:
    key = turn.key
    if turn.channel not in CHANNELS:
        return None, [Skipped(key, "unknown_channel")]
    try:
        start, end = int(turn.start_ms), int(turn.end_ms)
    except (TypeError, ValueError, OverflowError):  # None, NaN, inf from a broken producer
        return None, [Skipped(key, "invalid_time")]
    if end < start:
        return None, [Skipped(key, "end_before_start")]
    if end <= 0:
        return None, [Skipped(key, "negative_time")]
    if end - start > max_utterance_ms:
        return None, [Skipped(key, "too_long")]
    if end > max_call_ms:
        return None, [Skipped(key, "beyond_max_call")]
    notes: list[Skipped] = []
    if start < 0:
        start = 0
        notes.append(Skipped(key, "clamped_start"))
    if duration is not None:
        if start >= duration:
            return None, [Skipped(key, "after_call_end")]
        if end > duration:
            end = duration
            notes.append(Skipped(key, "clamped_to_duration"))
    if end == start:
        return None, [Skipped(key, "empty_span")]
    return Span(start, end), notes


def conversation_metrics(
    turns: Iterable[Turn],
    *,
    duration_ms: int | None = None,
    holds: Iterable[Span] = (),
    long_silence_ms: int = 30_000,
    min_overtalk_ms: int = 300,
    version: int | None = None,
    max_utterance_ms: int = MAX_UTTERANCE_MS,
    max_call_ms: int = MAX_CALL_MS,
) -> ConversationMetrics:
    """Metrics of one call (see the module docstring for every definition).

    ``duration_ms``: the call length from CallEnded, if known and plausible; else the end of the
    last utterance. ``holds``: hold or recording-pause spans (their silence is hold, not silence).
    """
    duration = _sane_duration(duration_ms, max_call_ms)
    skipped: list[Skipped] = []
    spans: dict[str, list[Span]] = {c: [] for c in CHANNELS}
    kept: list[tuple[Turn, Span]] = []
    # Spoken order per channel; timings may be garbage, so they cannot be the sort key.
    for turn in sorted(_select(turns, version), key=lambda t: (t.channel, t.utterance_no)):
        span, notes = _clean(turn, duration, max_utterance_ms, max_call_ms)
        skipped.extend(notes)
        if span is not None:
            spans[turn.channel].append(span)
            kept.append((turn, span))

    merged = {c: merge_spans(s) for c, s in spans.items()}
    speech = merge_spans([*merged["agent"], *merged["customer"]])
    end_of_call = duration if duration is not None else (speech[-1].end_ms if speech else 0)

    hold_spans = _clip_holds(holds, end_of_call)
    gaps = _gaps(speech, 0, end_of_call)
    hold_ms = _total(intersect_spans(gaps, hold_spans))
    silence_ms = _total(gaps) - hold_ms
    internal = _gaps(speech, speech[0].start_ms, speech[-1].end_ms) if speech else []
    long_silences = tuple(g for g in internal if g.duration_ms >= long_silence_ms)

    overtalk = tuple(
        s
        for s in intersect_spans(merged["agent"], merged["customer"])
        if s.duration_ms >= min_overtalk_ms
    )

    channels = {c: _channel_metrics(c, merged[c], kept, skipped) for c in CHANNELS}
    total_talk = channels["agent"].talk_ms + channels["customer"].talk_ms
    loudness = {
        turn.key: level for turn, _ in kept if (level := valid_dbfs(turn.rms_dbfs)) is not None
    }
    return ConversationMetrics(
        duration_ms=end_of_call,
        channels=channels,
        talk_ratio=round(channels["agent"].talk_ms / total_talk, 4) if total_talk else None,
        silence_ms=silence_ms,
        hold_ms=hold_ms,
        overtalk_ms=_total(overtalk),
        overtalk_spans=overtalk,
        long_silences=long_silences,
        loudness=loudness,
        skipped=tuple(skipped),
        last_speech_end_ms=speech[-1].end_ms if speech else 0,
    )


def _clip_holds(holds: Iterable[Span], end_of_call: int) -> list[Span]:
    clipped: list[Span] = []
    for hold in holds:
        try:
            start, end = max(0, int(hold.start_ms)), min(end_of_call, int(hold.end_ms))
        except (TypeError, ValueError, OverflowError):
            continue  # a broken pause event must not break the metrics
        if end > start:
            clipped.append(Span(start, end))
    return merge_spans(clipped)


def _gaps(speech: Sequence[Span], start: int, end: int) -> list[Span]:
    gaps: list[Span] = []
    cursor = start
    for span in speech:
        if span.start_ms > cursor:
            gaps.append(Span(cursor, min(span.start_ms, end)))
        cursor = max(cursor, span.end_ms)
    if end > cursor:
        gaps.append(Span(cursor, end))
    return [g for g in gaps if g.end_ms > g.start_ms]


def _channel_metrics(
    channel: str,
    merged: Sequence[Span],
    kept: Sequence[tuple[Turn, Span]],
    skipped: list[Skipped],
) -> ChannelMetrics:
    own = [(turn, span) for turn, span in kept if turn.channel == channel]
    words = sum(max(0, int(turn.word_count)) for turn, _ in own)
    rate_words = 0
    rate_ms = 0
    for turn, span in own:
        count = max(0, int(turn.word_count))
        if span.duration_ms < MIN_RATE_SPAN_MS or count == 0:
            continue
        if count / (span.duration_ms / 60_000) > MAX_PLAUSIBLE_WPM:
            skipped.append(Skipped(turn.key, "rate_implausible"))
            continue
        rate_words += count
        rate_ms += span.duration_ms
    levels = [lv for turn, _ in own if (lv := valid_dbfs(turn.rms_dbfs)) is not None]
    return ChannelMetrics(
        talk_ms=_total(merged),
        utterances=len(own),
        words=words,
        words_per_minute=round(rate_words / (rate_ms / 60_000), 1) if rate_ms else None,
        mean_dbfs=round(sum(levels) / len(levels), 2) if levels else None,
        max_dbfs=round(max(levels), 2) if levels else None,
    )
