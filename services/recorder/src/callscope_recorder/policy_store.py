"""Recording policies in PostgreSQL (recorder.recording_policies), per tenant and queue.

Reads for new calls go through a short cache (one query per tenant every few seconds, not one
per call); a change made through this store is visible at once, a change made by another
replica within `cache_s`.
"""

from __future__ import annotations

import time
from dataclasses import replace

from psycopg_pool import AsyncConnectionPool

from .domain.policy import RecordingPolicy, policy_for

_COLUMNS = (
    "tenant, queue, mode, percentage, opt_out_decision, purposes, proof_retention_days,"
    " updated_by, updated_at, version"
)


def _from_row(row: dict) -> RecordingPolicy:  # type: ignore[type-arg]
    return RecordingPolicy(
        tenant=row["tenant"],
        queue=row["queue"],
        mode=row["mode"],
        percentage=float(row["percentage"]),
        opt_out_decision=row["opt_out_decision"],
        purposes=tuple(row["purposes"]),
        proof_retention_days=row["proof_retention_days"],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


class PolicyStore:
    def __init__(self, pool: AsyncConnectionPool, cache_s: float = 5.0) -> None:
        self._pool = pool
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, list[RecordingPolicy]]] = {}

    async def list(self, tenant: str = "") -> list[RecordingPolicy]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM recorder.recording_policies"
                " WHERE %(tenant)s = '' OR tenant = %(tenant)s ORDER BY tenant, queue",
                {"tenant": tenant},
            )
            return [_from_row(row) for row in await cur.fetchall()]

    async def policy_for(self, tenant: str, queue: str) -> RecordingPolicy:
        """The policy in force for a queue: its own, else the tenant's default, else all."""
        cached = self._cache.get(tenant)
        if cached is None or time.monotonic() - cached[0] > self._cache_s:
            cached = (time.monotonic(), await self.list(tenant))
            self._cache[tenant] = cached
        return policy_for(cached[1], tenant, queue)

    async def set(self, policy: RecordingPolicy, requested_by: str) -> RecordingPolicy:
        """Create or replace the policy of (tenant, queue); PolicyError if it is invalid."""
        policy = replace(policy, updated_by=requested_by).validated()
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"""
                INSERT INTO recorder.recording_policies (tenant, queue, mode, percentage,
                    opt_out_decision, purposes, proof_retention_days, updated_by)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (tenant, queue) DO UPDATE SET
                    mode = EXCLUDED.mode, percentage = EXCLUDED.percentage,
                    opt_out_decision = EXCLUDED.opt_out_decision,
                    purposes = EXCLUDED.purposes,
                    proof_retention_days = EXCLUDED.proof_retention_days,
                    updated_by = EXCLUDED.updated_by, updated_at = now(),
                    version = recorder.recording_policies.version + 1
                RETURNING {_COLUMNS}
                """,
                (
                    policy.tenant,
                    policy.queue,
                    policy.mode,
                    policy.percentage,
                    policy.opt_out_decision,
                    list(policy.purposes),
                    policy.proof_retention_days,
                    policy.updated_by,
                ),
            )
            row = await cur.fetchone()
        self._cache.pop(policy.tenant, None)
        assert row is not None
        return _from_row(row)
