"""Purge runs: find expired data in batches, hand it to the services that hold it, record
their confirmations, and resend what stays unconfirmed.

State machine of one (request, call, service) item in retention.purge_items:
pending (committed, not yet published) -> sent -> deleted | already_gone | refused_locked |
failed (| cancelled by a legal hold while still pending). The matching data_items go
live -> purging -> purged (or back to live on a refusal). Every step is committed before the
next message goes out, so a crash anywhere resumes: pending/sent items older than
`retry_after` are sent again, and the services answer a repeated command from their log.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import events_pb2
from callscope_core.purge import DATA_KINDS, KIND_SERVICE, Publisher, status_name
from callscope_core.topics import RETENTION_COMMANDS

from .auditlog import AuditLog
from .policies import PolicyStore

log = logging.getLogger(__name__)

OPEN = ("pending", "sent")
FINAL_OK = ("deleted", "already_gone")
RUN_LOCK_ID = 0x7075726E  # "purn"

_HELD = """(%(holds)s AND EXISTS (SELECT 1 FROM retention.hold_coverage hc
                                 WHERE hc.call_id = d.call_id AND hc.released_at IS NULL))"""
_LOCKED = """(d.data_kind = 'recording' AND r.lock_supported IS TRUE
             AND r.lock_confirmed > %(now)s)"""


@dataclass(frozen=True)
class Item:
    call_id: str
    service: str
    data_kinds: tuple[str, ...]


@dataclass
class PlanResult:
    as_of: datetime
    policy_version: int
    calls: int = 0
    items_by_kind: dict[str, int] = field(default_factory=dict)
    held_items: int = 0
    locked_items: int = 0
    in_flight_items: int = 0
    sample: list[dict] = field(default_factory=list)
    kept_sample: list[dict] = field(default_factory=list)


@dataclass
class RunStatus:
    request_id: str
    kind: str
    status: str
    calls: int = 0
    items: int = 0
    items_confirmed: int = 0
    items_refused: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pending_by_service: dict[str, int] = field(default_factory=dict)


CompletionHook = Callable[[AsyncConnection, str, str, datetime], Awaitable[None]]


def items_from_kinds(rows: Iterable[tuple[str, str]]) -> list[Item]:
    """(call_id, data_kind) pairs -> one item per call and service."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for call_id, kind in rows:
        grouped[(call_id, KIND_SERVICE[kind])].append(kind)
    return [Item(c, s, tuple(sorted(k))) for (c, s), k in grouped.items()]


def batches(items: Sequence[Item], calls_per_batch: int) -> list[list[Item]]:
    by_call: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_call[item.call_id].append(item)
    calls = list(by_call)
    return [
        [i for c in calls[n : n + calls_per_batch] for i in by_call[c]]
        for n in range(0, len(calls), calls_per_batch)
    ]


