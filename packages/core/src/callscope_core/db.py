"""PostgreSQL: a psycopg 3 async pool and versioned migrations (yoyo) per service schema."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 0x63616C6C  # "call": one lock for every Callscope schema migration


def _yoyo_uri(database_url: str) -> str:
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise ValueError(f"CALLSCOPE_DATABASE_URL must be a postgresql:// URI, got {scheme!r}")
    return f"postgresql+psycopg://{rest}"


def migrations_dir(package: str) -> Path:
    return Path(str(resources.files(package) / "migrations"))


def apply_migrations(database_url: str, schema: str, directory: Path) -> list[str]:
    """Apply the pending migrations of one service; returns the ids applied. Safe to run
    concurrently from several replicas: yoyo takes a lock."""
    import psycopg
    from yoyo import get_backend, read_migrations

    # yoyo's own lock is taken only after it creates its bookkeeping tables, which races when
    # several services start together: serialize the whole run with an advisory lock.
    with psycopg.connect(database_url, autocommit=True) as guard:
        guard.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        # One yoyo bookkeeping table for all services (its internal versioning assumes so);
        # migration ids carry the service name (0001_recorder_calls), so they never clash.
        backend = get_backend(_yoyo_uri(database_url))
        migrations = read_migrations(str(directory))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    applied = [m.id for m in pending]
    if applied:
        log.info("applied migrations for %s: %s", schema, ", ".join(applied))
    return applied


async def migrate(database_url: str, schema: str, package: str) -> list[str]:
    return await asyncio.to_thread(apply_migrations, database_url, schema, migrations_dir(package))


async def open_pool(database_url: str, max_size: int = 5) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": False},
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    return pool
