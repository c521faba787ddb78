"""Transcriber's SQL adapter: final utterances, searchable with full-text search."""

from __future__ import annotations

import json

from psycopg_pool import AsyncConnectionPool

from callscope.v1 import events_pb2
from callscope_core.channels import channel_name


class TranscriptStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def save_final(self, segment: events_pb2.TranscriptSegment) -> bool:
        """Returns False when this (call, channel, utterance, version) was already stored."""
        words = [
            {"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms, "p": w.probability}
            for w in segment.words
        ]
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """
                INSERT INTO transcriber.utterances (call_id, channel, utterance_no, version, text,
                    language, confidence, start_ms, end_ms, words)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (call_id, channel, utterance_no, version) DO NOTHING
                """,
                (
                    segment.call_id,
                    channel_name(segment.channel),
                    segment.utterance_no,
                    segment.version,
                    segment.text,
                    segment.language,
                    segment.confidence,
                    segment.start_ms,
                    segment.end_ms,
                    json.dumps(words, ensure_ascii=False),
                ),
            )
            return cur.rowcount == 1
