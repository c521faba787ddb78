"""A recorder process killed with SIGKILL in the middle of a SIPREC call (SIPp), then
restarted: the restart finishes the spooled call - the audio up to the crash lands in S3 (moto
server) as FLAC, sample for sample what SIPp sent; PostgreSQL says stored/recovered; Kafka
gets CallEnded(reason=recovered) and RecordingStored once - and a further restart publishes
nothing again."""

from __future__ import annotations

import asyncio
import audioop
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
import soundfile
from google.protobuf.message import Message

from callscope.v1 import events_pb2
from callscope_core.devtools import SampleCall, TopicTail, sipp_command
from callscope_core.kafka import ensure_topics
from callscope_core.settings import CoreSettings
from callscope_core.stack import free_port, free_sip_port
from callscope_core.storage import S3ObjectStore
from callscope_core.topics import AUDIO_SEGMENTS, CALL_EVENTS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
ESCALATION = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en")
BUCKET = "crash-recordings"


def recorder_env(
    core: CoreSettings, db_url: str, s3_endpoint: str, spool: Path, sip_port: int
) -> dict[str, str]:
    rtp_base = 40000 + (os.getpid() % 500) * 20
    return {
        **os.environ,
        "CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS": core.kafka_bootstrap_servers,
        "CALLSCOPE_KAFKA_IDEMPOTENCE": "false",
        "CALLSCOPE_DATABASE_URL": db_url,
        "CALLSCOPE_OBJECT_STORE_BACKEND": "s3",
        "CALLSCOPE_S3_ENDPOINT": s3_endpoint,
        "CALLSCOPE_S3_ACCESS_KEY": "testing",
        "CALLSCOPE_S3_SECRET_KEY": "testing",
        "CALLSCOPE_S3_SECURE": "false",
        "CALLSCOPE_S3_REGION": "us-east-1",
        "CALLSCOPE_RECORDINGS_BUCKET": BUCKET,
        "CALLSCOPE_LOG_FORMAT": "text",
        "CALLSCOPE_METRICS_PORT": str(free_port()),
        "CALLSCOPE_METRICS_HOST": "127.0.0.1",
        "CALLSCOPE_RECORDER_GRPC_PORT": str(free_port()),
        "CALLSCOPE_RECORDER_WEBSOCKET_PORT": str(free_port()),
        "CALLSCOPE_RECORDER_SIP_HOST": "127.0.0.1",
        "CALLSCOPE_RECORDER_SIP_PORT": str(sip_port),
        "CALLSCOPE_RECORDER_RTP_PORT_MIN": str(rtp_base),
        "CALLSCOPE_RECORDER_RTP_PORT_MAX": str(rtp_base + 18),
        "CALLSCOPE_RECORDER_SPOOL_DIR": str(spool),
        "CALLSCOPE_RECORDER_DRAIN_TIMEOUT_S": "0",
        "CALLSCOPE_RECORDER_RETENTION_TARGET": "127.0.0.1:1",
    }


