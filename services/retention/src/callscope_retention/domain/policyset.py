"""Versioned retention policies: which data each purpose may use, and for how long, per
tenant and queue.

A policy document (YAML or JSON):

    purposes:                      # what each purpose needs; optional (defaults below)
      proof:     {data: [recording, transcript], legal_obligation: true}
      quality:   {data: [recording, transcript, analysis]}
      analytics: {data: [transcript, analysis]}
      live_assist: {data: [transcript, analysis]}
    rules:                         # the most specific rule wins: tenant+queue, tenant, queue, *
      - {tenant: "*", queue: "*", periods_days: {proof: 1825, quality: 183, analytics: 365,
         live_assist: 1}, default_purposes: [quality, analytics]}
      - {tenant: bank, queue: sales, periods_days: {...}, default_purposes: [proof, quality]}

Each data kind (recording, transcript, analysis) lives until the longest purpose that uses it
expires; a kind no purpose uses is due at once. Each purpose's own use ends on time. A purpose
marked `legal_obligation` (proof) survives an erasure request (GDPR Art. 17(3)(b)) and gives
the recording an Object Lock until it expires.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callscope_core.purge import DATA_KINDS, RECORDING

from .policy import PolicyError, PurposeWindow, RetentionPolicy, RetentionPurpose

WILDCARD = "*"

DEFAULT_SCOPES: Mapping[str, Mapping[str, Any]] = {
    "proof": {"data": ["recording", "transcript"], "legal_obligation": True},
    "quality": {"data": ["recording", "transcript", "analysis"]},
    "analytics": {"data": ["transcript", "analysis"]},
    "live_assist": {"data": ["transcript", "analysis"]},
}


@dataclass(frozen=True)
class PurposeScope:
    data_kinds: frozenset[str]
    legal_obligation: bool = False


@dataclass(frozen=True)
class PolicyRule:
    tenant: str
    queue: str
    policy: RetentionPolicy
    default_purposes: tuple[str, ...]

    @property
    def specificity(self) -> int:
        return (self.tenant != WILDCARD) * 2 + (self.queue != WILDCARD)

    def label(self) -> str:
        return f"tenant {self.tenant} queue {self.queue}"


@dataclass(frozen=True)
class RetentionPlan:
    """What a policy gives one recording: purpose windows, per-kind expiry, Object Lock."""

    windows: list[PurposeWindow]
    item_expiry: dict[str, datetime]
    lock_until: datetime | None

    @property
    def expires_at(self) -> datetime:
        return max(self.item_expiry.values())


@dataclass(frozen=True)
class PolicySet:
    version: int
    scopes: Mapping[str, PurposeScope]
    rules: tuple[PolicyRule, ...]

    def __post_init__(self) -> None:
        if not any(r.tenant == WILDCARD and r.queue == WILDCARD for r in self.rules):
            raise PolicyError('a policy needs a catch-all rule (tenant "*", queue "*")')
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            key = (rule.tenant, rule.queue)
            if key in seen:
                raise PolicyError(f"two rules for {rule.label()}")
            seen.add(key)
            for purpose in rule.policy.periods:
                if purpose.value not in self.scopes:
                    raise PolicyError(f"purpose {purpose.value!r} has no data scope")
            if not rule.default_purposes:
                raise PolicyError(f"rule for {rule.label()} has no default purposes")
            for name in rule.default_purposes:
                if RetentionPurpose(name) not in rule.policy.periods:
                    raise PolicyError(
                        f"rule for {rule.label()}: default purpose {name!r} has no period"
                    )

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_settings(
        cls, version: int, periods_days: Mapping[str, int], default_purposes: Sequence[str]
    ) -> PolicySet:
        return cls.from_document(
            {
                "rules": [
                    {
                        "tenant": WILDCARD,
                        "queue": WILDCARD,
                        "periods_days": dict(periods_days),
                        "default_purposes": list(default_purposes),
                    }
                ]
            },
            version,
        )

    @classmethod
    def parse(cls, text: str, version: int) -> PolicySet:
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"the policy is not valid YAML/JSON: {exc}") from None
        return cls.from_document(document, version)

    @classmethod
    def from_document(cls, document: Any, version: int) -> PolicySet:
        if not isinstance(document, dict):
            raise PolicyError("a policy document is a mapping with `rules` (and `purposes`)")
        unknown = set(document) - {"purposes", "rules", "version", "comment"}
        if unknown:
            raise PolicyError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        scopes = {}
        for name, spec in (document.get("purposes") or DEFAULT_SCOPES).items():
            _purpose(name)
            if not isinstance(spec, dict) or not isinstance(spec.get("data"), list):
                raise PolicyError(f"purpose {name!r}: `data` must list data kinds")
            kinds = frozenset(spec["data"])
            bad = kinds - set(DATA_KINDS)
            if bad or not kinds:
                raise PolicyError(
                    f"purpose {name!r}: unknown data kinds {sorted(bad) or '[]'}"
                    f" (known: {', '.join(DATA_KINDS)})"
                )
            scopes[name] = PurposeScope(kinds, bool(spec.get("legal_obligation", False)))
        rules_doc = document.get("rules")
        if not isinstance(rules_doc, list) or not rules_doc:
            raise PolicyError("a policy needs a non-empty list of `rules`")
        rules = []
        for i, spec in enumerate(rules_doc):
            if not isinstance(spec, dict):
                raise PolicyError(f"rule {i + 1} is not a mapping")
            days = spec.get("periods_days")
            if not isinstance(days, dict) or not days:
                raise PolicyError(f"rule {i + 1}: `periods_days` must map purposes to days")
            for name, value in days.items():
                if isinstance(value, bool) or not isinstance(value, int):
                    raise PolicyError(
                        f"rule {i + 1}: period for {name!r} must be a whole number of days,"
                        f" got {value!r}"
                    )
            try:
                policy = RetentionPolicy.from_days(version, days)
            except PolicyError as exc:
                raise PolicyError(f"rule {i + 1}: {exc}") from None
            defaults = spec.get("default_purposes") or []
            for name in defaults:
                _purpose(name)
            rules.append(
                PolicyRule(
                    str(spec.get("tenant", WILDCARD)) or WILDCARD,
                    str(spec.get("queue", WILDCARD)) or WILDCARD,
                    policy,
                    tuple(defaults),
                )
            )
        return cls(version, scopes, tuple(rules))

    def to_document(self) -> dict[str, Any]:
        return {
            "purposes": {
                name: {
                    "data": sorted(scope.data_kinds),
                    **({"legal_obligation": True} if scope.legal_obligation else {}),
                }
                for name, scope in sorted(self.scopes.items())
            },
            "rules": [
                {
                    "tenant": r.tenant,
                    "queue": r.queue,
                    "periods_days": {
                        p.value: period.days for p, period in sorted(r.policy.periods.items())
                    },
                    "default_purposes": list(r.default_purposes),
                }
                for r in self.rules
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_document(), sort_keys=True)

    # -- use -------------------------------------------------------------------------------
    def rule_for(self, tenant: str, queue: str) -> PolicyRule:
        candidates = [
            r for r in self.rules if r.tenant in (tenant, WILDCARD) and r.queue in (queue, WILDCARD)
        ]
        return max(candidates, key=lambda r: r.specificity)

    def purposes_for(self, tenant: str, queue: str, given: Iterable[str]) -> list[str]:
        """The purposes a new recording gets: those it was given (known ones), else the rule's."""
        known = [p for p in given if p in self.scopes]
        return list(dict.fromkeys(known)) or list(self.rule_for(tenant, queue).default_purposes)

    def obligation_purposes(self) -> set[str]:
        return {name for name, scope in self.scopes.items() if scope.legal_obligation}

    def kinds_of(self, purpose: str) -> frozenset[str]:
        scope = self.scopes.get(purpose)
        return scope.data_kinds if scope else frozenset()

    def plan(
        self,
        tenant: str,
        queue: str,
        purposes: Sequence[str],
        stored_at: datetime,
        *,
        ended: Mapping[str, datetime] | None = None,
    ) -> RetentionPlan:
        """Windows and per-kind expiry for a recording. `ended`: purposes whose use was ended
        early (an erasure) and no longer keep any data."""
        rule = self.rule_for(tenant, queue)
        windows = rule.policy.windows(purposes, stored_at)
        ended = ended or {}
        item_expiry: dict[str, datetime] = {}
        for kind in DATA_KINDS:
            keeping = [
                min(w.expires_at, ended.get(w.purpose.value, w.expires_at))
                for w in windows
                if kind in self.kinds_of(w.purpose.value) and w.purpose.value not in ended
            ]
            item_expiry[kind] = max(keeping, default=stored_at)
        locks = [
            w.expires_at
            for w in windows
            if w.purpose.value in self.obligation_purposes()
            and RECORDING in self.kinds_of(w.purpose.value)
            and w.purpose.value not in ended
        ]
        return RetentionPlan(windows, item_expiry, max(locks, default=None))


