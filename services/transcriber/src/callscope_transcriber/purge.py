"""Retention commands in the transcriber: purge a call's transcript (final utterances).

Wiring (app.py): `rt.add_consumer("callscope-transcriber-retention", [RETENTION_COMMANDS],
purge_handler(rt.db, rt.producer))`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from callscope_core.purge import (
    TRANSCRIPT,
    Publisher,
    PurgeOutcome,
    RetentionCommandHandler,
    row_purge_outcomes,
    rows_by_call,
    utc_now,
)


class TranscriptPurger:
    service = "transcriber"
    schema = "transcriber"
    data_kinds = frozenset({TRANSCRIPT})

    async def purge(self, conn: AsyncConnection, call_ids: Sequence[str]) -> list[PurgeOutcome]:
        rows = await rows_by_call(
            conn,
            sql.SQL("DELETE FROM transcriber.utterances WHERE call_id = ANY(%s) RETURNING call_id"),
            call_ids,
        )
        # Bookkeeping of the live and post-call paths holds no text, but goes with the call.
        for table in ("live_channels", "calls"):
            await conn.execute(
                sql.SQL("DELETE FROM transcriber.{} WHERE call_id = ANY(%s)").format(
                    sql.Identifier(table)
                ),
                (list(call_ids),),
            )
        return row_purge_outcomes(call_ids, rows, "transcript")


def purge_handler(
    pool: AsyncConnectionPool,
    producer: Publisher,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> RetentionCommandHandler:
    return RetentionCommandHandler(pool, producer, TranscriptPurger(), clock=clock)