def start_recorder(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "callscope_recorder"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def options(port: int, n: int) -> bytes:
    return (
        f"OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-crash{n}\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={n}\r\nTo: <sip:srs@127.0.0.1>\r\n"
        f"Call-ID: crash-probe-{n}@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the recorder answers OPTIONS 200 (it recovers the spool before it listens)."""
    deadline = time.monotonic() + 90
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        n = 0
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            n += 1
            sock.sendto(options(port, n), ("127.0.0.1", port))
            await asyncio.sleep(0.3)
            with contextlib.suppress(BlockingIOError):
                if sock.recv(65536).startswith(b"SIP/2.0 200"):
                    return
    raise AssertionError("recorder never answered OPTIONS: " + log.read_text()[-3000:])


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


async def collect(tail: TopicTail, seen: list[Message], until, timeout: float) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not until(seen):
            seen.extend(m for _, m in await tail.poll(0.3))


async def test_kill_9_mid_call_then_restart_stores_the_spooled_audio_once(
    core_settings: CoreSettings,
    recorder_db_url: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    log = tmp_path / "recorder.log"
    sip_port = free_sip_port()
    env = recorder_env(core_settings, recorder_db_url, s3_endpoint, spool, sip_port)
    await ensure_topics(core_settings, [CALL_EVENTS, AUDIO_SEGMENTS])
    tail = TopicTail(core_settings.kafka_bootstrap_servers, [CALL_EVENTS.name])
    await tail.start()
    seen: list[Message] = []
    first = start_recorder(env, log)
    sipp: asyncio.subprocess.Process | None = None
    procs = [first]
    try:
        await wait_ready(first, sip_port, log)
        sipp = await asyncio.create_subprocess_exec(
            *sipp_command(ESCALATION, "127.0.0.1", sip_port),
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        def started(messages: list[Message]) -> bool:
            return any(isinstance(m, events_pb2.CallStarted) for m in messages)

        await collect(tail, seen, started, 60)
        [call] = [m for m in seen if isinstance(m, events_pb2.CallStarted)]
        await asyncio.sleep(6.0)  # six seconds of the call reach the recorder
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert (spool / call.call_id / "header.json").is_file()
        assert list((spool / call.call_id).glob("*.seg"))
        sipp.kill()
        await sipp.wait()

        second = start_recorder(env, log)
        procs.append(second)
        await wait_ready(second, sip_port, log)

        def stored(messages: list[Message]) -> bool:
            return any(
                isinstance(m, events_pb2.RecordingStored) and m.call_id == call.call_id
                for m in messages
            )

        await collect(tail, seen, stored, 60)
        mine = [m for m in seen if getattr(m, "call_id", "") == call.call_id]
        [ended] = [m for m in mine if isinstance(m, events_pb2.CallEnded)]
        [recording] = [m for m in mine if isinstance(m, events_pb2.RecordingStored)]
        assert ended.reason == "recovered"
        assert 5000 <= recording.duration_ms <= 8000, recording.duration_ms
        assert recording.bucket == BUCKET and recording.encryption == "AES256"
        assert not spool.joinpath(call.call_id).exists()

        objects = S3ObjectStore(
            s3_endpoint, "testing", "testing", BUCKET, secure=False, region="us-east-1"
        )
        data = await objects.get(recording.object_key)
        assert len(data) == recording.size_bytes
        pcm, rate = soundfile.read(io.BytesIO(data), dtype="int16")
        assert rate == 8000 and pcm.shape == (recording.duration_ms * 8, 2)
        # What SIPp sent is what was recovered, sample for sample (customer left, agent right).
        for column, name in ((0, "customer"), (1, "agent")):
            sent = audioop.ulaw2lin((ESCALATION.directory / f"{name}.ulaw").read_bytes(), 2)
            expected = np.frombuffer(sent, dtype="<i2")[: len(pcm) - 8000]
            got = pcm[: len(expected), column]
            assert np.mean(got == expected) > 0.99, (name, np.mean(got == expected))

        with psycopg.connect(recorder_db_url) as conn:
            row = conn.execute(
                "SELECT state, end_reason, object_key, announced_at IS NOT NULL, labels_source"
                " FROM recorder.calls WHERE call_id = %s",
                (call.call_id,),
            ).fetchone()
        assert row == ("stored", "recovered", recording.object_key, True, "metadata")

        # A clean restart finds nothing to recover and publishes nothing about the call again.
        stop(second)
        third = start_recorder(env, log)
        procs.append(third)
        await wait_ready(third, sip_port, log)
        seen += [m for _, m in await tail.poll(2.0)]
        mine = [m for m in seen if getattr(m, "call_id", "") == call.call_id]
        assert sum(isinstance(m, events_pb2.RecordingStored) for m in mine) == 1
        assert sum(isinstance(m, events_pb2.CallEnded) for m in mine) == 1
    finally:
        if sipp is not None and sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
        for proc in procs:
            stop(proc)
        await tail.stop()
