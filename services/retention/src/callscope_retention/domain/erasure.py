"""GDPR erasure (Art. 17): per call and data kind, erase, or keep and say why (Art. 17(3))."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .policyset import PolicySet

HOLD_BASIS = "GDPR Art. 17(3)(e): establishment, exercise or defence of legal claims (legal hold)"
OBLIGATION_BASIS = "GDPR Art. 17(3)(b): compliance with a legal obligation (proof retention)"


@dataclass(frozen=True)
class Kept:
    data_kind: str
    reason: str
    legal_basis: str
    until: datetime | None  # None: until the hold is released


@dataclass(frozen=True)
class CallData:
    call_id: str
    item_states: Mapping[str, str]  # data kind -> live | purging | purged
    windows: Mapping[str, datetime]  # purpose -> expires_at (not ended)
    holds: Sequence[tuple[str, str]] = ()  # (hold_id, reason) of active holds


@dataclass
class CallErasure:
    call_id: str
    erase: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # purged or being purged before


def decide(call: CallData, policy: PolicySet, now: datetime) -> CallErasure:
    result = CallErasure(call.call_id)
    obligations = policy.obligation_purposes()
    for kind, state in sorted(call.item_states.items()):
        if state != "live":
            result.already.append(kind)
            continue
        if call.holds:
            holds = ", ".join(f"{hold_id} ({reason})" for hold_id, reason in call.holds)
            result.kept.append(Kept(kind, f"under legal hold {holds}", HOLD_BASIS, None))
            continue
        proofs = [
            (purpose, until)
            for purpose, until in call.windows.items()
            if purpose in obligations and until > now and kind in policy.kinds_of(purpose)
        ]
        if proofs:
            purpose, until = max(proofs, key=lambda p: p[1])
            result.kept.append(
                Kept(
                    kind,
                    f"kept for purpose {purpose!r} (legal obligation) until {until.date()}",
                    OBLIGATION_BASIS,
                    until,
                )
            )
            continue
        result.erase.append(kind)
    return result
