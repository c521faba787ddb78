"""Recorder's OUT adapters: recordings to object storage, call rows to PostgreSQL.

Recordings are stereo FLAC (customer left, agent right, 8 kHz 16-bit; soundfile/libsndfile
encodes it, lossless, typically under half the size of WAV for speech). On S3 they are written
with server-side encryption (SSE-S3, AES256). A recording kept for proof only (the customer
opted out, policy proof_only) goes to the proof bucket, which has Object Lock, under
COMPLIANCE retention for the policy's proof_retention_days.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import soundfile
from psycopg_pool import AsyncConnectionPool

from callscope_core.storage import ObjectLock, ObjectStore, S3ObjectStore

from .domain.call import SAMPLE_RATE, CallSession

if TYPE_CHECKING:
    from .domain.policy import RecordingDecision, RecordingPolicy

CONTENT_TYPE = "audio/flac"
SSE_ALGORITHM = "AES256"


@dataclass(frozen=True)
class StoredRecording:
    bucket: str
    key: str
    size: int
    sha256: str
    content_type: str
    encryption: str  # "" when the backend has no server-side encryption
    purposes: list[str]
    proof_only: bool
    retain_until: datetime | None = None


def recording_key(session: CallSession) -> str:
    day = session.started_at.astimezone(UTC)
    return f"recordings/{day:%Y/%m/%d}/{session.call_id}.flac"


def encode_flac(stereo_pcm: bytes) -> bytes:
    """Interleaved 16-bit stereo PCM at 8 kHz as a FLAC file."""
    frames = np.frombuffer(stereo_pcm, dtype="<i2").reshape(-1, 2)
    out = io.BytesIO()
    soundfile.write(out, frames, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def supports_sse(objects: ObjectStore) -> bool:
    return isinstance(objects, S3ObjectStore)


class RecordingStore:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        objects: ObjectStore,
        tenant: str,
        proof_objects: ObjectStore | None = None,
    ) -> None:
        self._pool = pool
        self.objects = objects
        self.proof_objects = proof_objects or objects
        self._tenant = tenant

    async def call_started(
        self,
        session: CallSession,
        participants: list[dict[str, str]],
        rs_metadata: str | None,
        decision: RecordingDecision | None = None,
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO recorder.calls (call_id, external_call_id, source, tenant, queue,
                    language, state, started_at, participants, channel_labels, labels_source,
                    rs_metadata, recording_mode, recorded_from_start)
                VALUES (%s, %s, %s, %s, %s, %s, 'recording', %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (call_id) DO NOTHING
                """,
                (
                    session.call_id,
                    session.external_call_id,
                    session.source,
                    session.tenant or self._tenant,
                    session.queue,
                    session.language,
                    session.started_at,
                    json.dumps(participants),
                    json.dumps({str(k): v for k, v in session.channel_of_stream.items()}),
                    session.labels_source,
                    rs_metadata,
                    decision.mode if decision else "all",
                    decision.record_from_start if decision else True,
                ),
            )

    async def participants_changed(self, call_id: str, participants: list[dict[str, str]]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE recorder.calls SET participants = %s WHERE call_id = %s",
                (json.dumps(participants), call_id),
            )

    async def rs_metadata_changed(self, call_id: str, rs_metadata: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE recorder.calls SET rs_metadata = %s WHERE call_id = %s",
                (rs_metadata, call_id),
            )

    async def save_recording(
        self, session: CallSession, policy: RecordingPolicy | None = None
    ) -> StoredRecording:
        flac = await asyncio.to_thread(encode_flac, session.stereo_pcm())
        proof_only = session.proof_only
        objects = self.proof_objects if proof_only else self.objects
        metadata = {"call-id": session.call_id, "channels": "customer-left,agent-right"}
        encryption = ""
        if supports_sse(objects):
            metadata["x-amz-server-side-encryption"] = SSE_ALGORITHM
            encryption = SSE_ALGORITHM
        lock = None
        retain_until = None
        if proof_only:
            days = policy.proof_retention_days if policy is not None else 365
            retain_until = datetime.now(UTC) + timedelta(days=days)
            lock = ObjectLock(retain_until)
        stored = await objects.put(
            recording_key(session), flac, CONTENT_TYPE, metadata=metadata, lock=lock
        )
        purposes = ["proof"] if proof_only else list(policy.purposes if policy else ())
        return StoredRecording(
            bucket=stored.bucket,
            key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            content_type=CONTENT_TYPE,
            encryption=encryption,
            purposes=purposes,
            proof_only=proof_only,
            retain_until=retain_until,
        )

    async def call_ended(
        self,
        session: CallSession,
        reason: str,
        ended_at: datetime,
        stored: StoredRecording | None,
    ) -> None:
        gaps = [g.__dict__ for g in session.gaps()]
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                UPDATE recorder.calls SET state = %s, ended_at = %s, duration_ms = %s,
                    end_reason = %s, bucket = %s, object_key = %s, sha256 = %s, size_bytes = %s,
                    media_stats = %s, gaps = %s, proof_only = %s, encryption = %s
                WHERE call_id = %s
                """,
                (
                    "stored" if stored is not None else "not_recorded",
                    ended_at,
                    session.duration_ms,
                    reason,
                    stored.bucket if stored else None,
                    stored.key if stored else None,
                    stored.sha256 if stored else None,
                    stored.size if stored else None,
                    json.dumps(session.media_stats()),
                    json.dumps(gaps),
                    session.proof_only,
                    stored.encryption if stored else "",
                    session.call_id,
                ),
            )

    async def mark_announced(self, call_id: str) -> None:
        """CallEnded/RecordingStored are out: a recovery must not publish them again."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE recorder.calls SET announced_at = now() WHERE call_id = %s", (call_id,)
            )

    async def call_state(self, call_id: str) -> tuple[str, bool] | None:
        """(state, announced) of a call row, None when there is none."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT state, announced_at IS NOT NULL AS announced FROM recorder.calls"
                " WHERE call_id = %s",
                (call_id,),
            )
            row = await cur.fetchone()
        return None if row is None else (row["state"], row["announced"])
