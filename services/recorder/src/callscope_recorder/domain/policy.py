"""Recording policy: which calls are recorded, what a customer's opt-out does, and for which
purposes a recording is kept. Pure logic; the policies live in PostgreSQL (policy_store.py).

- mode "all": every call is recorded from its start.
- mode "percentage": a share of the calls, decided once per call from its id (a hash), so
  the same call id always gets the same answer: on a restart, in a replay, in a test.
- mode "on_demand": nothing is recorded until the agent desktop sends SetRecording START.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

MODES = ("all", "percentage", "on_demand")
OPT_OUT_DECISIONS = ("stop", "proof_only")
PURPOSES = ("proof", "quality", "analytics", "live-assist")
DEFAULT_PURPOSES = ("quality", "analytics")


class PolicyError(ValueError):
    """A policy that cannot be applied; the message names the field."""


@dataclass(frozen=True)
class RecordingPolicy:
    tenant: str
    queue: str = ""  # "" = the tenant's default
    mode: str = "all"
    percentage: float = 100.0
    opt_out_decision: str = "stop"
    purposes: tuple[str, ...] = DEFAULT_PURPOSES
    # Object Lock COMPLIANCE retention of a proof-only recording.
    proof_retention_days: int = 365
    updated_by: str = ""
    updated_at: datetime | None = None
    version: int = 0

    def validated(self) -> RecordingPolicy:
        if not self.tenant:
            raise PolicyError("tenant is required")
        if self.mode not in MODES:
            raise PolicyError(f"mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not 0.0 <= self.percentage <= 100.0:
            raise PolicyError(f"percentage {self.percentage} must be within 0..100")
        if self.opt_out_decision not in OPT_OUT_DECISIONS:
            raise PolicyError(
                f"opt_out_decision {self.opt_out_decision!r}: use {' or '.join(OPT_OUT_DECISIONS)}"
            )
        unknown = [p for p in self.purposes if p not in PURPOSES]
        if unknown:
            raise PolicyError(f"unknown purposes {unknown}: use {', '.join(PURPOSES)}")
        if not self.purposes:
            raise PolicyError("at least one purpose is required")
        if not 1 <= self.proof_retention_days <= 36500:
            raise PolicyError("proof_retention_days must be within 1..36500")
        return replace(self, purposes=tuple(dict.fromkeys(self.purposes)))


def default_policy(tenant: str) -> RecordingPolicy:
    """What applies when a tenant has no policy at all: record every call."""
    return RecordingPolicy(tenant=tenant)


def policy_for(policies: list[RecordingPolicy], tenant: str, queue: str) -> RecordingPolicy:
    """The queue's own policy, else the tenant's default (queue ""), else record all."""
    by_queue = {p.queue: p for p in policies if p.tenant == tenant}
    return by_queue.get(queue) or by_queue.get("") or default_policy(tenant)


def sample_point(call_id: str) -> float:
    """Where a call falls in 0..100, from its id alone (SHA-256, so evenly spread)."""
    digest = hashlib.sha256(call_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


@dataclass(frozen=True)
class RecordingDecision:
    mode: str
    record_from_start: bool
    policy: RecordingPolicy = field(compare=False)


def decide(policy: RecordingPolicy, call_id: str, source: str = "") -> RecordingDecision:
    """Whether a new call is recorded from its start under `policy`.

    A batch import (`source="import"`) is an explicit request to keep those files: sampling
    and on-demand govern live calls only, so an import is always recorded."""
    if source == "import" or policy.mode == "all":
        record = True
    elif policy.mode == "percentage":
        record = sample_point(call_id) < policy.percentage
    else:
        record = False
    return RecordingDecision(policy.mode, record, policy)
