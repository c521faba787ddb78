"""Consent and storage: an opt-out under policy "stop" leaves no audio after it (file and
Kafka); under "proof_only" the whole call is kept, in the Object Lock bucket (COMPLIANCE, the
policy's retention), for proof only, with nothing published after the opt-out. Recordings on
S3 (moto server) carry server-side encryption (SSE-S3, AES256)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import soundfile
from minio.commonconfig import COMPLIANCE

from callscope.v1 import events_pb2
from callscope_core.storage import S3ObjectStore
from callscope_recorder.calls import CallInfo

if TYPE_CHECKING:
    from conftest import RecorderHarness

pytestmark = pytest.mark.integration
RATE = 8000


def tone(freq: float, ms: int, amplitude: int = 12000) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def feed_both(handle: Any, pcm: bytes) -> None:
    for channel in ("customer", "agent"):
        for i in range(0, len(pcm), 320):
            handle.feed(channel, pcm[i : i + 320])


def s3_store(endpoint: str, bucket: str, object_lock: bool = False) -> S3ObjectStore:
    return S3ObjectStore(
        endpoint,
        "testing",
        "testing",
        bucket,
        secure=False,
        region="us-east-1",
        object_lock=object_lock,
    )


@pytest.fixture
async def s3_harness(make_harness: Any, s3_endpoint: str) -> RecorderHarness:
    objects = s3_store(s3_endpoint, "recordings")
    proof = s3_store(s3_endpoint, "proof", object_lock=True)
    await objects.ensure_bucket()
    await proof.ensure_bucket()
    harness: RecorderHarness = await make_harness(objects=objects, proof_objects=proof)
    return harness


async def test_opt_out_with_policy_stop_keeps_nothing_after_it(harness: RecorderHarness) -> None:
    await harness.policies.set(
        harness.policies_model("consent-stop", "", "all", opt_out_decision="stop"), "test"
    )
    handle = await harness.recorder.open_call(CallInfo(source="audiohook", tenant="consent-stop"))
    feed_both(handle, tone(440, 1000))
    assert await handle.consent(announcement_played=True, customer_opted_out=False) == "continue"
    feed_both(handle, tone(440, 1000))
    decision = await handle.consent(
        announcement_played=True, customer_opted_out=True, source="audiohook"
    )
    assert decision == "stop" and handle.state == "stopped"
    feed_both(handle, tone(2000, 1500, amplitude=20000))  # said after the opt-out
    await handle.end("close")

    events = await harness.events_after_end(handle.call_id)
    consents = [m for m in events if isinstance(m, events_pb2.ConsentRecorded)]
    assert [(c.announcement_played, c.customer_opted_out, c.decision) for c in consents] == [
        (True, False, "continue"),
        (True, True, "stop"),
    ]
    assert consents[1].at_ms == 2000 and consents[1].source == "audiohook"
    [stopped] = [m for m in events if isinstance(m, events_pb2.RecordingStopped)]
    assert stopped.at_ms == 2000 and stopped.reason == "customer opted out"
    [stored] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert not stored.proof_only and [(g.start_ms, g.reason) for g in stored.gaps] == [
        (2000, "stopped")
    ]
    pcm, _ = soundfile.read(io.BytesIO(await harness.objects.get(stored.object_key)), dtype="int16")
    assert pcm[: 2 * RATE].any() and not pcm[2 * RATE :].any()
    segments = [m for m in events if isinstance(m, events_pb2.AudioSegment) and m.audio]
    assert segments and max(s.start_ms + s.duration_ms for s in segments) <= 2000


async def test_opt_out_with_policy_proof_only_goes_to_the_locked_bucket_encrypted(
    s3_harness: RecorderHarness,
) -> None:
    harness = s3_harness
    await harness.policies.set(
        harness.policies_model(
            "consent-proof", "", "all", opt_out_decision="proof_only", proof_retention_days=30
        ),
        "test",
    )
    handle = await harness.recorder.open_call(CallInfo(source="twilio", tenant="consent-proof"))
    feed_both(handle, tone(440, 1000))
    await asyncio.sleep(0.8)  # the first second goes out live
    decision = await handle.consent(announcement_played=True, customer_opted_out=True)
    assert decision == "proof_only" and handle.state == "recording"
    feed_both(handle, tone(440, 1000))
    await asyncio.sleep(0.8)
    await handle.end("stop")

    events = await harness.events_after_end(handle.call_id)
    [consent] = [m for m in events if isinstance(m, events_pb2.ConsentRecorded)]
    assert consent.decision == "proof_only" and consent.at_ms == 1000
    [stored] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert stored.proof_only and list(stored.purposes) == ["proof"]
    assert stored.bucket == "proof" and stored.encryption == "AES256" and not stored.gaps
    segments = [m for m in events if isinstance(m, events_pb2.AudioSegment) and m.audio]
    assert max(s.start_ms + s.duration_ms for s in segments) <= 1000  # nothing live after
    # The whole call is kept for proof, both halves.
    data = await harness.proof_objects.get(stored.object_key)
    pcm, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    assert len(pcm) == 2 * RATE and pcm[:RATE].any() and pcm[RATE:].any()
    proof = harness.proof_objects
    assert isinstance(proof, S3ObjectStore)
    client = proof._client
    stat = await asyncio.to_thread(client.stat_object, "proof", stored.object_key)
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256"
    # Object Lock as S3 reports it on the object (moto answers ?retention with the body).
    assert stat.metadata.get("x-amz-object-lock-mode") == COMPLIANCE
    until = datetime.fromisoformat(
        stat.metadata["x-amz-object-lock-retain-until-date"].replace("Z", "+00:00")
    )
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs((until - expected).total_seconds()) < 600
    with pytest.raises(Exception, match=r"AccessDenied|locked|retention"):
        await asyncio.to_thread(
            client.remove_object, "proof", stored.object_key, version_id=stat.version_id
        )
    row = await harness.call_row(handle.call_id)
    assert row is not None and row["proof_only"] and row["bucket"] == "proof"


async def test_recordings_on_s3_are_encrypted_server_side(s3_harness: RecorderHarness) -> None:
    harness = s3_harness
    handle = await harness.recorder.open_call(CallInfo(source="grpc"))
    feed_both(handle, tone(440, 500))
    finished = await handle.end("hangup")
    assert finished.stored is not None and finished.stored.encryption == "AES256"
    objects = harness.objects
    assert isinstance(objects, S3ObjectStore)
    stat = await asyncio.to_thread(objects._client.stat_object, "recordings", finished.stored.key)
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256"
    assert stat.content_type == "audio/flac"
    events = await harness.events_after_end(handle.call_id)
    [stored] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert stored.encryption == "AES256" and stored.bucket == "recordings"
