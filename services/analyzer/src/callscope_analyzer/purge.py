"""Retention commands in the analyzer: purge a call's analyses, alerts and call context.

Wiring (app.py): `rt.add_consumer("callscope-analyzer-retention", [RETENTION_COMMANDS],
purge_handler(rt.db, rt.producer))`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from callscope_core.purge import (
    ANALYSIS,
    Publisher,
    PurgeOutcome,
    RetentionCommandHandler,
    row_purge_outcomes,
    rows_by_call,
    utc_now,
)

# Everything the analyzer derives from a call.
TABLES = ("utterances", "alerts", "summaries", "calls")


class AnalysisPurger:
    service = "analyzer"
    schema = "analyzer"
    data_kinds = frozenset({ANALYSIS})

    async def purge(self, conn: AsyncConnection, call_ids: Sequence[str]) -> list[PurgeOutcome]:
        total: dict[str, int] = {}
        for table in TABLES:
            rows = await rows_by_call(
                conn,
                sql.SQL("DELETE FROM {} WHERE call_id = ANY(%s) RETURNING call_id").format(
                    sql.Identifier("analyzer", table)
                ),
                call_ids,
            )
            for call_id, n in rows.items():
                total[call_id] = total.get(call_id, 0) + n
        return row_purge_outcomes(call_ids, total, "analysis")


def purge_handler(
    pool: AsyncConnectionPool,
    producer: Publisher,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> RetentionCommandHandler:
    return RetentionCommandHandler(pool, producer, AnalysisPurger(), clock=clock)
