"""Legal holds: on a call, a customer, an agent or a date range, with reason and who.

Held data is never purged while held (the purge query excludes it, an erasure keeps it), and
the recordings a hold covers get the Object Lock legal-hold flag through the recorder.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

from .auditlog import AuditLog
from .domain.subjects import SubjectError, customer_key, party_key
from .errors import ConflictError, InvalidRequestError, NotFoundError, PreconditionError
from .registry import refresh_hold_wanted

log = logging.getLogger(__name__)


@dataclass
class Hold:
    hold_id: str
    scope: str
    subject_key: str
    reason: str
    placed_by: str
    placed_at: datetime
    range_from: datetime | None = None
    range_to: datetime | None = None
    tenant: str = ""
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None
    calls_covered: int = 0
    in_flight: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        if self.scope == "range":
            assert self.range_from and self.range_to
            return f"{self.range_from.isoformat()}..{self.range_to.isoformat()}"
        return self.subject_key

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Hold:
        return cls(
            row["hold_id"],
            row["scope"],
            row["subject_key"],
            row["reason"],
            row["placed_by"],
            row["placed_at"],
            row["range_from"],
            row["range_to"],
            row["tenant"],
            row["released_at"],
            row["released_by"],
            row["release_reason"],
        )


@dataclass(frozen=True)
class HoldRequest:
    reason: str
    placed_by: str
    call_id: str = ""
    customer: str = ""
    agent_id: str = ""
    range_from: datetime | None = None
    range_to: datetime | None = None
    tenant: str = ""


class HoldService:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        audit: AuditLog,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._audit = audit
        self._clock = clock

    @staticmethod
    def _scope(request: HoldRequest) -> tuple[str, str]:
        given = [
            name
            for name, value in (
                ("call", request.call_id),
                ("customer", request.customer),
                ("agent", request.agent_id),
                ("range", request.range_from or request.range_to),
            )
            if value
        ]
        if len(given) != 1:
            raise InvalidRequestError(
                "a legal hold names exactly one of: a call, a customer, an agent, a date range"
                f" (got {', '.join(given) or 'none'})"
            )
        scope = given[0]
        if scope == "call":
            return scope, request.call_id.strip()
        if scope == "customer":
            try:
                return scope, customer_key(request.customer)
            except SubjectError as exc:
                raise InvalidRequestError(str(exc)) from None
        if scope == "agent":
            return scope, party_key(request.agent_id)
        if request.range_from is None or request.range_to is None:
            raise InvalidRequestError("a date-range hold needs both range_from and range_to")
        if request.range_from >= request.range_to:
            raise InvalidRequestError(
                f"empty date range: {request.range_from.isoformat()} is not before"
                f" {request.range_to.isoformat()}"
            )
        return scope, ""

    async def place(self, request: HoldRequest) -> Hold:
        if not request.reason.strip():
            raise InvalidRequestError("a legal hold needs a reason")
        if not request.placed_by.strip():
            raise InvalidRequestError("a legal hold needs who places it (placed_by)")
        scope, key = self._scope(request)
        now = self._clock()
        hold = Hold(
            str(uuid.uuid4()),
            scope,
            key,
            request.reason.strip(),
            request.placed_by.strip(),
            now,
            request.range_from if scope == "range" else None,
            request.range_to if scope == "range" else None,
            request.tenant if scope == "range" else "",
        )
        async with self._pool.connection() as conn, conn.transaction():
            await self._check_subject_known(conn, scope, key, request)
            conflict = await self._active_same(conn, hold)
            if conflict is not None:
                raise ConflictError(
                    f"conflicting hold: hold {conflict.hold_id} (placed by {conflict.placed_by}"
                    f" on {conflict.placed_at.date()}: {conflict.reason}) already holds this"
                    f" {scope} {conflict.subject}"
                )
            try:
                await conn.execute(
                    "INSERT INTO retention.holds (hold_id, scope, subject_key, range_from,"
                    " range_to, tenant, reason, placed_by, placed_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        hold.hold_id,
                        scope,
                        key,
                        hold.range_from,
                        hold.range_to,
                        hold.tenant,
                        hold.reason,
                        hold.placed_by,
                        now,
                    ),
                )
            except errors.UniqueViolation:
                raise ConflictError(f"conflicting hold: this {scope} is already held") from None
            covered = await self._covered(conn, hold.hold_id)
            hold.calls_covered = len(covered)
            # Not yet handed to a service: taken back. Already sent: cannot be recalled.
            cur = await conn.execute(
                """
                UPDATE retention.purge_items SET status = 'cancelled', detail = %s
                WHERE call_id = ANY(%s) AND status = 'pending'
                RETURNING request_id, call_id, data_kinds
                """,
                (f"cancelled by legal hold {hold.hold_id}", covered),
            )
            cancelled = await cur.fetchall()
            if cancelled:
                await conn.execute(
                    """
                    UPDATE retention.data_items d SET state = 'live', request_id = NULL
                    FROM unnest(%s::text[], %s::text[]) AS t(request_id, call_id)
                    WHERE d.call_id = t.call_id AND d.request_id = t.request_id
                      AND d.state = 'purging'
                    """,
                    ([r["request_id"] for r in cancelled], [r["call_id"] for r in cancelled]),
                )
            cur = await conn.execute(
                "SELECT DISTINCT call_id FROM retention.data_items"
                " WHERE call_id = ANY(%s) AND state = 'purging' ORDER BY call_id",
                (covered,),
            )
            hold.in_flight = [r["call_id"] for r in await cur.fetchall()]
            await refresh_hold_wanted(conn, covered)
            await self._audit.append(
                conn,
                at=now,
                actor=hold.placed_by,
                action="hold.place",
                subject=f"hold:{hold.hold_id}",
                details={
                    "scope": scope,
                    "subject": _audit_subject(scope, key, hold),
                    "reason": hold.reason,
                    "calls_covered": hold.calls_covered,
                    "in_flight": hold.in_flight,
                },
            )
        if hold.in_flight:
            log.warning(
                "hold %s: %d call(s) were already being purged and cannot be held: %s",
                hold.hold_id,
                len(hold.in_flight),
                ", ".join(hold.in_flight[:10]),
            )
        return hold

    async def _check_subject_known(
        self, conn: AsyncConnection, scope: str, key: str, request: HoldRequest
    ) -> None:
        if scope == "call":
            cur = await conn.execute(
                "SELECT 1 FROM retention.calls WHERE call_id = %s"
                " UNION ALL SELECT 1 FROM retention.recordings WHERE call_id = %s",
                (key, key),
            )
            if await cur.fetchone() is None:
                raise NotFoundError(f"unknown call {key!r}: nothing to hold")
        elif scope == "customer":
            cur = await conn.execute(
                "SELECT 1 FROM retention.call_parties WHERE party_key = %s AND role <> 'agent'"
                " LIMIT 1",
                (key,),
            )
            if await cur.fetchone() is None:
                raise NotFoundError(
                    f"unknown customer {request.customer!r} (normalized {key!r}): no call known"
                )

    async def _active_same(self, conn: AsyncConnection, hold: Hold) -> Hold | None:
        cur = await conn.execute(
            """
            SELECT * FROM retention.holds WHERE released_at IS NULL AND scope = %s
              AND subject_key = %s AND range_from IS NOT DISTINCT FROM %s
              AND range_to IS NOT DISTINCT FROM %s AND tenant = %s
            """,
            (hold.scope, hold.subject_key, hold.range_from, hold.range_to, hold.tenant),
        )
        row = await cur.fetchone()
        return Hold.from_row(row) if row else None

    async def _covered(self, conn: AsyncConnection, hold_id: str) -> list[str]:
        cur = await conn.execute(
            "SELECT DISTINCT call_id FROM retention.hold_coverage WHERE hold_id = %s",
            (hold_id,),
        )
        return [r["call_id"] for r in await cur.fetchall()]

    async def release(self, hold_id: str, released_by: str, reason: str) -> Hold:
        if not released_by.strip():
            raise InvalidRequestError("releasing a hold needs who releases it (released_by)")
        if not reason.strip():
            raise InvalidRequestError("releasing a hold needs a reason")
        now = self._clock()
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT * FROM retention.holds WHERE hold_id = %s FOR UPDATE", (hold_id,)
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFoundError(f"no legal hold {hold_id!r}")
            hold = Hold.from_row(row)
            if hold.released_at is not None:
                raise PreconditionError(
                    f"hold {hold_id} was already released on {hold.released_at.isoformat()}"
                    f" by {hold.released_by}"
                )
            await conn.execute(
                "UPDATE retention.holds SET released_at = %s, released_by = %s,"
                " release_reason = %s WHERE hold_id = %s",
                (now, released_by.strip(), reason.strip(), hold_id),
            )
            hold.released_at, hold.released_by, hold.release_reason = (
                now,
                released_by.strip(),
                reason.strip(),
            )
            covered = await self._covered(conn, hold_id)
            hold.calls_covered = len(covered)
            await refresh_hold_wanted(conn, covered)
            await self._audit.append(
                conn,
                at=now,
                actor=hold.released_by or "",
                action="hold.release",
                subject=f"hold:{hold_id}",
                details={"reason": hold.release_reason, "calls_covered": len(covered)},
            )
        return hold

    async def list(self, include_released: bool = False) -> list[Hold]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                SELECT h.*, (SELECT count(DISTINCT call_id) FROM retention.hold_coverage hc
                             WHERE hc.hold_id = h.hold_id) AS covered
                FROM retention.holds h
                WHERE %s OR h.released_at IS NULL ORDER BY h.placed_at, h.hold_id
                """,
                (include_released,),
            )
            holds = []
            for row in await cur.fetchall():
                hold = Hold.from_row(row)
                hold.calls_covered = row["covered"]
                holds.append(hold)
            return holds

    async def active_for(self, conn: AsyncConnection, call_ids: list[str]) -> dict[str, list]:
        """call_id -> [(hold_id, reason)] of its active holds."""
        cur = await conn.execute(
            """
            SELECT DISTINCT hc.call_id, h.hold_id, h.reason, h.placed_at
            FROM retention.hold_coverage hc JOIN retention.holds h USING (hold_id)
            WHERE hc.call_id = ANY(%s) AND hc.released_at IS NULL
            ORDER BY h.placed_at
            """,
            (call_ids,),
        )
        out: dict[str, list] = {}
        for row in await cur.fetchall():
            out.setdefault(row["call_id"], []).append((row["hold_id"], row["reason"]))
        return out


def _audit_subject(scope: str, key: str, hold: Hold) -> str:
    """The audit log is append-only: it names a customer by hash, never by number."""
    if scope == "customer":
        from .domain.subjects import subject_hash

        return subject_hash(key)
    return hold.subject
