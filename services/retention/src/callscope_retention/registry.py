"""What retention learns from callscope.call.events: calls and their parties (CallStarted,
ParticipantJoined) and stored recordings with their purposes (RecordingStored). Also keeps
the recorder's Object Lock in step with what retention wants (proof retention, legal holds):
desired state here, ProtectRecording commands until the recorder confirms."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection

from callscope.v1 import common_pb2, events_pb2
from callscope_core.purge import KIND_SERVICE, Publisher
from callscope_core.topics import RETENTION_COMMANDS

from .domain.subjects import party_key
from .policies import PolicyStore

log = logging.getLogger(__name__)

_ROLES = {common_pb2.CHANNEL_CUSTOMER: "customer", common_pb2.CHANNEL_AGENT: "agent"}


def _parties(participants: list[events_pb2.Participant]) -> list[tuple[str, str, str]]:
    """(party_key, aor, role) for each participant with an identity."""
    out = []
    for p in participants:
        key = party_key(p.aor) if p.aor else ""
        key = key or (f"participant:{p.participant_id}" if p.participant_id else "")
        if key:
            out.append((key, p.aor, _ROLES.get(p.channel, "unknown")))
    return out


async def refresh_hold_wanted(conn: AsyncConnection, call_ids: list[str]) -> None:
    """Recompute whether each recording must carry the legal-hold flag; resend where changed."""
    if not call_ids:
        return
    await conn.execute(
        """
        WITH wanted AS (
            SELECT r.call_id,
                   EXISTS (SELECT 1 FROM retention.hold_coverage hc
                           WHERE hc.call_id = r.call_id AND hc.released_at IS NULL) AS held
            FROM retention.recordings r WHERE r.call_id = ANY(%s) AND r.state = 'live'
        )
        UPDATE retention.recordings r
        SET hold_wanted = w.held, protect_pending = r.lock_supported IS NOT false,
            protect_sent_at = NULL
        FROM wanted w
        WHERE r.call_id = w.call_id AND r.hold_wanted IS DISTINCT FROM w.held
        """,
        (call_ids,),
    )


class CallRegistry:
    def __init__(
        self,
        pool,  # type: ignore[no-untyped-def]
        publisher: Publisher,
        policies: PolicyStore,
        clock: Callable[[], datetime],
        *,
        protect_retry: timedelta = timedelta(minutes=5),
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._policies = policies
        self._clock = clock
        self._protect_retry = protect_retry

    async def call_started(self, started: events_pb2.CallStarted) -> None:
        tenant = started.meta.tenant or "default"
        started_at = (
            started.started_at.ToDatetime(tzinfo=UTC) if started.HasField("started_at") else None
        )
        parties = _parties(list(started.participants))
        agent = party_key(started.agent_id) if started.agent_id else ""
        agent = agent or next((k for k, _, role in parties if role == "agent"), "")
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO retention.calls (call_id, tenant, queue, agent_key, started_at)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (call_id) DO UPDATE SET
                    queue = CASE WHEN retention.calls.queue = '' THEN EXCLUDED.queue
                                 ELSE retention.calls.queue END,
                    agent_key = CASE WHEN retention.calls.agent_key = '' THEN EXCLUDED.agent_key
                                     ELSE retention.calls.agent_key END,
                    started_at = coalesce(retention.calls.started_at, EXCLUDED.started_at)
                """,
                (started.call_id, tenant, started.queue, agent, started_at),
            )
            await self._add_parties(conn, started.call_id, parties)
            await refresh_hold_wanted(conn, [started.call_id])

    async def participant_joined(self, joined: events_pb2.ParticipantJoined) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await self._add_parties(conn, joined.call_id, _parties([joined.participant]))
            await refresh_hold_wanted(conn, [joined.call_id])

    async def _add_parties(
        self, conn: AsyncConnection, call_id: str, parties: list[tuple[str, str, str]]
    ) -> None:
        if parties:
            await conn.execute(
                "INSERT INTO retention.call_parties (call_id, party_key, aor, role)"
                " SELECT %s, k, a, r FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(k, a, r)"
                " ON CONFLICT DO NOTHING",
                (
                    call_id,
                    [p[0] for p in parties],
                    [p[1] for p in parties],
                    [p[2] for p in parties],
                ),
            )

    async def register(self, stored: events_pb2.RecordingStored) -> bool:
        """Idempotent on call_id: a redelivered RecordingStored changes nothing."""
        stored_at = (
            stored.meta.occurred_at.ToDatetime(tzinfo=UTC)
            if stored.meta.HasField("occurred_at")
            else self._clock()
        )
        tenant = stored.tenant or stored.meta.tenant or "default"
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT queue FROM retention.calls WHERE call_id = %s", (stored.call_id,)
            )
            call = await cur.fetchone()
            queue = stored.queue or (call["queue"] if call else "")
            policy = await self._policies.active(conn)
            unknown = [p for p in stored.purposes if p not in policy.scopes]
            if unknown:
                log.warning(
                    "call %s: unknown purposes %s ignored (policy v%d)",
                    stored.call_id,
                    unknown,
                    policy.version,
                )
            purposes = policy.purposes_for(tenant, queue, stored.purposes)
            rule = policy.rule_for(tenant, queue)
            purposes = [p for p in purposes if any(q.value == p for q in rule.policy.periods)]
            purposes = purposes or list(rule.default_purposes)
            plan = policy.plan(tenant, queue, purposes, stored_at)
            cur = await conn.execute(
                """
                INSERT INTO retention.recordings (call_id, tenant, queue, bucket, object_key,
                    sha256, size_bytes, duration_ms, purposes, policy_version, stored_at,
                    expires_at, source_event_id, lock_wanted, protect_pending)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (call_id) DO NOTHING
                """,
                (
                    stored.call_id,
                    tenant,
                    queue,
                    stored.bucket,
                    stored.object_key,
                    stored.sha256,
                    stored.size_bytes,
                    stored.duration_ms,
                    purposes,
                    policy.version,
                    stored_at,
                    plan.expires_at,
                    stored.meta.event_id,
                    plan.lock_until,
                    plan.lock_until is not None,
                ),
            )
            if cur.rowcount == 0:
                log.info("recording of call %s already registered", stored.call_id)
                return False
            if call is None:
                await conn.execute(
                    "INSERT INTO retention.calls (call_id, tenant, queue) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (stored.call_id, tenant, queue),
                )
            await conn.execute(
                "INSERT INTO retention.purpose_windows (call_id, purpose, expires_at)"
                " SELECT %s, p, e FROM unnest(%s::text[], %s::timestamptz[]) AS t(p, e)"
                " ON CONFLICT DO NOTHING",
                (
                    stored.call_id,
                    [w.purpose.value for w in plan.windows],
                    [w.expires_at for w in plan.windows],
                ),
            )
            await conn.execute(
                "INSERT INTO retention.data_items (call_id, data_kind, service, expires_at)"
                " SELECT %s, k, s, e FROM unnest(%s::text[], %s::text[], %s::timestamptz[])"
                " AS t(k, s, e) ON CONFLICT DO NOTHING",
                (
                    stored.call_id,
                    list(plan.item_expiry),
                    [KIND_SERVICE[k] for k in plan.item_expiry],
                    list(plan.item_expiry.values()),
                ),
            )
            await refresh_hold_wanted(conn, [stored.call_id])
        log.info(
            "registered recording of call %s for %s until %s (policy v%d)",
            stored.call_id,
            ",".join(purposes),
            plan.expires_at.date(),
            policy.version,
        )
        return True

    # -- Object Lock reconciliation --------------------------------------------------------
    async def reconcile_protection(self, now: datetime, limit: int = 1000) -> int:
        """Send ProtectRecording where the recorder has not confirmed what retention wants."""
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """
                SELECT call_id, lock_wanted, hold_wanted FROM retention.recordings
                WHERE protect_pending AND state = 'live'
                  AND (protect_sent_at IS NULL OR protect_sent_at < %s)
                ORDER BY call_id LIMIT %s FOR UPDATE SKIP LOCKED
                """,
                (now - self._protect_retry, limit),
            )
            rows = await cur.fetchall()
            for row in rows:
                command = events_pb2.ProtectRecording(
                    request_id=str(uuid.uuid4()),
                    call_id=row["call_id"],
                    legal_hold=row["hold_wanted"],
                    reason="legal hold" if row["hold_wanted"] else "proof retention",
                )
                if row["lock_wanted"] is not None:
                    command.retain_until.FromDatetime(row["lock_wanted"])
                await self._publisher.publish(RETENTION_COMMANDS, row["call_id"], command)
            if rows:
                await conn.execute(
                    "UPDATE retention.recordings SET protect_sent_at = %s WHERE call_id = ANY(%s)",
                    (now, [r["call_id"] for r in rows]),
                )
        return len(rows)

    async def protected(self, reply: events_pb2.RecordingProtected) -> None:
        confirmed = (
            reply.retain_until.ToDatetime(tzinfo=UTC) if reply.HasField("retain_until") else None
        )
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                UPDATE retention.recordings SET
                    lock_supported = %(supported)s,
                    lock_confirmed = CASE WHEN %(supported)s THEN %(until)s::timestamptz END,
                    hold_confirmed = %(hold)s,
                    protect_detail = %(detail)s,
                    protect_pending = %(found)s AND %(supported)s
                        AND NOT (coalesce(%(until)s::timestamptz >= lock_wanted,
                                          lock_wanted IS NULL)
                                 AND %(hold)s = hold_wanted)
                WHERE call_id = %(call_id)s
                """,
                {
                    "supported": reply.lock_supported,
                    "until": confirmed,
                    "hold": reply.legal_hold,
                    "detail": reply.detail or ("" if reply.found else "recorder has no recording"),
                    "found": reply.found,
                    "call_id": reply.call_id,
                },
            )