def _purpose(name: str) -> RetentionPurpose:
    try:
        return RetentionPurpose(name)
    except ValueError:
        known = ", ".join(p.value for p in RetentionPurpose)
        raise PolicyError(f"unknown purpose {name!r} (known: {known})") from None


# -- recomputing existing data under a new policy ------------------------------------------


@dataclass(frozen=True)
class RecordingFacts:
    call_id: str
    tenant: str
    queue: str
    purposes: tuple[str, ...]
    stored_at: datetime
    item_expiry: Mapping[str, datetime]  # live items only
    lock_confirmed: datetime | None = None
    ended: Mapping[str, datetime] = field(default_factory=dict)


@dataclass
class RecordingChange:
    call_id: str
    plan: RetentionPlan
    old_expiry: datetime
    new_expiry: datetime


@dataclass
class PolicyChange:
    from_version: int
    to_version: int
    recordings: int = 0
    earlier: int = 0
    later: int = 0
    unchanged: int = 0
    due_now: int = 0
    warnings: list[str] = field(default_factory=list)
    changes: list[RecordingChange] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"policy v{self.from_version} -> v{self.to_version}: {self.recordings} live "
            f"recordings recomputed; some data expires earlier for {self.earlier}, later for "
            f"{self.later}, unchanged for {self.unchanged}; {self.due_now} data items become "
            "due now"
        )


