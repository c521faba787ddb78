"""Retention by purpose: how long each purpose may keep a recording and its derived data.

A recording lives until its longest purpose expires; each purpose's own use ends on time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class RetentionPurpose(StrEnum):
    PROOF = "proof"  # legal proof of a contract: up to 5 years (banking, insurance)
    QUALITY = "quality"  # training and quality review: about 6 months
    ANALYTICS = "analytics"  # customer-journey analytics: about 1 year
    LIVE_ASSIST = "live_assist"  # live help during the call only


DEFAULT_PERIODS: Mapping[RetentionPurpose, timedelta] = {
    RetentionPurpose.PROOF: timedelta(days=5 * 365),
    RetentionPurpose.QUALITY: timedelta(days=183),
    RetentionPurpose.ANALYTICS: timedelta(days=365),
    RetentionPurpose.LIVE_ASSIST: timedelta(days=1),
}


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class PurposeWindow:
    purpose: RetentionPurpose
    expires_at: datetime


@dataclass(frozen=True)
class RetentionPolicy:
    version: int
    periods: Mapping[RetentionPurpose, timedelta]

    def __post_init__(self) -> None:
        for purpose, period in self.periods.items():
            if period <= timedelta(0):
                raise PolicyError(f"retention period for {purpose} must be positive, got {period}")
            if period > timedelta(days=30 * 366):
                raise PolicyError(f"retention period for {purpose} exceeds 30 years: {period}")

    @classmethod
    def from_days(cls, version: int, days: Mapping[str, int]) -> RetentionPolicy:
        periods = {}
        for name, value in days.items():
            try:
                purpose = RetentionPurpose(name)
            except ValueError:
                known = ", ".join(p.value for p in RetentionPurpose)
                raise PolicyError(f"unknown purpose {name!r} (known: {known})") from None
            periods[purpose] = timedelta(days=value)
        return cls(version, periods)

    def windows(self, purposes: Iterable[str], stored_at: datetime) -> list[PurposeWindow]:
        result = []
        for name in purposes:
            purpose = RetentionPurpose(name)
            if purpose not in self.periods:
                raise PolicyError(f"policy v{self.version} has no period for purpose {name!r}")
            result.append(PurposeWindow(purpose, stored_at + self.periods[purpose]))
        if not result:
            raise PolicyError("a recording needs at least one purpose")
        return result

    def expiry(self, purposes: Iterable[str], stored_at: datetime) -> datetime:
        """The data lives until its longest purpose expires."""
        return max(w.expires_at for w in self.windows(purposes, stored_at))

    def purpose_allowed(
        self, purpose: str, purposes: Iterable[str], stored_at: datetime, now: datetime
    ) -> bool:
        """Whether `purpose` may still use the data at `now` (use limitation)."""
        return any(
            w.purpose == purpose and now < w.expires_at for w in self.windows(purposes, stored_at)
        )
