"""Graceful degradation of live transcription when audio arrives faster than the model reads it.

The measure is the live backlog, in milliseconds of model time: the estimated decode time of
the live finals waiting for the model (the service multiplies their number by its running mean
decode time; Whisper's cost is per 30 s window, so nearly per utterance). Levels, in order:

1. above ``skip_partials_above_ms``: partials are skipped (finals stay live); they come back
   once the backlog is below ``resume_partials_below_ms`` (hysteresis, so they do not flap);
2. above ``defer_above_ms``: calls are deferred to the post-call path, the most recently
   started first (calls already being followed keep their live transcript), until the backlog
   of the calls left is at most ``defer_above_ms``. Its whole recording is transcribed after
   the call (version 2), so nothing is lost;
3. below ``resume_calls_below_ms`` again, and no call deferred or resumed for
   ``resume_interval_s``: a deferred call whose channels are still live comes back to live
   transcription, one call at a time (the interval keeps calls from flapping between live and
   deferred); what was said while it was deferred is only in version 2.

Pure logic: the service feeds it numbers and acts on its answers (events, metrics, queues).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """The `level` of a TranscriptionDegraded event."""

    PARTIALS_SKIPPED = "partials_skipped"
    DEFERRED = "deferred"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class CallLoad:
    backlog_ms: int  # estimated decode time of this call's queued finals
    started_seq: int  # order in which the live calls were first seen (higher: newer)


@dataclass(frozen=True)
class BackPressurePolicy:
    skip_partials_above_ms: int = 2_000
    resume_partials_below_ms: int = 500
    defer_above_ms: int = 15_000
    resume_calls_below_ms: int = 500  # 0: a deferred call stays deferred until it ends
    resume_interval_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.resume_partials_below_ms <= self.skip_partials_above_ms:
            raise ValueError("need 0 <= resume_partials_below_ms <= skip_partials_above_ms")
        if self.defer_above_ms < self.skip_partials_above_ms:
            raise ValueError("defer_above_ms must be >= skip_partials_above_ms")
        if not 0 <= self.resume_calls_below_ms <= self.defer_above_ms:
            raise ValueError("need 0 <= resume_calls_below_ms <= defer_above_ms")
        if self.resume_interval_s < 0:
            raise ValueError("resume_interval_s must be >= 0")

    def may_resume_a_call(self, backlog_ms: int, since_last_change_s: float) -> bool:
        """Whether one deferred call may come back to live transcription now, given the
        backlog and the time since a call was last deferred or resumed."""
        return (
            backlog_ms < self.resume_calls_below_ms
            and since_last_change_s >= self.resume_interval_s
        )

    def partials_allowed(self, backlog_ms: int, allowed_now: bool) -> bool:
        """Whether partials are produced, given the backlog and the current state."""
        if allowed_now:
            return backlog_ms <= self.skip_partials_above_ms
        return backlog_ms < self.resume_partials_below_ms

    def calls_to_defer(self, loads: Mapping[str, CallLoad]) -> list[str]:
        """Live calls to hand to the post-call path now, newest first; [] when all fit."""
        backlog = sum(load.backlog_ms for load in loads.values())
        deferred: list[str] = []
        for call_id, load in sorted(loads.items(), key=lambda kv: kv[1].started_seq, reverse=True):
            if backlog <= self.defer_above_ms:
                break
            deferred.append(call_id)
            backlog -= load.backlog_ms
        return deferred
