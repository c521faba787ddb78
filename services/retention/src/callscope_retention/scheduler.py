"""The purge scheduler: starts a purge run when the cron schedule fires, and between runs
resends unconfirmed commands and reconciles Object Lock. Time comes from the clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from callscope_core.service import sleep_or_stop

from .domain.cron import CronSchedule
from .engine import RetentionEngine
from .purging import RunStatus

log = logging.getLogger(__name__)


class PurgeScheduler:
    def __init__(
        self,
        engine: RetentionEngine,
        schedule: CronSchedule,
        clock: Callable[[], datetime],
        *,
        interval_s: float = 5.0,
    ) -> None:
        self._engine = engine
        self.schedule = schedule
        self._clock = clock
        self._interval_s = interval_s
        self.next_run = schedule.next_after(clock())
        self.runs: list[RunStatus] = []

    async def tick(self, now: datetime | None = None) -> RunStatus | None:
        """One step: a purge run if the schedule fired, then maintenance."""
        now = now or self._clock()
        status = None
        if now >= self.next_run:
            self.next_run = self.schedule.next_after(now)
            status = await self._engine.purge.run("schedule", "scheduler")
            if status.request_id:
                self.runs.append(status)
            log.info(
                "scheduled purge run: %s; next at %s", status.status, self.next_run.isoformat()
            )
        await self._engine.maintain(now)
        return status

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "purge schedule %r; first run at %s",
            self.schedule.expression,
            self.next_run.isoformat(),
        )
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                # A database or broker outage must not kill the service: try again later.
                log.exception("purge scheduler step failed; retrying")
            if await sleep_or_stop(stop, self._interval_s):
                return
