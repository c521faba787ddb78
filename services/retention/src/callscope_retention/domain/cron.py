"""Cron-like purge schedules: five fields (minute hour day-of-month month day-of-week, UTC),
`*`, lists, ranges and steps, the @hourly/@daily/@weekly/@monthly shorthands, and
`@every <n>s|m|h` for short fixed intervals (the local stack, tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 3 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 3 * * 0",
    "@monthly": "0 3 1 * *",
}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_EVERY = re.compile(r"@every\s+(\d+)\s*([smh])")


class CronError(ValueError):
    pass


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = int(base)
                end = high if step_text else start
        except ValueError:
            raise CronError(f"bad {_NAMES[index]} field {text!r}") from None
        if index == 4 and end == 7:
            end = 6 if start <= 6 else 0
            values.add(0)
        if step < 1 or not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"{_NAMES[index]} {part!r} outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    day_restricted: bool = False
    weekday_restricted: bool = False
    every: timedelta | None = None

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        text = " ".join(expression.split())
        match = _EVERY.fullmatch(text)
        if match:
            n = int(match.group(1))
            unit = {"s": "seconds", "m": "minutes", "h": "hours"}[match.group(2)]
            if n < 1:
                raise CronError("@every needs a positive interval")
            return cls(expression, every=timedelta(**{unit: n}))
        text = _SHORTHANDS.get(text, text)
        fields = text.split(" ")
        if len(fields) != 5:
            raise CronError(
                f"a schedule has 5 fields (minute hour day month weekday), got {expression!r}"
            )
        parsed = [_field(f, i) for i, f in enumerate(fields)]
        return cls(
            expression,
            *parsed,
            day_restricted=fields[2] != "*",
            weekday_restricted=fields[4] != "*",
        )

    def _day_matches(self, at: datetime) -> bool:
        dom = at.day in self.days
        dow = (at.weekday() + 1) % 7 in self.weekdays  # cron: 0 = Sunday
        if self.day_restricted and self.weekday_restricted:
            return dom or dow  # classic cron: either restriction matches
        return dom and dow

    def next_after(self, after: datetime) -> datetime:
        """The first fire time strictly after `after` (UTC)."""
        after = after.astimezone(UTC)
        if self.every is not None:
            step = self.every.total_seconds()
            return datetime.fromtimestamp((after.timestamp() // step + 1) * step, UTC)
        at = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = at + timedelta(days=366 * 5)
        while at < limit:
            if at.month not in self.months:
                year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
                at = at.replace(year=year, month=month, day=1, hour=0, minute=0)
            elif not self._day_matches(at):
                at = (at + timedelta(days=1)).replace(hour=0, minute=0)
            elif at.hour not in self.hours:
                at = (at + timedelta(hours=1)).replace(minute=0)
            elif at.minute not in self.minutes:
                at += timedelta(minutes=1)
            else:
                return at
        raise CronError(f"schedule {self.expression!r} never fires")
