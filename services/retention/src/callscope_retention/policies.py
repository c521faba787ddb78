"""Versioned policies in PostgreSQL: the active version, and applying a new one to existing
data (recomputed, reported, and applied only when asked)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from callscope_core.purge import KIND_SERVICE

from .auditlog import AuditLog
from .domain.policy import PolicyError
from .domain.policyset import PolicyChange, PolicySet, RecordingFacts, recompute
from .errors import InvalidRequestError

log = logging.getLogger(__name__)

POLICY_LOCK_ID = 0x706F6C69  # "poli"


@dataclass(frozen=True)
class StoredPolicy:
    policy: PolicySet
    created_at: datetime
    created_by: str
    comment: str


class PolicyStore:
    def __init__(self, pool: AsyncConnectionPool, audit: AuditLog) -> None:
        self._pool = pool
        self._audit = audit
        self._cache: PolicySet | None = None
        self._lock = asyncio.Lock()

    async def bootstrap(self, seed: PolicySet, now: datetime) -> PolicySet:
        """Version `seed.version` from the settings, written once when there is none."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (POLICY_LOCK_ID,))
            cur = await conn.execute("SELECT count(*) AS n FROM retention.policy_versions")
            if (await cur.fetchone())["n"] == 0:
                await conn.execute(
                    "INSERT INTO retention.policy_versions (version, document, created_at,"
                    " created_by, comment) VALUES (%s, %s, %s, 'settings', %s)",
                    (seed.version, seed.to_json(), now, "seeded from CALLSCOPE_RETENTION_*"),
                )
                await self._audit.append(
                    conn,
                    at=now,
                    actor="retention",
                    action="policy.seed",
                    subject=f"policy:v{seed.version}",
                    details={"document": seed.to_document()},
                )
        self._cache = None
        return await self.active()

    async def active(self, conn: AsyncConnection | None = None) -> PolicySet:
        """The newest version (re-read when another replica applied one)."""
        if conn is None:
            async with self._pool.connection() as own:
                return await self.active(own)
        cur = await conn.execute("SELECT max(version) AS v FROM retention.policy_versions")
        version = (await cur.fetchone())["v"]
        if version is None:
            raise RuntimeError("no retention policy: bootstrap() was not called")
        if self._cache is None or self._cache.version != version:
            self._cache = (await self._get(conn, version)).policy
        return self._cache

    async def get(self, version: int = 0) -> StoredPolicy:
        async with self._pool.connection() as conn:
            if version <= 0:
                version = (await self.active(conn)).version
            return await self._get(conn, version)

    async def _get(self, conn: AsyncConnection, version: int) -> StoredPolicy:
        cur = await conn.execute(
            "SELECT * FROM retention.policy_versions WHERE version = %s", (version,)
        )
        row = await cur.fetchone()
        if row is None:
            from .errors import NotFoundError

            raise NotFoundError(f"no policy version {version}")
        return StoredPolicy(
            PolicySet.parse(row["document"], row["version"]),
            row["created_at"],
            row["created_by"],
            row["comment"],
        )

    async def apply(
        self, document: str, *, by: str, comment: str, now: datetime, dry_run: bool
    ) -> tuple[PolicyChange, PolicySet]:
        """Validate, recompute every live recording, report; apply unless `dry_run`."""
        if not by.strip():
            raise InvalidRequestError("who applies the policy is required (applied_by)")
        async with self._lock, self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (POLICY_LOCK_ID,))
            old = await self.active(conn)
            try:
                new = PolicySet.parse(document, old.version + 1)
                facts = await self._facts(conn)
                change = recompute(old, new, facts, now)
            except PolicyError as exc:
                raise InvalidRequestError(str(exc)) from None
            if dry_run:
                return change, new
            await conn.execute(
                "INSERT INTO retention.policy_versions (version, document, created_at,"
                " created_by, comment) VALUES (%s, %s, %s, %s, %s)",
                (new.version, new.to_json(), now, by, comment),
            )
            await self._rewrite(conn, change, new.version)
            await self._audit.append(
                conn,
                at=now,
                actor=by,
                action="policy.apply",
                subject=f"policy:v{new.version}",
                details={
                    "from_version": old.version,
                    "comment": comment,
                    "summary": change.summary(),
                    "warnings": change.warnings,
                    "document": new.to_document(),
                },
            )
        self._cache = None
        log.info("%s (by %s)", change.summary(), by)
        return change, new

    async def _facts(self, conn: AsyncConnection) -> list[RecordingFacts]:
        cur = await conn.execute(
            """
            SELECT r.call_id, r.tenant, r.queue, r.purposes, r.stored_at, r.lock_confirmed,
                   r.lock_supported,
                   (SELECT coalesce(jsonb_object_agg(d.data_kind, d.expires_at), '{}')
                      FROM retention.data_items d
                     WHERE d.call_id = r.call_id AND d.state = 'live') AS items,
                   (SELECT coalesce(jsonb_object_agg(w.purpose, w.ended_at), '{}')
                      FROM retention.purpose_windows w
                     WHERE w.call_id = r.call_id AND w.ended_at IS NOT NULL) AS ended
            FROM retention.recordings r WHERE r.state = 'live'
            """
        )
        facts = []
        for row in await cur.fetchall():
            facts.append(
                RecordingFacts(
                    row["call_id"],
                    row["tenant"],
                    row["queue"],
                    tuple(row["purposes"]),
                    row["stored_at"],
                    {k: datetime.fromisoformat(v) for k, v in row["items"].items()},
                    row["lock_confirmed"] if row["lock_supported"] else None,
                    {k: datetime.fromisoformat(v) for k, v in row["ended"].items()},
                )
            )
        return facts

    async def _rewrite(self, conn: AsyncConnection, change: PolicyChange, version: int) -> None:
        if not change.changes:
            return
        ids = [c.call_id for c in change.changes]
        await conn.execute(
            """
            UPDATE retention.recordings r SET expires_at = t.expires_at, policy_version = %s,
                lock_wanted = t.lock_wanted,
                protect_pending = r.protect_pending
                    OR (t.lock_wanted IS NOT NULL
                        AND t.lock_wanted > coalesce(r.lock_confirmed, '-infinity')
                        AND r.lock_supported IS NOT false),
                protect_sent_at = CASE WHEN t.lock_wanted IS DISTINCT FROM r.lock_wanted
                                       THEN NULL ELSE r.protect_sent_at END
            FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[])
                AS t(call_id, expires_at, lock_wanted)
            WHERE r.call_id = t.call_id
            """,
            (
                version,
                ids,
                [c.plan.expires_at for c in change.changes],
                [c.plan.lock_until for c in change.changes],
            ),
        )
        kinds = list(KIND_SERVICE)
        await conn.execute(
            """
            UPDATE retention.data_items d SET expires_at = t.expires_at
            FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS t(call_id, kind, expires_at)
            WHERE d.call_id = t.call_id AND d.data_kind = t.kind AND d.state = 'live'
            """,
            (
                [c.call_id for c in change.changes for _ in kinds],
                [k for _ in change.changes for k in kinds],
                [c.plan.item_expiry[k] for c in change.changes for k in kinds],
            ),
        )
        await conn.execute(
            """
            UPDATE retention.purpose_windows w SET expires_at = t.expires_at
            FROM unnest(%s::text[], %s::text[], %s::timestamptz[])
                AS t(call_id, purpose, expires_at)
            WHERE w.call_id = t.call_id AND w.purpose = t.purpose
            """,
            (
                [c.call_id for c in change.changes for _ in c.plan.windows],
                [w.purpose.value for c in change.changes for w in c.plan.windows],
                [w.expires_at for c in change.changes for w in c.plan.windows],
            ),
        )
