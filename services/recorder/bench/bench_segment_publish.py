"""Benchmark: CPU the recorder's producer spends per live audio segment, by producer batch size.

    python services/recorder/bench/bench_segment_publish.py [--calls 500] [--seconds 6]

Each of --calls calls publishes one 1 s PCM segment (16,000 bytes) per channel per second
through the core EventProducer (acks=all, the recorder's way: one at a time per call) to a
real Tansu broker, for --seconds seconds, in two patterns:

- paced: each call publishes at its own offset within the second, as live calls do;
- burst: every call publishes at once, as when many calls end (or a broker comes back) together.

Each pattern runs with aiokafka's default batch (16 KiB: one segment fills it, so every
further segment for the partition waits for the previous request) and with the configured
CALLSCOPE_KAFKA_PRODUCER_BATCH_BYTES, alternating, twice, in the same process and broker.
Reports CPU µs per publish (user + system of this process), publish latency p50/p95 and wall time.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
AIOKAFKA_DEFAULT_BATCH = 16384


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def publish_calls(
    kafka: str, batch_bytes: int, calls: int, seconds: int, paced: bool
) -> dict[str, Any]:
    from callscope.v1 import events_pb2
    from callscope_core.kafka import EventProducer
    from callscope_core.settings import CoreSettings
    from callscope_core.topics import AUDIO_SEGMENTS

    settings = CoreSettings(
        kafka_bootstrap_servers=kafka,
        kafka_idempotence=False,
        kafka_producer_batch_bytes=batch_bytes,
    )
    producer = EventProducer(settings, "bench")
    await producer.start()
    pcm = os.urandom(16000)
    latencies: list[float] = []
    start = time.monotonic() + 0.5

    async def call(index: int) -> None:
        call_id = f"bench-call-{index}"
        for second in range(seconds):
            if paced:
                await asyncio.sleep(max(0.0, start + second + index / calls - time.monotonic()))
            for channel in (1, 2):
                sent = time.monotonic()
                await producer.publish(
                    AUDIO_SEGMENTS,
                    call_id,
                    events_pb2.AudioSegment(
                        call_id=call_id,
                        channel=channel,
                        seq=second,
                        start_ms=second * 1000,
                        duration_ms=1000,
                        codec="pcm_s16le",
                        sample_rate=8000,
                        audio=pcm,
                    ),
                )
                latencies.append(time.monotonic() - sent)

    try:
        cpu_before, wall_before = cpu_seconds(), time.monotonic()
        await asyncio.gather(*(call(i) for i in range(calls)))
        cpu_used, wall = cpu_seconds() - cpu_before, time.monotonic() - wall_before
    finally:
        await producer.stop()
    latencies.sort()
    publishes = calls * seconds * 2
    return {
        "batch_bytes": batch_bytes,
        "cpu_us_per_publish": round(cpu_used / publishes * 1e6, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
        },
        "wall_s": round(wall, 2),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from callscope_core.kafka import ensure_topics
    from callscope_core.settings import CoreSettings
    from callscope_core.stack import free_port, start_tansu
    from callscope_core.topics import ALL_TOPICS

    configured = CoreSettings().kafka_producer_batch_bytes
    workdir = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    port = free_port()
    broker = start_tansu(port, workdir / "tansu.log")
    kafka = f"127.0.0.1:{port}"
    runs: dict[str, list[dict[str, Any]]] = {"paced": [], "burst": []}
    try:
        await ensure_topics(
            CoreSettings(kafka_bootstrap_servers=kafka, kafka_idempotence=False), ALL_TOPICS
        )
        for _ in range(2):
            for pattern in runs:
                for batch_bytes in (AIOKAFKA_DEFAULT_BATCH, configured):
                    result = await publish_calls(
                        kafka, batch_bytes, args.calls, args.seconds, pattern == "paced"
                    )
                    print(pattern, json.dumps(result), file=sys.stderr, flush=True)
                    runs[pattern].append(result)
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    def ratio(pattern: str) -> float:
        cost = {
            b: statistics.fmean(
                r["cpu_us_per_publish"] for r in runs[pattern] if r["batch_bytes"] == b
            )
            for b in (AIOKAFKA_DEFAULT_BATCH, configured)
        }
        return round(cost[AIOKAFKA_DEFAULT_BATCH] / cost[configured], 2)

    return {
        "benchmark": "recorder_segment_publish",
        "calls": args.calls,
        "seconds": args.seconds,
        "segment_bytes": 16000,
        "configured_batch_bytes": configured,
        "cpu_default_batch_over_configured": {p: ratio(p) for p in runs},
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=6)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(asyncio.run(bench(args))))


if __name__ == "__main__":
    main()
