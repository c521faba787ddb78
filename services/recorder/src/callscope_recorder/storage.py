"""Recorder's OUT adapters: recordings to object storage, call rows to PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from callscope_core.storage import ObjectStore, StoredObject

from .domain.call import CallSession


def recording_key(session: CallSession) -> str:
    day = session.started_at.astimezone(UTC)
    return f"recordings/{day:%Y/%m/%d}/{session.call_id}.wav"


class RecordingStore:
    def __init__(self, pool: AsyncConnectionPool, objects: ObjectStore, tenant: str) -> None:
        self._pool = pool
        self.objects = objects
        self._tenant = tenant

    async def call_started(
        self, session: CallSession, participants: list[dict[str, str]], rs_metadata: str | None
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO recorder.calls (call_id, external_call_id, source, tenant, queue,
                    language, state, started_at, participants, channel_labels, labels_source,
                    rs_metadata)
                VALUES (%s, %s, %s, %s, %s, %s, 'recording', %s, %s, %s, %s, %s)
                ON CONFLICT (call_id) DO NOTHING
                """,
                (
                    session.call_id,
                    session.external_call_id,
                    session.source,
                    self._tenant,
                    session.queue,
                    session.language,
                    session.started_at,
                    json.dumps(participants),
                    json.dumps({str(k): v for k, v in session.channel_of_stream.items()}),
                    session.labels_source,
                    rs_metadata,
                ),
            )

    async def save_recording(self, session: CallSession) -> StoredObject:
        wav = session.stereo_wav()
        return await self.objects.put(
            recording_key(session),
            wav,
            "audio/wav",
            metadata={"call-id": session.call_id, "channels": "customer-left,agent-right"},
        )

    async def call_ended(
        self, session: CallSession, reason: str, ended_at: datetime, stored: StoredObject
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                UPDATE recorder.calls SET state = 'stored', ended_at = %s, duration_ms = %s,
                    end_reason = %s, bucket = %s, object_key = %s, sha256 = %s, size_bytes = %s,
                    media_stats = %s
                WHERE call_id = %s
                """,
                (
                    ended_at,
                    session.duration_ms,
                    reason,
                    stored.bucket,
                    stored.key,
                    stored.sha256,
                    stored.size,
                    json.dumps(session.media_stats()),
                    session.call_id,
                ),
            )
