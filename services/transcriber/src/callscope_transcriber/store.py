"""Transcriber's SQL adapter: final utterances, searchable with full-text search per language."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from callscope.v1 import events_pb2
from callscope_core.channels import channel_name, channel_value

# Search configurations in use (migration 0003: transcriber.search_config); a search without a
# language filter runs the query once per configuration, each against its own rows.
SEARCH_CONFIGS = ("english", "french", "russian", "simple")
HEADLINE_OPTIONS = "StartSel=[, StopSel=], MaxWords=30, MinWords=10, MaxFragments=2"
_COLUMNS = (
    "call_id, channel, utterance_no, version, text, language, confidence, start_ms, end_ms, words"
)
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")


@dataclass(frozen=True)
class LiveProgress:
    """A live channel's position as of its last stored final (transcriber.live_channels)."""

    next_utterance_no: int
    resume_from_ms: int
    language: str
    ended: bool


@dataclass(frozen=True)
class SearchHit:
    call_id: str
    channel: int
    utterance_no: int
    version: int
    text: str
    snippet: str
    language: str
    start_ms: int
    rank: float


def mark_cjk(text: str, query: str) -> str:
    """Brackets the query's CJK runs (2+ ideographs) where they occur in ``text``.

    ts_headline cannot mark them: its parser sees a whole clause of Chinese as one token.
    """
    runs = sorted(set(_CJK_RUN.findall(query)), key=len, reverse=True)
    if not runs:
        return text
    pattern = re.compile("|".join(re.escape(r) for r in runs))
    return pattern.sub(lambda m: f"[{m.group(0)}]", text)


def _segment_from_row(row: dict) -> events_pb2.TranscriptSegment:
    return events_pb2.TranscriptSegment(
        call_id=row["call_id"],
        channel=channel_value(row["channel"]),
        utterance_no=row["utterance_no"],
        version=row["version"],
        kind=events_pb2.TranscriptSegment.KIND_FINAL,
        text=row["text"],
        language=row["language"],
        confidence=row["confidence"],
        start_ms=row["start_ms"],
        end_ms=row["end_ms"],
        words=[
            events_pb2.Word(
                text=w["text"], start_ms=w["start_ms"], end_ms=w["end_ms"], probability=w["p"]
            )
            for w in row["words"]
        ],
    )


class TranscriptStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def save_final(
        self,
        segment: events_pb2.TranscriptSegment,
        *,
        published: bool = True,
        resume_from_ms: int | None = None,
    ) -> bool:
        """Stores a final; False when this (call, channel, utterance, version) was already stored.

        ``published=False`` marks it for `unpublished()` until `mark_published`. With
        ``resume_from_ms`` (live finals) the channel's progress is advanced in the same
        transaction: next utterance number and the position up to which audio is transcribed.
        """
        words = [
            {"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms, "p": w.probability}
            for w in segment.words
        ]
        channel = channel_name(segment.channel)
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """
                INSERT INTO transcriber.utterances (call_id, channel, utterance_no, version, text,
                    language, confidence, start_ms, end_ms, words, published)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (call_id, channel, utterance_no, version) DO NOTHING
                """,
                (
                    segment.call_id,
                    channel,
                    segment.utterance_no,
                    segment.version,
                    segment.text,
                    segment.language,
                    segment.confidence,
                    segment.start_ms,
                    segment.end_ms,
                    json.dumps(words, ensure_ascii=False),
                    published,
                ),
            )
            inserted = cur.rowcount == 1
            if resume_from_ms is not None:
                await conn.execute(
                    """
                    INSERT INTO transcriber.live_channels AS c
                        (call_id, channel, next_utterance_no, resume_from_ms, language)
                    VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (call_id, channel) DO UPDATE SET
                        next_utterance_no =
                            greatest(c.next_utterance_no, excluded.next_utterance_no),
                        resume_from_ms = greatest(c.resume_from_ms, excluded.resume_from_ms),
                        language = excluded.language,
                        updated_at = now()
                    """,
                    (
                        segment.call_id,
                        channel,
                        segment.utterance_no + 1,
                        resume_from_ms,
                        segment.language,
                    ),
                )
        return inserted

    async def stored_final(
        self, call_id: str, channel: int, utterance_no: int, version: int
    ) -> tuple[events_pb2.TranscriptSegment, bool] | None:
        """A stored final and whether it was published."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}, published FROM transcriber.utterances"
                " WHERE call_id = %s AND channel = %s AND utterance_no = %s AND version = %s",
                (call_id, channel_name(channel), utterance_no, version),
            )
            row = await cur.fetchone()
        return None if row is None else (_segment_from_row(row), row["published"])

    async def mark_published(self, segment: events_pb2.TranscriptSegment) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE transcriber.utterances SET published = true"
                " WHERE call_id = %s AND channel = %s AND utterance_no = %s AND version = %s",
                (
                    segment.call_id,
                    channel_name(segment.channel),
                    segment.utterance_no,
                    segment.version,
                ),
            )

    async def unpublished(self) -> list[events_pb2.TranscriptSegment]:
        """Finals stored but not confirmed on Kafka (the process stopped in between)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM transcriber.utterances WHERE NOT published"
                " ORDER BY call_id, version, channel, utterance_no"
            )
            rows = await cur.fetchall()
        return [_segment_from_row(r) for r in rows]

    async def live_channel(self, call_id: str, channel: int) -> LiveProgress | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT next_utterance_no, resume_from_ms, language, ended"
                " FROM transcriber.live_channels WHERE call_id = %s AND channel = %s",
                (call_id, channel_name(channel)),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return LiveProgress(
            row["next_utterance_no"], row["resume_from_ms"], row["language"], row["ended"]
        )

    async def end_live_channel(self, call_id: str, channel: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO transcriber.live_channels (call_id, channel, ended)
                VALUES (%s, %s, true)
                ON CONFLICT (call_id, channel) DO UPDATE SET ended = true, updated_at = now()
                """,
                (call_id, channel_name(channel)),
            )

    async def defer_call(self, call_id: str, reason: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO transcriber.calls (call_id, deferred_at, deferred_reason)
                VALUES (%s, now(), %s)
                ON CONFLICT (call_id) DO UPDATE SET
                    deferred_at = coalesce(transcriber.calls.deferred_at, now()),
                    deferred_reason = excluded.deferred_reason
                """,
                (call_id, reason),
            )

    async def resume_call(self, call_id: str) -> None:
        """The call is transcribed live again (deferred_reason stays for the record)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE transcriber.calls SET deferred_at = NULL WHERE call_id = %s", (call_id,)
            )

    async def is_deferred(self, call_id: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT deferred_at IS NOT NULL AS d FROM transcriber.calls WHERE call_id = %s",
                (call_id,),
            )
            row = await cur.fetchone()
        return bool(row and row["d"])

    async def set_call_language(self, call_id: str, language: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO transcriber.calls (call_id, language) VALUES (%s, %s)
                ON CONFLICT (call_id) DO UPDATE SET language = excluded.language
                """,
                (call_id, language),
            )

    async def call_language(self, call_id: str) -> str | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT language FROM transcriber.calls WHERE call_id = %s", (call_id,)
            )
            row = await cur.fetchone()
        return (row["language"] or None) if row else None

    async def postcall_state(self, call_id: str) -> str:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT postcall_state FROM transcriber.calls WHERE call_id = %s", (call_id,)
            )
            row = await cur.fetchone()
        return row["postcall_state"] if row else "pending"

    async def set_postcall_state(self, call_id: str, state: str, detail: str = "") -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO transcriber.calls
                    (call_id, postcall_state, postcall_detail, postcall_at)
                VALUES (%s, %s, %s, now())
                ON CONFLICT (call_id) DO UPDATE SET postcall_state = excluded.postcall_state,
                    postcall_detail = excluded.postcall_detail, postcall_at = now()
                """,
                (call_id, state, detail),
            )

    async def authoritative_version(self, call_id: str) -> int | None:
        """The call's highest stored version (2 once the post-call pass is in), or None."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT max(version) AS v FROM transcriber.utterances WHERE call_id = %s",
                (call_id,),
            )
            row = await cur.fetchone()
        return None if row is None or row["v"] is None else int(row["v"])

    async def transcript(self, call_id: str, version: int) -> list[events_pb2.TranscriptSegment]:
        """The finals of one version of a call, in the order they were spoken."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM transcriber.utterances"
                " WHERE call_id = %s AND version = %s ORDER BY start_ms, channel, utterance_no",
                (call_id, version),
            )
            rows = await cur.fetchall()
        return [_segment_from_row(r) for r in rows]

    async def search(
        self,
        query: str,
        *,
        language: str = "",
        call_ids: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Matches in the authoritative version of each call, best first.

        The query is websearch syntax ("quoted phrase", -excluded, or); it is parsed once per
        search configuration and each row is matched with its own language's configuration.
        """
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                WITH q AS (
                    SELECT cfg, websearch_to_tsquery(cfg,
                        CASE WHEN cfg = 'simple'::regconfig
                            THEN transcriber.cjk_bigrams(%(q)s, true) ELSE %(q)s END) AS query
                    FROM unnest(%(configs)s::regconfig[]) AS cfg
                )
                SELECT u.call_id, u.channel, u.utterance_no, u.version, u.text, u.language,
                    u.start_ms, ts_rank(u.text_search, q.query) AS rank,
                    ts_headline(q.cfg, u.text, q.query, %(headline)s) AS snippet
                FROM transcriber.utterances u
                JOIN q ON q.cfg = transcriber.search_config(u.language)
                WHERE u.text_search @@ q.query
                  AND (%(language)s = '' OR u.language = %(language)s)
                  AND (cardinality(%(calls)s::text[]) = 0 OR u.call_id = ANY(%(calls)s::text[]))
                  AND u.version = (SELECT max(v.version) FROM transcriber.utterances v
                                   WHERE v.call_id = u.call_id)
                ORDER BY rank DESC, u.call_id, u.channel, u.utterance_no
                LIMIT %(limit)s OFFSET %(offset)s
                """,
                {
                    "q": query,
                    "configs": list(SEARCH_CONFIGS),
                    "headline": HEADLINE_OPTIONS,
                    "language": language,
                    "calls": list(call_ids),
                    "limit": limit,
                    "offset": offset,
                },
            )
            rows = await cur.fetchall()
        return [
            SearchHit(
                call_id=r["call_id"],
                channel=channel_value(r["channel"]),
                utterance_no=r["utterance_no"],
                version=r["version"],
                text=r["text"],
                snippet=r["snippet"]
                if r["snippet"].count("[") > r["text"].count("[")
                else mark_cjk(r["text"], query),
                language=r["language"],
                start_ms=r["start_ms"],
                rank=float(r["rank"]),
            )
            for r in rows
        ]
