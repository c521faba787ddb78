"""Wiring of the retention service: registers every stored recording with its purposes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import retention_pb2
from callscope_core import metrics
from callscope_core.runtime import ServiceRuntime
from callscope_core.service import sleep_or_stop
from callscope_core.settings import CoreSettings
from callscope_core.tracing import untraced

from .settings import RetentionSettings
from .wiring import serve_retention

log = logging.getLogger(__name__)

PURGE_BACKLOG_INTERVAL_S = 30.0
_purge_backlog: dict[str, float] = {}  # last count: "backlog", "overdue_s"


def _observe(key: str) -> metrics.Callback:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        if key in _purge_backlog:
            yield Observation(_purge_backlog[key])

    return observe


PURGE_BACKLOG = metrics.observable(metrics.RETENTION_PURGE_BACKLOG, _observe("backlog"))
PURGE_OVERDUE = metrics.observable(metrics.RETENTION_PURGE_OVERDUE, _observe("overdue_s"))


async def count_purge_backlog(pool: AsyncConnectionPool) -> tuple[int, float]:
    """Recordings past expires_at that are still there (not purged), and how overdue the
    oldest is. Rows marked purged are left out where the table has a state column."""
    async with pool.connection() as conn:
        has_state = await (
            await conn.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = 'retention'"
                " AND table_name = 'recordings' AND column_name = 'state'"
            )
        ).fetchone()
        live = " AND state <> 'purged'" if has_state else ""
        row = await (
            await conn.execute(
                "SELECT count(*) AS backlog,"
                " COALESCE(EXTRACT(EPOCH FROM now() - min(expires_at)), 0) AS overdue_s"
                f" FROM retention.recordings WHERE expires_at < now(){live}"
            )
        ).fetchone()
    assert row is not None
    return int(row["backlog"]), float(row["overdue_s"])


async def watch_purge_backlog(pool: AsyncConnectionPool, stop: asyncio.Event) -> None:
    """Refresh the purge-backlog gauges every PURGE_BACKLOG_INTERVAL_S."""
    while True:
        try:
            with untraced():  # housekeeping: not a trace every 30 s
                backlog, overdue_s = await count_purge_backlog(pool)
            _purge_backlog.update(backlog=backlog, overdue_s=overdue_s)
        except Exception as exc:
            log.warning("counting the purge backlog failed: %s", exc)
        if await sleep_or_stop(stop, PURGE_BACKLOG_INTERVAL_S):
            return


async def run(core: CoreSettings, settings: RetentionSettings, stop: asyncio.Event) -> None:
    async with ServiceRuntime(
        "retention",
        core,
        grpc_port=settings.grpc_port,
        grpc_services=[retention_pb2.DESCRIPTOR.services_by_name["Retention"].full_name],
        migrations_package="callscope_retention",
    ) as rt:
        rt.add_background(lambda stop: watch_purge_backlog(rt.db, stop))
        await serve_retention(rt, settings, stop)
