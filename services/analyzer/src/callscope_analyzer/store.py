"""Analyzer's SQL adapter: calls, analysed utterances and alerts, all idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from .domain.escalation import HumanRequest
from .team_directory import TeamDirectory


@dataclass(frozen=True)
class StoredAlert:
    alert_id: str
    published: bool


@dataclass(frozen=True)
class CallContext:
    queue: str
    agent_id: str


class AnalyzerStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self.queries = SupervisorQueries(pool)

    async def upsert_call(
        self,
        call_id: str,
        queue: str,
        agent_id: str,
        language: str,
        *,
        customer_number: str = "",
        started_at: datetime | None = None,
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO analyzer.calls (call_id, queue, agent_id, language, customer_number,
                    started_at)
                VALUES (%s, %s, %s, %s, %s, coalesce(%s, now()))
                ON CONFLICT (call_id) DO UPDATE SET queue = EXCLUDED.queue,
                    agent_id = EXCLUDED.agent_id, language = EXCLUDED.language,
                    customer_number = EXCLUDED.customer_number,
                    started_at = coalesce(analyzer.calls.started_at, EXCLUDED.started_at)
                """,
                (call_id, queue, agent_id, language, customer_number, started_at),
            )

    async def end_call(self, call_id: str, duration_ms: int | None = None) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO analyzer.calls (call_id, ended_at, duration_ms) VALUES (%s, now(), %s)"
                " ON CONFLICT (call_id) DO UPDATE SET"
                " ended_at = coalesce(analyzer.calls.ended_at, now()),"
                " duration_ms = coalesce(EXCLUDED.duration_ms, analyzer.calls.duration_ms)",
                (call_id, duration_ms),
            )

    async def schedule_summary(self, call_id: str, quiet_s: float) -> None:
        """The call ended: summarise it once its transcripts have been quiet for quiet_s."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE analyzer.calls SET summarized_at = NULL,"
                " summary_due_at = now() + make_interval(secs => %s) WHERE call_id = %s",
                (quiet_s, call_id),
            )

    async def postpone_summary(self, call_id: str, quiet_s: float, max_wait_s: float) -> None:
        """A final of an ended call: wait for the transcripts to be quiet again (at most
        max_wait_s after the end); after the summary was made, ask for a new one."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                UPDATE analyzer.calls SET
                    summary_due_at = CASE WHEN summarized_at IS NULL
                        THEN least(now() + make_interval(secs => %(quiet)s),
                                   greatest(ended_at + make_interval(secs => %(max)s), now()))
                        ELSE now() + make_interval(secs => %(quiet)s) END,
                    summarized_at = NULL
                WHERE call_id = %(call)s AND ended_at IS NOT NULL
                """,
                {"quiet": quiet_s, "max": max_wait_s, "call": call_id},
            )

    async def claim_due_summaries(
        self, lease_s: float, limit: int = 20
    ) -> list[tuple[str, int | None, datetime]]:
        """Calls whose summary is due, each leased for lease_s (one replica makes it):
        (call_id, duration_ms, lease) — the lease is the token for mark_summarized."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                UPDATE analyzer.calls c SET summary_due_at = now() + make_interval(secs => %s)
                WHERE c.call_id IN (
                    SELECT call_id FROM analyzer.calls
                    WHERE summarized_at IS NULL AND summary_due_at <= now()
                    ORDER BY summary_due_at LIMIT %s FOR UPDATE SKIP LOCKED)
                RETURNING c.call_id, c.duration_ms, c.summary_due_at
                """,
                (lease_s, limit),
            )
            rows = await cur.fetchall()
        return [(r["call_id"], r["duration_ms"], r["summary_due_at"]) for r in rows]

    async def mark_summarized(self, call_id: str, lease: datetime) -> bool:
        """Done, unless a later final postponed the summary meanwhile (then it is made again)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE analyzer.calls SET summarized_at = now()"
                " WHERE call_id = %s AND summary_due_at = %s",
                (call_id, lease),
            )
            return cur.rowcount > 0

    async def touch_call(self, call_id: str, quiet_s: float, max_wait_s: float) -> bool:
        """For a new final: whether the call is known (CallStarted seen), and if it already
        ended, its summary waits for the transcripts to be quiet again (one round trip)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                WITH touched AS (
                    UPDATE analyzer.calls SET
                        summary_due_at = CASE WHEN summarized_at IS NULL
                            THEN least(now() + make_interval(secs => %(quiet)s),
                                       greatest(ended_at + make_interval(secs => %(max)s), now()))
                            ELSE now() + make_interval(secs => %(quiet)s) END,
                        summarized_at = NULL
                    WHERE call_id = %(call)s AND ended_at IS NOT NULL
                    RETURNING 1)
                SELECT EXISTS (SELECT 1 FROM analyzer.calls WHERE call_id = %(call)s) AS known
                """,
                {"quiet": quiet_s, "max": max_wait_s, "call": call_id},
            )
            row = await cur.fetchone()
            return bool(row and row["known"])

    async def call_rows(
        self, call_id: str
    ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        """What the rules rebuild a call from: its utterances and its published alert keys."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM analyzer.utterances WHERE call_id = %s ORDER BY start_ms",
                (call_id,),
            )
            utterances = list(await cur.fetchall())
            cur = await conn.execute(
                "SELECT alert_key, kind, at_ms FROM analyzer.alerts WHERE call_id = %s"
                " AND alert_key IS NOT NULL AND published_at IS NOT NULL",
                (call_id,),
            )
            return utterances, list(await cur.fetchall())

    async def update_live_sentiment(
        self, call_id: str, score: float | None, label: str, categories: list[str]
    ) -> bool:
        """Store the call's overall customer sentiment and categories; True when they changed
        (the floor is told only then)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                UPDATE analyzer.calls SET customer_sentiment_score = %s,
                    customer_sentiment_label = %s, categories = %s
                WHERE call_id = %s AND (customer_sentiment_label IS DISTINCT FROM %s
                    OR categories IS DISTINCT FROM %s::text[]
                    OR customer_sentiment_score IS DISTINCT FROM %s::real)
                """,
                (score, label, categories, call_id, label, categories, score),
            )
            return cur.rowcount > 0

    async def call_context(self, call_id: str) -> CallContext:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT queue, agent_id FROM analyzer.calls WHERE call_id = %s", (call_id,)
            )
            row = await cur.fetchone()
        return CallContext(row["queue"], row["agent_id"]) if row else CallContext("", "")

    async def save_utterance(
        self,
        *,
        call_id: str,
        channel: str,
        utterance_no: int,
        version: int,
        text: str,
        language: str,
        start_ms: int,
        end_ms: int,
        sentiment_score: float,
        sentiment_label: str,
        human_requests: list[str],
        sentiment_confidence: float | None = None,
        word_count: int | None = None,
        rms_dbfs: float | None = None,
        keywords: dict[str, list[str]] | None = None,
        categories: list[str] | None = None,
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO analyzer.utterances (call_id, channel, utterance_no, version, text,
                    language, start_ms, end_ms, sentiment_score, sentiment_label, human_requests,
                    sentiment_confidence, word_count, rms_dbfs, keywords, categories)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (call_id, channel, utterance_no, version) DO UPDATE SET
                    text = EXCLUDED.text, sentiment_score = EXCLUDED.sentiment_score,
                    sentiment_label = EXCLUDED.sentiment_label,
                    human_requests = EXCLUDED.human_requests,
                    sentiment_confidence = EXCLUDED.sentiment_confidence,
                    word_count = EXCLUDED.word_count, rms_dbfs = EXCLUDED.rms_dbfs,
                    keywords = EXCLUDED.keywords, categories = EXCLUDED.categories
                """,
                (
                    call_id,
                    channel,
                    utterance_no,
                    version,
                    text,
                    language,
                    start_ms,
                    end_ms,
                    sentiment_score,
                    sentiment_label,
                    human_requests,
                    sentiment_confidence,
                    word_count,
                    rms_dbfs,
                    json.dumps(keywords or {}, ensure_ascii=False),
                    categories or [],
                ),
            )

    async def human_requests(self, call_id: str, version: int) -> list[HumanRequest]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                SELECT channel, utterance_no, start_ms, text, human_requests
                FROM analyzer.utterances
                WHERE call_id = %s AND version = %s AND channel = 'customer'
                  AND cardinality(human_requests) > 0
                ORDER BY start_ms
                """,
                (call_id, version),
            )
            rows = await cur.fetchall()
        return [
            HumanRequest(
                utterance_key=f"{r['channel']}:{r['utterance_no']}",
                at_ms=r["start_ms"],
                text=r["text"],
                phrases=tuple(r["human_requests"]),
            )
            for r in rows
        ]

    async def record_alert(
        self,
        *,
        alert_id: str,
        call_id: str,
        kind: str,
        severity: str,
        reason: str,
        evidence: list[dict[str, object]],
        at_ms: int,
        alert_key: str | None = None,
    ) -> StoredAlert:
        """Insert once; returns whether it was already published (outbox-style flag)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO analyzer.alerts (alert_id, call_id, kind, severity, reason, evidence,
                    at_ms, alert_key)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (alert_id) DO NOTHING
                """,
                (alert_id, call_id, kind, severity, reason, json.dumps(evidence), at_ms, alert_key),
            )
            cur = await conn.execute(
                "SELECT published_at FROM analyzer.alerts WHERE alert_id = %s", (alert_id,)
            )
            row = await cur.fetchone()
        return StoredAlert(alert_id, published=row is not None and row["published_at"] is not None)

    async def mark_published(self, alert_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE analyzer.alerts SET published_at = now() WHERE alert_id = %s", (alert_id,)
            )

    async def save_summary(
        self, call_id: str, version: int, summary: dict[str, object], qa_score: float | None
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO analyzer.summaries (call_id, version, summary, qa_score)
                VALUES (%s, %s, %s, %s)
                ON CONFLICT (call_id, version) DO UPDATE SET summary = EXCLUDED.summary,
                    qa_score = EXCLUDED.qa_score, created_at = now()
                """,
                (call_id, version, json.dumps(summary, default=str), qa_score),
            )


