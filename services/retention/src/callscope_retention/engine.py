"""The retention application: one object that owns every part and the clock they share.

Domain logic takes `now` from `clock`, so tests (and the benchmark) control time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from callscope.v1 import events_pb2
from callscope_core.kafka import ConsumedEvent, PermanentError
from callscope_core.purge import Publisher, utc_now

from .access import AccessService
from .auditlog import AuditLog
from .domain.policy import PolicyError
from .domain.policyset import PolicySet
from .erasure import ErasureService
from .holds import Hold, HoldRequest, HoldService
from .policies import PolicyStore
from .purging import PurgeService
from .registry import CallRegistry
from .settings import RetentionSettings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class RetentionEngine:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        publisher: Publisher,
        settings: RetentionSettings,
        clock: Clock = utc_now,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock
        retry = timedelta(seconds=settings.purge_retry_after_s)
        self.audit = AuditLog(pool)
        self.policies = PolicyStore(pool, self.audit)
        self.registry = CallRegistry(pool, publisher, self.policies, clock, protect_retry=retry)
        self.holds = HoldService(pool, self.audit, clock)
        self.purge = PurgeService(
            pool,
            publisher,
            self.audit,
            self.policies,
            clock,
            batch_size=settings.purge_batch_size,
            max_per_run=settings.purge_max_per_run,
            retry_after=retry,
        )
        self.erasure = ErasureService(
            pool, self.audit, self.policies, self.holds, self.purge, clock
        )
        self.access = AccessService(pool, self.audit, self.policies, clock)

    def seed_policy(self) -> PolicySet:
        s = self.settings
        return PolicySet.from_settings(s.policy_version, s.periods_days, s.default_purposes)

    async def start(self) -> PolicySet:
        """Fail fast on a bad seed policy; write it as the first version if there is none."""
        try:
            seed = self.seed_policy()
        except PolicyError as exc:
            from callscope_core.settings import ConfigurationError

            raise ConfigurationError(
                f"CALLSCOPE_RETENTION_PERIODS_DAYS/_DEFAULT_PURPOSES: {exc}"
            ) from None
        return await self.policies.bootstrap(seed, self.clock())

    # -- Kafka -----------------------------------------------------------------------------
    async def on_event(self, event: ConsumedEvent) -> None:
        message = event.message
        call_id = getattr(message, "call_id", None)
        if (
            isinstance(
                message,
                events_pb2.CallStarted | events_pb2.ParticipantJoined | events_pb2.RecordingStored,
            )
            and not (call_id or "").strip()
        ):
            raise PermanentError(f"{type(message).__name__} without a call id")
        if isinstance(message, events_pb2.CallStarted):
            await self.registry.call_started(message)
        elif isinstance(message, events_pb2.ParticipantJoined):
            await self.registry.participant_joined(message)
        elif isinstance(message, events_pb2.RecordingStored):
            await self.registry.register(message)
        elif isinstance(message, events_pb2.CallsPurged):
            await self.purge.confirmed(message)
        elif isinstance(message, events_pb2.CallPurged):
            await self.purge.confirmed(
                events_pb2.CallsPurged(
                    request_id=message.request_id,
                    batch_id=message.batch_id,
                    service=message.service,
                    results=[message],
                )
            )
        elif isinstance(message, events_pb2.RecordingProtected):
            await self.registry.protected(message)

    # -- periodic work ---------------------------------------------------------------------
    async def maintain(self, now: datetime | None = None) -> dict[str, int]:
        """Resend unconfirmed purge commands; send Object Lock commands not yet confirmed."""
        now = now or self.clock()
        return {
            "resent": await self.purge.resend(now),
            "protect_sent": await self.registry.reconcile_protection(now),
        }

    async def place_hold(self, request: HoldRequest) -> Hold:
        hold = await self.holds.place(request)
        await self.registry.reconcile_protection(self.clock())
        return hold

    async def release_hold(self, hold_id: str, released_by: str, reason: str) -> Hold:
        hold = await self.holds.release(hold_id, released_by, reason)
        await self.registry.reconcile_protection(self.clock())
        return hold


def fixed_clock(at: datetime) -> Clock:
    at = at.astimezone(UTC)
    return lambda: at
