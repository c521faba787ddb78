"""Retention commands in the recorder: purge recordings, apply Object Lock to proof recordings.

- Purge (`PurgeCalls`/`PurgeCall`, data kind "recording"): delete the audio object (on S3 every
  version of it, so a versioned bucket keeps no copy) and the `recorder.calls` row. An object the
  store refuses to delete (Object Lock COMPLIANCE retention or legal hold) is reported as
  `REFUSED_LOCKED` and its row stays: nothing is half-deleted.
- Protect (`ProtectRecording`): COMPLIANCE retention until a date (only ever extended, as S3
  requires) and the legal-hold flag, on the stored version of the recording. The filesystem
  backend has no Object Lock: the answer says so (`lock_supported=false`) and retention keeps
  protecting the data by its own holds.

Wiring (app.py, after `objects` is opened):

    rt.add_consumer("callscope-recorder-retention", [RETENTION_COMMANDS],
                    purge_handler(rt.db, rt.producer, objects, core))
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from callscope_core.purge import (
    ALREADY_GONE,
    DELETED,
    RECORDING,
    REFUSED_LOCKED,
    ProtectOutcome,
    Publisher,
    PurgeOutcome,
    RetentionCommandHandler,
    utc_now,
)
from callscope_core.settings import CoreSettings
from callscope_core.storage import ObjectStore, open_object_store

log = logging.getLogger(__name__)

_LOCK_REFUSALS = ("AccessDenied", "ObjectLocked", "InvalidRequest")


class S3RecordingLocks:
    """Object Lock operations on S3 (MinIO, AWS) through the minio client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, core: CoreSettings) -> S3RecordingLocks | None:
        if core.object_store_backend != "s3":
            return None
        from minio import Minio

        assert core.s3_endpoint and core.s3_access_key and core.s3_secret_key
        return cls(
            Minio(
                core.s3_endpoint,
                access_key=core.s3_access_key.get_secret_value(),
                secret_key=core.s3_secret_key.get_secret_value(),
                secure=core.s3_secure,
                region=core.s3_region,
            )
        )

    def delete_all_versions(self, bucket: str, key: str) -> tuple[int, str | None]:
        """Delete every version of `key`; returns (versions deleted, refusal or None)."""
        from minio.error import S3Error

        versions = [
            o.version_id
            for o in self._client.list_objects(bucket, prefix=key, include_version=True)
            if o.object_name == key
        ]
        deleted = 0
        for version in versions:
            try:
                self._client.remove_object(bucket, key, version_id=version)
                deleted += 1
            except S3Error as exc:
                if exc.code in _LOCK_REFUSALS:
                    return deleted, f"object store refused ({exc.code}): {exc.message}"
                raise
        return deleted, None

    def lock_state(self, bucket: str, key: str) -> tuple[str | None, datetime | None, bool]:
        """(version id, COMPLIANCE/GOVERNANCE retain-until, legal hold) from the object's HEAD
        (x-amz-object-lock-* headers, which every S3 implementation returns)."""
        stat = self._client.stat_object(bucket, key)
        headers = {k.lower(): v for k, v in (stat.metadata or {}).items()}
        until_text = headers.get("x-amz-object-lock-retain-until-date")
        until = None
        if until_text:
            until = datetime.fromisoformat(until_text.replace("Z", "+00:00")).astimezone(UTC)
        held = headers.get("x-amz-object-lock-legal-hold", "").upper() == "ON"
        return stat.version_id, until, held

    def protect(
        self, bucket: str, key: str, retain_until: datetime | None, legal_hold: bool
    ) -> ProtectOutcome:
        from minio.commonconfig import COMPLIANCE
        from minio.error import S3Error
        from minio.retention import Retention

        try:
            version, in_force, _ = self.lock_state(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return ProtectOutcome(False, True, None, False, f"no object {bucket}/{key}")
            raise
        try:
            if retain_until is not None and (in_force is None or retain_until > in_force):
                # COMPLIANCE retention can be extended, never shortened nor removed.
                self._client.set_object_retention(
                    bucket, key, Retention(COMPLIANCE, retain_until), version_id=version
                )
            if legal_hold:
                self._client.enable_object_legal_hold(bucket, key, version_id=version)
            else:
                self._client.disable_object_legal_hold(bucket, key, version_id=version)
            _, in_force, held = self.lock_state(bucket, key)
        except S3Error as exc:
            if exc.code in ("InvalidRequest", "ObjectLockConfigurationNotFoundError"):
                return ProtectOutcome(
                    True, False, None, False, f"bucket {bucket} has no Object Lock: {exc.message}"
                )
            raise
        detail = ""
        if retain_until is not None and in_force is not None and in_force > retain_until:
            detail = f"retention stays until {in_force.isoformat()} (COMPLIANCE cannot shorten)"
        return ProtectOutcome(True, True, in_force, held, detail)


class RecordingPurger:
    service = "recorder"
    schema = "recorder"
    data_kinds = frozenset({RECORDING})

    def __init__(
        self,
        objects: ObjectStore,
        *,
        locks: S3RecordingLocks | None = None,
        open_bucket: Callable[[str], ObjectStore] | None = None,
        concurrency: int = 16,
    ) -> None:
        self._objects = objects
        self._locks = locks
        self._open_bucket = open_bucket
        self._stores: dict[str, ObjectStore] = {objects.bucket: objects}
        self._concurrency = concurrency

    def _store(self, bucket: str) -> ObjectStore:
        if bucket not in self._stores:
            if self._open_bucket is None:
                raise RuntimeError(
                    f"recording in bucket {bucket!r}, which this recorder cannot open"
                )
            self._stores[bucket] = self._open_bucket(bucket)
        return self._stores[bucket]

    async def _delete_object(self, bucket: str, key: str) -> tuple[int, str | None]:
        if self._locks is not None:
            return await asyncio.to_thread(self._locks.delete_all_versions, bucket, key)
        return (1 if await self._store(bucket).delete(key) else 0), None

    async def purge(self, conn: AsyncConnection, call_ids: Sequence[str]) -> list[PurgeOutcome]:
        cur = await conn.execute(
            "SELECT call_id, bucket, object_key, sha256 FROM recorder.calls"
            " WHERE call_id = ANY(%s) FOR UPDATE",
            (list(call_ids),),
        )
        rows = {r[0]: r for r in (_values(row) for row in await cur.fetchall())}
        semaphore = asyncio.Semaphore(self._concurrency)
        outcomes: dict[str, PurgeOutcome] = {}

        async def purge_object(call_id: str, bucket: str | None, key: str | None) -> None:
            if not key:
                outcomes[call_id] = PurgeOutcome(call_id, DELETED, detail="no recording object")
                return
            async with semaphore:
                deleted, refusal = await self._delete_object(bucket or self._objects.bucket, key)
            if refusal:
                outcomes[call_id] = PurgeOutcome(
                    call_id, REFUSED_LOCKED, objects_deleted=deleted, detail=refusal
                )
            else:
                outcomes[call_id] = PurgeOutcome(call_id, DELETED, objects_deleted=deleted)

        await asyncio.gather(
            *(purge_object(c, rows[c][1], rows[c][2]) for c in call_ids if c in rows)
        )
        removable = [c for c, o in outcomes.items() if o.status == DELETED]
        if removable:
            await conn.execute("DELETE FROM recorder.calls WHERE call_id = ANY(%s)", (removable,))
        result = []
        for call_id in call_ids:
            if call_id not in rows:
                result.append(
                    PurgeOutcome(
                        call_id,
                        ALREADY_GONE,
                        detail="no recording stored for this call; nothing deleted",
                    )
                )
                continue
            outcome = outcomes[call_id]
            if outcome.status == DELETED:
                outcome.rows_deleted = 1
                outcome.content_sha256 = rows[call_id][3] or ""
            result.append(outcome)
        return result


class RecordingProtector:
    def __init__(self, pool: AsyncConnectionPool, locks: S3RecordingLocks | None) -> None:
        self._pool = pool
        self._locks = locks

    async def protect(
        self, call_id: str, retain_until: datetime | None, legal_hold: bool
    ) -> ProtectOutcome:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT bucket, object_key FROM recorder.calls WHERE call_id = %s", (call_id,)
            )
            row = await cur.fetchone()
        if row is None or not _values(row)[1]:
            return ProtectOutcome(False, self._locks is not None, None, False, "no recording")
        bucket, key = _values(row)
        if self._locks is None:
            return ProtectOutcome(
                True, False, None, False, "the filesystem object store has no Object Lock"
            )
        return await asyncio.to_thread(self._locks.protect, bucket, key, retain_until, legal_hold)


def _values(row: Any) -> tuple:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def purge_handler(
    pool: AsyncConnectionPool,
    producer: Publisher,
    objects: ObjectStore,
    core: CoreSettings,
    *,
    locks: S3RecordingLocks | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RetentionCommandHandler:
    """The recorder's handler for callscope.retention.commands."""
    locks = locks if locks is not None else S3RecordingLocks.from_settings(core)
    purger = RecordingPurger(
        objects, locks=locks, open_bucket=lambda bucket: open_object_store(core, bucket)
    )
    return RetentionCommandHandler(
        pool, producer, purger, protector=RecordingProtector(pool, locks), clock=clock
    )
