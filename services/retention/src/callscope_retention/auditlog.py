"""The audit log in PostgreSQL: appends serialized by an advisory lock, so the chain is linear
even with several replicas; entries are written in the transaction of what they record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from .domain.audit import (
    GENESIS,
    AuditRecord,
    Verification,
    canonical_json,
    entry_hash,
    verify_chain,
)

AUDIT_LOCK_ID = 0x61756474  # "audt"


def _record(row: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        row["seq"],
        row["at"],
        row["actor"],
        row["action"],
        row["subject"],
        row["details"],
        row["prev_hash"],
        row["hash"],
    )


class AuditLog:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def append(
        self,
        conn: AsyncConnection,
        *,
        at: datetime,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Append inside the caller's transaction (the entry commits with what it records)."""
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_ID,))
        cur = await conn.execute(
            "SELECT seq, hash FROM retention.audit_log ORDER BY seq DESC LIMIT 1"
        )
        head = await cur.fetchone()
        seq, prev = (head["seq"] + 1, head["hash"]) if head else (1, GENESIS)
        body = canonical_json(dict(details or {}))
        digest = entry_hash(prev, seq, at, actor, action, subject, body)
        await conn.execute(
            "INSERT INTO retention.audit_log (seq, at, actor, action, subject, details,"
            " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (seq, at, actor, action, subject, body, prev, digest),
        )
        return AuditRecord(seq, at, actor, action, subject, body, prev, digest)

    async def record(self, **entry: Any) -> AuditRecord:
        async with self._pool.connection() as conn, conn.transaction():
            return await self.append(conn, **entry)

    async def entries(
        self, *, after_seq: int = 0, limit: int = 100, subject: str = "", action: str = ""
    ) -> list[AuditRecord]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM retention.audit_log WHERE seq > %s"
                " AND (%s = '' OR subject = %s) AND (%s = '' OR action LIKE %s || '%%')"
                " ORDER BY seq LIMIT %s",
                (after_seq, subject, subject, action, action, max(1, min(limit, 10_000))),
            )
            return [_record(r) for r in await cur.fetchall()]

    async def _all(self, conn: AsyncConnection) -> AsyncIterator[AuditRecord]:
        async with conn.cursor(name="audit_verify") as cur:
            await cur.execute("SELECT * FROM retention.audit_log ORDER BY seq")
            async for row in cur:
                yield _record(row)

    async def verify(self, anchor: tuple[int, str] | None = None) -> Verification:
        async with self._pool.connection() as conn, conn.transaction():
            records = [r async for r in self._all(conn)]
        return verify_chain(records, anchor)