class PurgeService:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        publisher: Publisher,
        audit: AuditLog,
        policies: PolicyStore,
        clock: Callable[[], datetime],
        *,
        batch_size: int = 500,
        max_per_run: int = 100_000,
        retry_after: timedelta = timedelta(minutes=5),
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._audit = audit
        self._policies = policies
        self._clock = clock
        self.batch_size = batch_size
        self.max_per_run = max_per_run
        self.retry_after = retry_after
        self.on_request_complete: CompletionHook | None = None

    # -- dry run ---------------------------------------------------------------------------
    async def plan(self, as_of: datetime | None = None, limit: int = 20) -> PlanResult:
        now = as_of or self._clock()
        async with self._pool.connection() as conn:
            policy = await self._policies.active(conn)
            result = PlanResult(now, policy.version)
            params = {"now": now, "holds": await _any_active_hold(conn), "limit": limit}
            cur = await conn.execute(
                f"""
                WITH due AS (
                    SELECT d.call_id, d.data_kind, {_HELD} AS held, {_LOCKED} AS locked
                    FROM retention.data_items d JOIN retention.recordings r USING (call_id)
                    WHERE d.state = 'live' AND d.expires_at <= %(now)s
                )
                SELECT data_kind,
                       count(*) FILTER (WHERE NOT held AND NOT locked) AS due,
                       count(*) FILTER (WHERE held) AS held,
                       count(*) FILTER (WHERE locked AND NOT held) AS locked,
                       (SELECT count(DISTINCT call_id) FROM due
                         WHERE NOT held AND NOT locked) AS calls
                FROM due GROUP BY data_kind
                """,
                params,
            )
            for row in await cur.fetchall():
                if row["due"]:
                    result.items_by_kind[row["data_kind"]] = row["due"]
                result.held_items += row["held"]
                result.locked_items += row["locked"]
                result.calls = row["calls"]
            cur = await conn.execute(
                f"""
                SELECT d.call_id, array_agg(d.data_kind ORDER BY d.data_kind) AS kinds,
                       min(d.expires_at) AS expires_at, r.tenant, r.queue
                FROM retention.data_items d JOIN retention.recordings r USING (call_id)
                WHERE d.state = 'live' AND d.expires_at <= %(now)s
                  AND NOT {_HELD} AND NOT {_LOCKED}
                GROUP BY d.call_id, r.tenant, r.queue
                ORDER BY min(d.expires_at), d.call_id LIMIT %(limit)s
                """,
                params,
            )
            result.sample = [dict(r) for r in await cur.fetchall()]
            cur = await conn.execute(
                f"""
                SELECT d.call_id, d.data_kind,
                       CASE WHEN {_HELD} THEN 'legal hold: ' || (
                                SELECT string_agg(h.hold_id || ' (' || h.reason || ')', ', ')
                                FROM retention.hold_coverage hc JOIN retention.holds h
                                USING (hold_id)
                                WHERE hc.call_id = d.call_id AND hc.released_at IS NULL)
                            ELSE 'Object Lock retention until ' || r.lock_confirmed::text
                       END AS reason
                FROM retention.data_items d JOIN retention.recordings r USING (call_id)
                WHERE d.state = 'live' AND d.expires_at <= %(now)s AND ({_HELD} OR {_LOCKED})
                ORDER BY d.call_id, d.data_kind LIMIT %(limit)s
                """,
                params,
            )
            result.kept_sample = [dict(r) for r in await cur.fetchall()]
            cur = await conn.execute(
                "SELECT count(*) AS n FROM retention.purge_items WHERE status IN ('pending','sent')"
            )
            result.in_flight_items = (await cur.fetchone())["n"]
        return result

    # -- a run -----------------------------------------------------------------------------
    async def run(self, kind: str = "schedule", requested_by: str = "scheduler") -> RunStatus:
        """Purge everything due now (up to max_per_run items), batch by batch."""
        now = self._clock()
        request_id = str(uuid.uuid4())
        total = 0
        async with self._pool.connection() as lock_conn:
            cur = await lock_conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (RUN_LOCK_ID,))
            if not (await cur.fetchone())["ok"]:
                log.info("another purge run is in progress; skipping")
                return RunStatus("", kind, "busy")
            try:
                while total < self.max_per_run:
                    limit = min(self.batch_size * len(DATA_KINDS), self.max_per_run - total)
                    planned = await self._claim_batch(request_id, kind, requested_by, now, limit)
                    if not planned:
                        break
                    total += sum(len(i.data_kinds) for _, batch in planned for i in batch)
                    await self.publish(request_id, planned, reason="expired")
                if total:
                    async with self._pool.connection() as conn, conn.transaction():
                        await conn.execute(
                            "UPDATE retention.purge_runs SET claimed = true WHERE request_id = %s",
                            (request_id,),
                        )
                        await self.maybe_complete(conn, request_id, self._clock())
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK_ID,))
        if total == 0:
            return RunStatus("", kind, "empty")
        log.info("purge run %s: %d data items of expired calls sent", request_id, total)
        return await self.status(request_id)

    async def _claim_batch(
        self, request_id: str, kind: str, requested_by: str, now: datetime, limit: int
    ) -> list[tuple[str, list[Item]]]:
        async with self._pool.connection() as conn, conn.transaction():
            params = {"now": now, "holds": await _any_active_hold(conn), "limit": limit}
            cur = await conn.execute(
                f"""
                SELECT d.call_id, d.data_kind
                FROM retention.data_items d JOIN retention.recordings r USING (call_id)
                WHERE d.state = 'live' AND d.expires_at <= %(now)s
                  AND NOT {_LOCKED} AND NOT {_HELD}
                ORDER BY d.expires_at, d.call_id, d.data_kind
                LIMIT %(limit)s
                FOR UPDATE OF d SKIP LOCKED
                """,
                params,
            )
            rows = [(r["call_id"], r["data_kind"]) for r in await cur.fetchall()]
            if not rows:
                return []
            first = await self._open_run(conn, request_id, kind, requested_by, now)
            planned = self.plan_batches(items_from_kinds(rows))
            await self.claim(conn, request_id, planned, now)
            if first:
                policy = await self._policies.active(conn)
                await self._audit.append(
                    conn,
                    at=now,
                    actor=requested_by,
                    action="purge.start",
                    subject=f"purge:{request_id}",
                    details={"kind": kind, "policy_version": policy.version},
                )
            return planned

    async def _open_run(
        self, conn: AsyncConnection, request_id: str, kind: str, requested_by: str, now: datetime
    ) -> bool:
        cur = await conn.execute(
            "INSERT INTO retention.purge_runs (request_id, kind, requested_by, started_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (request_id, kind, requested_by, now),
        )
        return cur.rowcount == 1

    def plan_batches(self, items: Sequence[Item]) -> list[tuple[str, list[Item]]]:
        return [(str(uuid.uuid4()), batch) for batch in batches(items, self.batch_size)]

    async def claim(
        self,
        conn: AsyncConnection,
        request_id: str,
        planned: Sequence[tuple[str, Sequence[Item]]],
        now: datetime,
    ) -> None:
        """Record items as sent in their batches (the commands go out right after the commit;
        a failed publish puts them back to pending) and mark their data as being purged."""
        items = [(batch_id, i) for batch_id, batch in planned for i in batch]
        await conn.execute(
            """
            INSERT INTO retention.purge_items (request_id, call_id, service, data_kinds, status,
                batch_id, attempts, sent_at)
            SELECT %s, c, s, string_to_array(k, ','), 'sent', b, 1, %s
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS t(c, s, k, b)
            ON CONFLICT DO NOTHING
            """,
            (
                request_id,
                now,
                [i.call_id for _, i in items],
                [i.service for _, i in items],
                [",".join(i.data_kinds) for _, i in items],
                [b for b, _ in items],
            ),
        )
        pairs = [(i.call_id, k) for _, i in items for k in i.data_kinds]
        await conn.execute(
            """
            UPDATE retention.data_items d SET state = 'purging', request_id = %s
            FROM unnest(%s::text[], %s::text[]) AS t(call_id, kind)
            WHERE d.call_id = t.call_id AND d.data_kind = t.kind
            """,
            (request_id, [p[0] for p in pairs], [p[1] for p in pairs]),
        )
        await conn.execute(
            "UPDATE retention.purge_runs SET calls = calls + %s, items = items + %s"
            " WHERE request_id = %s",
            (len({i.call_id for _, i in items}), len(items), request_id),
        )

    @staticmethod
    def command(
        request_id: str, batch_id: str, batch: Sequence[Item], reason: str
    ) -> events_pb2.PurgeCalls:
        kinds: dict[str, set[str]] = defaultdict(set)
        for item in batch:
            kinds[item.call_id].update(item.data_kinds)
        return events_pb2.PurgeCalls(
            request_id=request_id,
            batch_id=batch_id,
            reason=reason,
            targets=[
                events_pb2.PurgeTarget(
                    call_id=c, data_kinds=sorted(k) if set(k) != set(DATA_KINDS) else []
                )
                for c, k in kinds.items()
            ],
        )

    async def publish(
        self, request_id: str, planned: Sequence[tuple[str, Sequence[Item]]], *, reason: str
    ) -> None:
        """Publish claimed batches; if the broker fails, what did not go out is pending again
        (sent at the next maintenance step) and the error propagates."""
        for n, (batch_id, batch) in enumerate(planned):
            try:
                await self._publisher.publish(
                    RETENTION_COMMANDS, batch_id, self.command(request_id, batch_id, batch, reason)
                )
            except BaseException:
                unsent = [b for b, _ in planned[n:]]
                async with self._pool.connection() as conn:
                    await conn.execute(
                        "UPDATE retention.purge_items SET status = 'pending', sent_at = NULL"
                        " WHERE request_id = %s AND batch_id = ANY(%s) AND status = 'sent'",
                        (request_id, unsent),
                    )
                raise

    async def resend(self, now: datetime | None = None, limit: int = 5000) -> int:
        """Send again what no service confirmed within retry_after (or never left: a failed
        publish, a crash between commit and publish)."""
        now = now or self._clock()
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                SELECT p.request_id, p.call_id, p.service, p.data_kinds, r.kind
                FROM retention.purge_items p JOIN retention.purge_runs r USING (request_id)
                WHERE p.status IN ('pending', 'sent')
                  AND (p.sent_at IS NULL OR p.sent_at < %s)
                ORDER BY p.request_id, p.call_id LIMIT %s
                """,
                (now - self.retry_after, limit),
            )
            rows = await cur.fetchall()
        by_request: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for row in rows:
            by_request[(row["request_id"], row["kind"])].append(
                Item(row["call_id"], row["service"], tuple(row["data_kinds"]))
            )
        for (request_id, kind), items in by_request.items():
            log.warning(
                "purge request %s: %d item(s) unconfirmed; sending again", request_id, len(items)
            )
            reason = "erasure" if kind == "erasure" else "expired"
            for batch_id, batch in self.plan_batches(items):
                await self._publisher.publish(
                    RETENTION_COMMANDS, batch_id, self.command(request_id, batch_id, batch, reason)
                )
                async with self._pool.connection() as conn:
                    await conn.execute(
                        """
                        UPDATE retention.purge_items p SET status = 'sent', sent_at = %s,
                            attempts = attempts + 1, batch_id = %s
                        FROM unnest(%s::text[], %s::text[]) AS t(call_id, service)
                        WHERE p.request_id = %s AND p.call_id = t.call_id
                          AND p.service = t.service AND p.status IN ('pending', 'sent')
                        """,
                        (
                            now,
                            batch_id,
                            [i.call_id for i in batch],
                            [i.service for i in batch],
                            request_id,
                        ),
                    )
        return len(rows)

    # -- confirmations ---------------------------------------------------------------------
    async def confirmed(self, reply: events_pb2.CallsPurged) -> int:
        """Record a service's answers; idempotent (only open items change)."""
        if not reply.results:
            return 0
        now = self._clock()
        results = list(reply.results)
        request_id = reply.request_id or results[0].request_id
        service = reply.service or results[0].service
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """
                UPDATE retention.purge_items p SET status = t.status, confirmed_at = %s,
                    objects_deleted = t.objects, rows_deleted = t.rows, content_sha256 = t.sha,
                    detail = t.detail
                FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[],
                            %s::text[]) AS t(call_id, status, objects, rows, sha, detail)
                WHERE p.request_id = %s AND p.service = %s AND p.call_id = t.call_id
                  -- open items only (idempotent); written so the primary key drives the join
                  AND p.confirmed_at IS NULL AND p.status <> 'cancelled'
                RETURNING p.call_id, p.data_kinds, p.status
                """,
                (
                    now,
                    [r.call_id for r in results],
                    [status_name(r.status) for r in results],
                    [r.objects_deleted for r in results],
                    [r.rows_deleted for r in results],
                    [r.content_sha256 for r in results],
                    [r.detail for r in results],
                    request_id,
                    service,
                ),
                # Planned with the real values each time: a generic plan guesses the selectivity
                # of request_id/service and scans every open item per confirmation.
                prepare=False,
            )
            updated = await cur.fetchall()
            if not updated:
                log.info(
                    "confirmation from %s for request %s changed nothing (repeat or unknown)",
                    service,
                    request_id,
                )
                return 0
            done = [
                (u["call_id"], k)
                for u in updated
                if u["status"] in FINAL_OK
                for k in u["data_kinds"]
            ]
            back = [
                (u["call_id"], k)
                for u in updated
                if u["status"] not in FINAL_OK
                for k in u["data_kinds"]
            ]
            if done:
                await conn.execute(
                    """
                    UPDATE retention.data_items d
                    SET state = CASE WHEN d.request_id = %s THEN 'purged' ELSE d.state END,
                        purged_at = CASE WHEN d.request_id = %s THEN %s ELSE d.purged_at END
                    FROM unnest(%s::text[], %s::text[]) AS t(call_id, kind)
                    WHERE d.call_id = t.call_id AND d.data_kind = t.kind
                    """,
                    # (request_id only in SET: a filter on it misleads the planner into a scan)
                    (request_id, request_id, now, [p[0] for p in done], [p[1] for p in done]),
                )
                await self._finish_calls(conn, sorted({p[0] for p in done}), now)
            if back:
                calls = sorted({p[0] for p in back})
                log.warning(
                    "%s refused or failed to purge %d call(s) of request %s (e.g. %s: %s)",
                    service,
                    len(calls),
                    request_id,
                    calls[0],
                    next(r.detail for r in results if r.call_id == calls[0]),
                )
                await conn.execute(
                    """
                    UPDATE retention.data_items d
                    SET state = CASE WHEN d.request_id = %s THEN 'live' ELSE d.state END,
                        request_id = CASE WHEN d.request_id = %s THEN NULL ELSE d.request_id END
                    FROM unnest(%s::text[], %s::text[]) AS t(call_id, kind)
                    WHERE d.call_id = t.call_id AND d.data_kind = t.kind
                    """,
                    (request_id, request_id, [p[0] for p in back], [p[1] for p in back]),
                )
                # Learn the lock that refused us, so later runs skip it until it ends.
                await conn.execute(
                    "UPDATE retention.recordings SET protect_pending = true,"
                    " protect_sent_at = NULL WHERE call_id = ANY(%s)",
                    (calls,),
                )
            await self.maybe_complete(conn, request_id, now)
        return len(updated)

    async def _finish_calls(
        self, conn: AsyncConnection, call_ids: list[str], now: datetime
    ) -> None:
        """A call whose every data item is purged: recording state purged, parties pseudonymized
        (retention keeps no phone number of a call that no longer exists)."""
        cur = await conn.execute(
            """
            UPDATE retention.recordings r SET state = 'purged', purged_at = %s,
                protect_pending = false
            WHERE r.call_id = ANY(%s) AND r.state = 'live'
              AND NOT EXISTS (SELECT 1 FROM retention.data_items d
                              WHERE d.call_id = r.call_id AND d.state <> 'purged')
            RETURNING r.call_id
            """,
            (now, call_ids),
        )
        finished = [r["call_id"] for r in await cur.fetchall()]
        if finished:
            await conn.execute(
                """
                UPDATE retention.call_parties
                SET party_key = 'sha256:' || encode(sha256(convert_to(party_key, 'UTF8')), 'hex'),
                    aor = ''
                WHERE call_id = ANY(%s) AND party_key NOT LIKE 'sha256:%%'
                """,
                (finished,),
            )

    async def maybe_complete(self, conn: AsyncConnection, request_id: str, now: datetime) -> None:
        cur = await conn.execute(
            "SELECT 1 FROM retention.purge_items WHERE request_id = %s"
            " AND status IN ('pending', 'sent') LIMIT 1",
            (request_id,),
        )
        if await cur.fetchone() is not None:
            return
        cur = await conn.execute(
            "UPDATE retention.purge_runs SET finished_at = %s WHERE request_id = %s"
            " AND claimed AND finished_at IS NULL RETURNING kind, requested_by, calls, items",
            (now, request_id),
        )
        run = await cur.fetchone()
        if run is None:
            return
        cur = await conn.execute(
            "SELECT status, count(*) AS n FROM retention.purge_items WHERE request_id = %s"
            " GROUP BY status ORDER BY status",
            (request_id,),
        )
        outcome = {r["status"]: r["n"] for r in await cur.fetchall()}
        await self._audit.append(
            conn,
            at=now,
            actor="retention",
            action="purge.complete",
            subject=f"purge:{request_id}",
            details={"kind": run["kind"], "calls": run["calls"], "items": outcome},
        )
        log.info("purge request %s complete: %s", request_id, outcome)
        if self.on_request_complete is not None:
            await self.on_request_complete(conn, request_id, run["kind"], now)

    async def status(self, request_id: str) -> RunStatus:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM retention.purge_runs WHERE request_id = %s", (request_id,)
            )
            run = await cur.fetchone()
            if run is None:
                from .errors import NotFoundError

                raise NotFoundError(f"no purge run {request_id!r}")
            cur = await conn.execute(
                "SELECT service, status, count(*) AS n FROM retention.purge_items"
                " WHERE request_id = %s GROUP BY service, status",
                (request_id,),
            )
            rows = await cur.fetchall()
        status = RunStatus(
            request_id,
            run["kind"],
            "complete" if run["finished_at"] else "running",
            calls=run["calls"],
            items=run["items"],
            started_at=run["started_at"],
            finished_at=run["finished_at"],
        )
        for row in rows:
            if row["status"] in FINAL_OK:
                status.items_confirmed += row["n"]
            elif row["status"] in ("refused_locked", "failed"):
                status.items_refused += row["n"]
            elif row["status"] in OPEN:
                status.pending_by_service[row["service"]] = (
                    status.pending_by_service.get(row["service"], 0) + row["n"]
                )
        return status


async def _any_active_hold(conn: AsyncConnection) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM retention.holds WHERE released_at IS NULL) AS any"
    )
    return bool((await cur.fetchone())["any"])


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
