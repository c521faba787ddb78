"""Executing retention commands inside a service that holds call data, written once.

Retention decides what must go; the recorder, transcriber and analyzer each delete their own
data (no service touches another's tables). Retention sends on `callscope.retention.commands`:

- `PurgeCalls` (a batch of targets, key batch_id) or `PurgeCall` (one call, key call_id);
- `ProtectRecording` (Object Lock retention and legal-hold flag of one recording).

Each service plugs in a `PurgeExecutor` (its batched delete, run inside one transaction) and,
for the recorder, a `RecordingProtector`; `RetentionCommandHandler` does the rest:

- keeps only the targets whose data kinds the service holds;
- idempotence: every executed (request_id, call_id) is written to `<schema>.purge_log` in the
  same transaction as the delete, so a redelivered command is answered from the log without
  touching anything, and a crash before the commit re-executes cleanly (deletes are
  idempotent; object deletes of already-missing objects count as nothing deleted);
- answers on `callscope.retention.events` with `CallsPurged` / `CallPurged` /
  `RecordingProtected`. Data already gone is a clear `ALREADY_GONE`, never an error.

    handler = RetentionCommandHandler(rt.db, rt.producer, MyExecutor(...))
    rt.add_consumer("callscope-<service>-retention", [RETENTION_COMMANDS], handler)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf.message import Message
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import events_pb2

from .kafka import ConsumedEvent
from .topics import RETENTION_EVENTS, Topic

log = logging.getLogger(__name__)

# The data kinds retention manages, and the one service that holds each.
RECORDING = "recording"
TRANSCRIPT = "transcript"
ANALYSIS = "analysis"
DATA_KINDS: tuple[str, ...] = (RECORDING, TRANSCRIPT, ANALYSIS)
KIND_SERVICE: dict[str, str] = {
    RECORDING: "recorder",
    TRANSCRIPT: "transcriber",
    ANALYSIS: "analyzer",
}

DELETED = events_pb2.PURGE_STATUS_DELETED
ALREADY_GONE = events_pb2.PURGE_STATUS_ALREADY_GONE
REFUSED_LOCKED = events_pb2.PURGE_STATUS_REFUSED_LOCKED
FAILED = events_pb2.PURGE_STATUS_FAILED

STATUS_NAMES: dict[int, str] = {
    DELETED: "deleted",
    ALREADY_GONE: "already_gone",
    REFUSED_LOCKED: "refused_locked",
    FAILED: "failed",
}
_FINAL = (DELETED, ALREADY_GONE)  # outcomes that are logged; refusals are re-evaluated


def status_name(value: int) -> str:
    return STATUS_NAMES.get(value, "unspecified")


def status_value(name: str) -> int:
    for value, known in STATUS_NAMES.items():
        if known == name:
            return value
    raise ValueError(f"unknown purge status {name!r}")


@dataclass
class PurgeOutcome:
    call_id: str
    status: int
    objects_deleted: int = 0
    rows_deleted: int = 0
    content_sha256: str = ""
    detail: str = ""


class PurgeExecutor(Protocol):
    """A service's delete: `purge` runs inside the transaction that also logs the outcome."""

    service: str
    schema: str
    data_kinds: frozenset[str]

    async def purge(self, conn: AsyncConnection, call_ids: Sequence[str]) -> list[PurgeOutcome]:
        """Delete everything this service holds for `call_ids`; one outcome per call id.

        A call with nothing stored is `ALREADY_GONE`; an object the store refuses to delete
        (Object Lock) is `REFUSED_LOCKED` and its rows stay.
        """
        ...


@dataclass(frozen=True)
class ProtectOutcome:
    found: bool
    lock_supported: bool
    retain_until: datetime | None
    legal_hold: bool
    detail: str = ""


class RecordingProtector(Protocol):
    async def protect(
        self, call_id: str, retain_until: datetime | None, legal_hold: bool
    ) -> ProtectOutcome: ...


class Publisher(Protocol):
    async def publish(self, topic: Topic | str, key: str, message: Message) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def _relevant(kinds: Sequence[str], held: frozenset[str]) -> bool:
    return not kinds or bool(held.intersection(kinds))


