"""Object storage behind one interface: a durable local filesystem backend and S3 (minio client).

Keys are '/'-separated paths such as 'recordings/2026/11/23/<call_id>.wav'.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from .settings import CoreSettings


class ObjectNotFoundError(KeyError):
    pass


class InvalidObjectKeyError(ValueError):
    pass


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectLock:
    """Write-once retention for proof recordings (S3 Object Lock, COMPLIANCE mode)."""

    retain_until: datetime
    legal_hold: bool = False


class ObjectStore(Protocol):
    bucket: str

    async def put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None = None,
        lock: ObjectLock | None = None,
    ) -> StoredObject: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> bool: ...

    async def signed_url(self, key: str, ttl: timedelta) -> str: ...

    def location(self) -> str: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidObjectKeyError(f"invalid object key {key!r}")
    return key


class FilesystemObjectStore:
    """Local default: files under root/bucket/key, written atomically (temp, fsync, rename)."""

    def __init__(self, root: Path, bucket: str) -> None:
        self.root = root.resolve()
        self.bucket = bucket
        self._base = self.root / bucket
        self._base.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self._base / _check_key(key)

    def location(self) -> str:
        return f"file://{self._base}"

    async def put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None = None,
        lock: ObjectLock | None = None,
    ) -> StoredObject:
        path = self._path(key)
        await asyncio.to_thread(self._write, path, data)
        return StoredObject(self.bucket, key, len(data), hashlib.sha256(data).hexdigest())

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    async def signed_url(self, key: str, ttl: timedelta) -> str:
        # A local file has no signing authority; the console serves it via its own audited route.
        return f"file://{quote(str(self._path(key)))}"


class S3ObjectStore:
    """S3-compatible storage (MinIO, AWS S3) through the minio client."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = True,
        region: str | None = None,
        object_lock: bool = False,
    ) -> None:
        from minio import Minio

        self.bucket = bucket
        self._endpoint = endpoint
        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region
        )
        self._object_lock = object_lock

    def location(self) -> str:
        return f"s3://{self.bucket} at {self._endpoint}"

    async def ensure_bucket(self) -> None:
        def create() -> None:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket, object_lock=self._object_lock)

        await asyncio.to_thread(create)

    async def put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None = None,
        lock: ObjectLock | None = None,
    ) -> StoredObject:
        from minio.commonconfig import COMPLIANCE
        from minio.retention import Retention

        _check_key(key)
        retention = Retention(COMPLIANCE, lock.retain_until) if lock else None

        digest = hashlib.sha256(data)
        # A flexible checksum: S3 verifies the bytes, and Object Lock uploads require one
        # (Content-MD5 is only added by minio over https).
        headers: dict[str, str | list[str] | tuple[str]] = {
            "x-amz-sdk-checksum-algorithm": "SHA256",
            "x-amz-checksum-sha256": base64.b64encode(digest.digest()).decode(),
            **(metadata or {}),
        }

        def upload() -> None:
            self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=headers,
                retention=retention,
                legal_hold=bool(lock and lock.legal_hold),
            )

        await asyncio.to_thread(upload)
        return StoredObject(self.bucket, key, len(data), digest.hexdigest())

    async def get(self, key: str) -> bytes:
        from minio.error import S3Error

        def download() -> bytes:
            response = self._client.get_object(self.bucket, _check_key(key))
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return await asyncio.to_thread(download)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise ObjectNotFoundError(key) from None
            raise

    async def exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            await asyncio.to_thread(self._client.stat_object, self.bucket, _check_key(key))
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return False
            raise

    async def delete(self, key: str) -> bool:
        existed = await self.exists(key)
        await asyncio.to_thread(self._client.remove_object, self.bucket, _check_key(key))
        return existed

    async def signed_url(self, key: str, ttl: timedelta) -> str:
        return await asyncio.to_thread(
            self._client.presigned_get_object, self.bucket, _check_key(key), expires=ttl
        )


def open_object_store(settings: CoreSettings, bucket: str | None = None) -> ObjectStore:
    bucket = bucket or settings.recordings_bucket
    if settings.object_store_backend == "filesystem":
        return FilesystemObjectStore(settings.object_store_path, bucket)
    if not (settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key):
        from .settings import ConfigurationError

        raise ConfigurationError(
            "CALLSCOPE_OBJECT_STORE_BACKEND=s3 needs CALLSCOPE_S3_ENDPOINT, "
            "CALLSCOPE_S3_ACCESS_KEY and CALLSCOPE_S3_SECRET_KEY"
        )
    return S3ObjectStore(
        settings.s3_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        bucket,
        secure=settings.s3_secure,
        region=settings.s3_region,
        object_lock=settings.s3_object_lock,
    )