def recompute(
    old: PolicySet, new: PolicySet, recordings: Iterable[RecordingFacts], now: datetime
) -> PolicyChange:
    """What `new` does to existing data; raises PolicyError when it cannot govern some of it."""
    change = PolicyChange(old.version, new.version)
    missing: dict[tuple[str, str], int] = {}
    locked = 0
    for facts in recordings:
        change.recordings += 1
        rule = new.rule_for(facts.tenant, facts.queue)
        lacking = [p for p in facts.purposes if RetentionPurpose(p) not in rule.policy.periods]
        if lacking:
            for p in lacking:
                missing[(rule.label(), p)] = missing.get((rule.label(), p), 0) + 1
            continue
        plan = new.plan(
            facts.tenant, facts.queue, facts.purposes, facts.stored_at, ended=facts.ended
        )
        live = dict(facts.item_expiry)
        if not live:
            change.unchanged += 1
            continue
        old_expiry = max(live.values())
        new_expiry = max(plan.item_expiry[k] for k in live)
        if any(plan.item_expiry[k] < old_at for k, old_at in live.items()):
            change.earlier += 1  # some of its data goes sooner
        elif any(plan.item_expiry[k] > old_at for k, old_at in live.items()):
            change.later += 1
        else:
            change.unchanged += 1
        change.due_now += sum(
            1 for k, old_at in live.items() if plan.item_expiry[k] <= now < old_at
        )
        if (
            facts.lock_confirmed is not None
            and RECORDING in live
            and plan.item_expiry[RECORDING] < facts.lock_confirmed
        ):
            locked += 1
        # Every recording is rewritten: windows can move even where no expiry does.
        change.changes.append(RecordingChange(facts.call_id, plan, old_expiry, new_expiry))
    if missing:
        details = "; ".join(
            f"{count} recording(s) use {purpose!r} but the rule for {label} has no period"
            for (label, purpose), count in sorted(missing.items())
        )
        raise PolicyError(f"policy v{new.version} cannot govern existing data: {details}")
    if locked:
        change.warnings.append(
            f"{locked} proof recording(s) are under Object Lock COMPLIANCE retention beyond their"
            " new expiry; they stay until the lock ends (a lock cannot be shortened)"
        )
    return change