class RetentionCommandHandler:
    """The consumer handler for callscope.retention.commands in one service."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        producer: Publisher,
        executor: PurgeExecutor,
        *,
        protector: RecordingProtector | None = None,
        clock: Callable[[], datetime] = utc_now,
        events_topic: Topic = RETENTION_EVENTS,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._executor = executor
        self._protector = protector
        self._clock = clock
        self._topic = events_topic
        self._log_table = sql.Identifier(executor.schema, "purge_log")
        self.executed = 0
        self.replayed = 0

    async def __call__(self, event: ConsumedEvent) -> None:
        message = event.message
        if isinstance(message, events_pb2.PurgeCalls):
            reply = await self.execute_batch(message)
            if reply is not None:
                await self._producer.publish(self._topic, reply.batch_id, reply)
        elif isinstance(message, events_pb2.PurgeCall):
            batch = events_pb2.PurgeCalls(
                request_id=message.request_id,
                batch_id=message.request_id,
                reason=message.reason,
                targets=[
                    events_pb2.PurgeTarget(
                        call_id=message.call_id, data_kinds=list(message.data_kinds)
                    )
                ],
            )
            reply = await self.execute_batch(batch)
            if reply is not None:
                [single] = reply.results
                await self._producer.publish(self._topic, message.call_id, single)
        elif isinstance(message, events_pb2.ProtectRecording) and self._protector is not None:
            await self._producer.publish(self._topic, message.call_id, await self.protect(message))

    async def execute_batch(self, command: events_pb2.PurgeCalls) -> events_pb2.CallsPurged | None:
        """Execute the targets this service holds; None when none concerns it."""
        service = self._executor.service
        held = self._executor.data_kinds
        targets = [t for t in command.targets if _relevant(t.data_kinds, held)]
        if not targets:
            return None
        request_id = command.request_id or command.batch_id
        results: dict[str, PurgeOutcome] = {}
        purged_at: dict[str, datetime] = {}
        invalid = [t.call_id for t in targets if not t.call_id.strip()]
        for call_id in invalid:
            results[call_id] = PurgeOutcome(call_id, FAILED, detail="empty call id in target")
        call_ids = list(dict.fromkeys(t.call_id for t in targets if t.call_id.strip()))
        now = self._clock()
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                sql.SQL(
                    "SELECT call_id, status, objects_deleted, rows_deleted, content_sha256,"
                    " detail, executed_at FROM {} WHERE request_id = %s AND call_id = ANY(%s)"
                ).format(self._log_table),
                (request_id, call_ids),
            )
            for row in await cur.fetchall():
                r = _row(row)
                results[r[0]] = PurgeOutcome(r[0], status_value(r[1]), r[2], r[3], r[4], r[5])
                purged_at[r[0]] = r[6]
            todo = [c for c in call_ids if c not in results]
            self.replayed += len(call_ids) - len(todo)
            if todo:
                outcomes = await self._executor.purge(conn, todo)
                by_call = {o.call_id: o for o in outcomes}
                missing = [c for c in todo if c not in by_call]
                if missing:
                    raise RuntimeError(f"{service} executor returned no outcome for {missing}")
                await self._explain_already_gone(conn, request_id, by_call)
                final = [by_call[c] for c in todo if by_call[c].status in _FINAL]
                if final:
                    await self._write_log(conn, request_id, command, final, now)
                for call_id in todo:
                    results[call_id] = by_call[call_id]
                    purged_at[call_id] = now
                self.executed += len(todo)
        reply = events_pb2.CallsPurged(
            request_id=request_id, batch_id=command.batch_id or request_id, service=service
        )
        kinds_of = {
            t.call_id: [k for k in (t.data_kinds or DATA_KINDS) if k in held] for t in targets
        }
        for call_id, outcome in results.items():
            item = reply.results.add(
                request_id=request_id,
                call_id=call_id,
                service=service,
                objects_deleted=outcome.objects_deleted,
                rows_deleted=outcome.rows_deleted,
                status=outcome.status,
                detail=outcome.detail,
                data_kinds=sorted(kinds_of.get(call_id, held)),
                content_sha256=outcome.content_sha256,
                batch_id=reply.batch_id,
            )
            when = purged_at.get(call_id)
            if when is not None:
                item.purged_at.FromDatetime(when)
        counts = _count(results.values())
        log.info(
            "%s: purge batch %s of request %s: %s",
            service,
            reply.batch_id,
            request_id,
            ", ".join(f"{k} {v}" for k, v in counts.items()),
        )
        return reply

    async def _explain_already_gone(
        self, conn: AsyncConnection, request_id: str, outcomes: dict[str, PurgeOutcome]
    ) -> None:
        gone = [c for c, o in outcomes.items() if o.status == ALREADY_GONE]
        if not gone:
            return
        cur = await conn.execute(
            sql.SQL(
                "SELECT DISTINCT ON (call_id) call_id, request_id, executed_at FROM {}"
                " WHERE call_id = ANY(%s) AND request_id <> %s AND status = 'deleted'"
                " ORDER BY call_id, executed_at"
            ).format(self._log_table),
            (gone, request_id),
        )
        earlier = {r[0]: (r[1], r[2]) for r in map(_row, await cur.fetchall())}
        for call_id in gone:
            outcome = outcomes[call_id]
            if call_id in earlier:
                by, at = earlier[call_id]
                outcome.detail = (
                    f"already purged by request {by} at {at.isoformat()}; nothing deleted now"
                )
            elif not outcome.detail:
                outcome.detail = f"no {self._executor.service} data for this call; nothing deleted"

    async def _write_log(
        self,
        conn: AsyncConnection,
        request_id: str,
        command: events_pb2.PurgeCalls,
        outcomes: list[PurgeOutcome],
        now: datetime,
    ) -> None:
        await conn.execute(
            sql.SQL(
                "INSERT INTO {} (request_id, call_id, batch_id, reason, status, objects_deleted,"
                " rows_deleted, content_sha256, detail, executed_at)"
                " SELECT %s, c, %s, %s, s, o, r, h, d, %s"
                " FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[],"
                " %s::text[]) AS t(c, s, o, r, h, d)"
                " ON CONFLICT (request_id, call_id) DO NOTHING"
            ).format(self._log_table),
            (
                request_id,
                command.batch_id,
                command.reason,
                now,
                [o.call_id for o in outcomes],
                [status_name(o.status) for o in outcomes],
                [o.objects_deleted for o in outcomes],
                [o.rows_deleted for o in outcomes],
                [o.content_sha256 for o in outcomes],
                [o.detail for o in outcomes],
            ),
        )

    async def protect(self, command: events_pb2.ProtectRecording) -> events_pb2.RecordingProtected:
        assert self._protector is not None
        retain_until = (
            command.retain_until.ToDatetime(tzinfo=UTC)
            if command.HasField("retain_until")
            else None
        )
        outcome = await self._protector.protect(command.call_id, retain_until, command.legal_hold)
        reply = events_pb2.RecordingProtected(
            request_id=command.request_id or str(uuid.uuid4()),
            call_id=command.call_id,
            service=self._executor.service,
            lock_supported=outcome.lock_supported,
            legal_hold=outcome.legal_hold,
            detail=outcome.detail,
            found=outcome.found,
        )
        if outcome.retain_until is not None:
            reply.retain_until.FromDatetime(outcome.retain_until)
        log.info(
            "%s: protect recording of call %s: lock %s until %s, legal hold %s (%s)",
            self._executor.service,
            command.call_id,
            "supported" if outcome.lock_supported else "unsupported",
            outcome.retain_until,
            outcome.legal_hold,
            outcome.detail or "ok",
        )
        return reply


def _row(row: object) -> tuple:
    """Rows come as dicts from the service pools (dict_row) or tuples elsewhere."""
    if isinstance(row, dict):
        return tuple(row.values())
    return tuple(row)  # type: ignore[arg-type]


def _count(outcomes: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:  # type: ignore[attr-defined]
        name = status_name(outcome.status)
        counts[name] = counts.get(name, 0) + 1
    return counts


async def rows_by_call(
    conn: AsyncConnection, query: sql.Composable, call_ids: Sequence[str]
) -> dict[str, int]:
    """Run a `DELETE ... WHERE call_id = ANY(%s) RETURNING call_id` and count rows per call."""
    cur = await conn.execute(query, (list(call_ids),))
    counts: dict[str, int] = {}
    for row in await cur.fetchall():
        call_id = _row(row)[0]
        counts[call_id] = counts.get(call_id, 0) + 1
    return counts


def row_purge_outcomes(
    call_ids: Sequence[str], rows_deleted: Mapping[str, int], data: str
) -> list[PurgeOutcome]:
    """One outcome per call for a service whose data is rows only (transcriber, analyzer):
    `DELETED` with its row count, or `ALREADY_GONE` when none of its `data` rows was found, so
    both services word the answer alike."""
    return [
        PurgeOutcome(c, DELETED, rows_deleted=rows_deleted[c])
        if rows_deleted.get(c)
        else PurgeOutcome(
            c, ALREADY_GONE, detail=f"no {data} stored for this call; nothing deleted"
        )
        for c in call_ids
    ]