_OVERVIEW = """
    SELECT c.call_id, c.queue, c.agent_id, c.language, c.customer_number, c.started_at,
        c.ended_at, c.duration_ms, c.customer_sentiment_score, c.customer_sentiment_label,
        c.categories,
        (SELECT count(*) FROM analyzer.alerts a
         WHERE a.call_id = c.call_id AND a.acknowledged_at IS NULL
           AND a.published_at IS NOT NULL) AS open_alerts
    FROM analyzer.calls c
"""

SEARCH_LIMIT_DEFAULT = 50
SEARCH_LIMIT_MAX = 500


@dataclass(frozen=True)
class CallSearch:
    """SearchCalls filters; empty ones do not filter."""

    call_ids: list[str]
    agent_id: str = ""
    queues: list[str] | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    category: str = ""
    sentiment_label: str = ""
    limit: int = SEARCH_LIMIT_DEFAULT


class SupervisorQueries:
    """Read side for the Supervisor gRPC API (the analyzer's own tables only)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self.teams = TeamDirectory(pool)

    async def _all(
        self, sql: str, params: tuple[object, ...] | dict[str, object]
    ) -> list[dict[str, object]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall())

    async def call(self, call_id: str) -> dict[str, object] | None:
        rows = await self._all(_OVERVIEW + " WHERE c.call_id = %s", (call_id,))
        return rows[0] if rows else None

    async def utterances(self, call_id: str) -> list[dict[str, object]]:
        return await self._all(
            "SELECT * FROM analyzer.utterances WHERE call_id = %s ORDER BY start_ms, channel",
            (call_id,),
        )

    async def alerts(self, call_id: str) -> list[dict[str, object]]:
        """Alerts that reached callscope.alerts (an unpublished row is still being raised)."""
        return await self._all(
            "SELECT a.*, c.queue, c.agent_id FROM analyzer.alerts a"
            " LEFT JOIN analyzer.calls c USING (call_id)"
            " WHERE a.call_id = %s AND a.published_at IS NOT NULL ORDER BY at_ms, alert_id",
            (call_id,),
        )

    async def queue_of(self, call_id: str) -> str:
        rows = await self._all("SELECT queue FROM analyzer.calls WHERE call_id = %s", (call_id,))
        return str(rows[0]["queue"]) if rows else ""

    async def summary(self, call_id: str) -> dict[str, object] | None:
        rows = await self._all(
            "SELECT summary FROM analyzer.summaries WHERE call_id = %s"
            " ORDER BY version DESC LIMIT 1",
            (call_id,),
        )
        return rows[0]["summary"] if rows else None  # type: ignore[return-value]

    async def live_calls(
        self, queues: Iterable[str] = (), agents: Iterable[str] = ()
    ) -> list[dict[str, object]]:
        """Calls in progress, oldest first, of these queues or taken by these agents; neither
        given: every call."""
        return await self._all(
            _OVERVIEW + " WHERE c.ended_at IS NULL AND c.started_at IS NOT NULL"
            " AND ((cardinality(%(queues)s::text[]) = 0 AND cardinality(%(agents)s::text[]) = 0)"
            "      OR c.queue = ANY(%(queues)s::text[]) OR c.agent_id = ANY(%(agents)s::text[]))"
            " ORDER BY c.started_at, c.call_id",
            {"queues": sorted(queues), "agents": sorted(agents)},
        )

    async def open_alerts(self, call_ids: list[str]) -> list[dict[str, object]]:
        return await self._all(
            "SELECT a.*, c.queue, c.agent_id FROM analyzer.alerts a"
            " JOIN analyzer.calls c USING (call_id)"
            " WHERE a.call_id = ANY(%s) AND a.acknowledged_at IS NULL"
            " AND a.published_at IS NOT NULL ORDER BY a.raised_at, a.alert_id",
            (call_ids,),
        )

    async def search(self, search: CallSearch) -> list[dict[str, object]]:
        return await self._all(
            _OVERVIEW
            + """
            WHERE (cardinality(%(ids)s::text[]) = 0 OR c.call_id = ANY(%(ids)s::text[]))
              AND (%(agent)s = '' OR c.agent_id = %(agent)s)
              AND (cardinality(%(queues)s::text[]) = 0 OR c.queue = ANY(%(queues)s::text[]))
              AND (%(start_from)s::timestamptz IS NULL OR c.started_at >= %(start_from)s)
              AND (%(start_to)s::timestamptz IS NULL OR c.started_at < %(start_to)s)
              AND (%(category)s = '' OR %(category)s = ANY(c.categories))
              AND (%(label)s = '' OR c.customer_sentiment_label = %(label)s)
            ORDER BY c.started_at DESC NULLS LAST, c.call_id
            LIMIT %(limit)s
            """,
            {
                "ids": search.call_ids,
                "agent": search.agent_id,
                "queues": search.queues or [],
                "start_from": search.started_from,
                "start_to": search.started_to,
                "category": search.category,
                "label": search.sentiment_label,
                "limit": search.limit,
            },
        )

    async def acknowledge(self, alert_id: str, by: str) -> dict[str, object] | None:
        """First acknowledgement wins; acknowledging again is harmless and returns the row."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE analyzer.alerts SET acknowledged_by = %s, acknowledged_at = now()"
                " WHERE alert_id = %s AND acknowledged_at IS NULL",
                (by, alert_id),
            )
            cur = await conn.execute(
                "SELECT a.alert_id, a.call_id, a.acknowledged_by, a.acknowledged_at,"
                " coalesce(c.queue, '') AS queue FROM analyzer.alerts a"
                " LEFT JOIN analyzer.calls c USING (call_id) WHERE a.alert_id = %s",
                (alert_id,),
            )
            return await cur.fetchone()
