"""Retention's SQL adapter: the registry of recordings and their purpose windows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from callscope.v1 import events_pb2

from .domain.policy import RetentionPolicy

log = logging.getLogger(__name__)


class RecordingRegistry:
    def __init__(
        self, pool: AsyncConnectionPool, policy: RetentionPolicy, default_purposes: Sequence[str]
    ) -> None:
        self._pool = pool
        self._policy = policy
        self._default_purposes = list(default_purposes)

    async def register(self, stored: events_pb2.RecordingStored) -> None:
        """Idempotent: a redelivered RecordingStored leaves the first registration as it is."""
        purposes = list(stored.purposes) or self._default_purposes
        stored_at = (
            stored.meta.occurred_at.ToDatetime(tzinfo=UTC)
            if stored.meta.HasField("occurred_at")
            else datetime.now(UTC)
        )
        windows = self._policy.windows(purposes, stored_at)
        expires_at = max(w.expires_at for w in windows)
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """
                INSERT INTO retention.recordings (call_id, tenant, queue, bucket, object_key,
                    sha256, size_bytes, duration_ms, purposes, policy_version, stored_at,
                    expires_at, source_event_id)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (call_id) DO NOTHING
                """,
                (
                    stored.call_id,
                    stored.tenant or stored.meta.tenant or "default",
                    stored.queue,
                    stored.bucket,
                    stored.object_key,
                    stored.sha256,
                    stored.size_bytes,
                    stored.duration_ms,
                    purposes,
                    self._policy.version,
                    stored_at,
                    expires_at,
                    stored.meta.event_id,
                ),
            )
            if cur.rowcount == 0:
                log.info("recording of call %s already registered", stored.call_id)
                return
            for window in windows:
                await conn.execute(
                    "INSERT INTO retention.purpose_windows (call_id, purpose, expires_at)"
                    " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (stored.call_id, window.purpose.value, window.expires_at),
                )
        log.info(
            "registered recording of call %s for %s until %s",
            stored.call_id,
            ",".join(purposes),
            expires_at.date(),
        )
