"""Object storage: the filesystem backend and the S3 backend against a real S3 endpoint (moto)."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callscope_core.storage import (
    FilesystemObjectStore,
    InvalidObjectKeyError,
    ObjectLock,
    ObjectNotFoundError,
    S3ObjectStore,
)


async def test_filesystem_store_roundtrip_is_durable_and_atomic(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path, "recordings")
    stored = await store.put("recordings/2026/11/23/a.wav", b"RIFF....", "audio/wav")
    assert stored.size == 8 and len(stored.sha256) == 64
    # A new instance (a restarted process) sees the same object.
    again = FilesystemObjectStore(tmp_path, "recordings")
    assert await again.get("recordings/2026/11/23/a.wav") == b"RIFF...."
    assert await again.exists("recordings/2026/11/23/a.wav")
    assert not list((tmp_path / "recordings").rglob(".tmp-*"))
    assert await again.delete("recordings/2026/11/23/a.wav")
    assert not await again.delete("recordings/2026/11/23/a.wav")
    with pytest.raises(ObjectNotFoundError):
        await again.get("recordings/2026/11/23/a.wav")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "../escape"])
async def test_filesystem_store_refuses_keys_that_escape(tmp_path: Path, key: str) -> None:
    store = FilesystemObjectStore(tmp_path, "b")
    with pytest.raises(InvalidObjectKeyError):
        await store.put(key, b"x", "text/plain")


@pytest.mark.integration
async def test_s3_store_with_object_lock_refuses_deleting_a_locked_recording(
    s3_endpoint: str,
) -> None:
    store = S3ObjectStore(
        s3_endpoint,
        "testing",
        "testing",
        "proof",
        secure=False,
        region="us-east-1",
        object_lock=True,
    )
    await store.ensure_bucket()
    lock = ObjectLock(retain_until=datetime.now(UTC) + timedelta(days=1))
    stored = await store.put("recordings/c1.wav", b"proof audio", "audio/wav", lock=lock)
    assert stored.bucket == "proof"
    assert await store.get("recordings/c1.wav") == b"proof audio"
    url = await store.signed_url("recordings/c1.wav", timedelta(minutes=5))
    assert "X-Amz-Signature" in url
    with urllib.request.urlopen(url) as response:  # the signed URL really serves the object
        assert response.read() == b"proof audio"
    with pytest.raises(Exception, match=r"AccessDenied|locked|retention"):
        # The delete of the locked *version* is what COMPLIANCE mode refuses.
        await _delete_version(store, "recordings/c1.wav")
    assert await store.get("recordings/c1.wav") == b"proof audio"


async def _delete_version(store: S3ObjectStore, key: str) -> None:
    import asyncio

    client = store._client
    stat = await asyncio.to_thread(client.stat_object, store.bucket, key)
    await asyncio.to_thread(client.remove_object, store.bucket, key, version_id=stat.version_id)


@pytest.mark.integration
async def test_s3_store_missing_object(s3_endpoint: str) -> None:
    store = S3ObjectStore(
        s3_endpoint, "testing", "testing", "plain", secure=False, region="us-east-1"
    )
    await store.ensure_bucket()
    assert not await store.exists("nope.wav")
    with pytest.raises(ObjectNotFoundError):
        await store.get("nope.wav")
