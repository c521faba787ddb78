# ruff: noqa: RUF001  (the utterances are in Russian and Chinese on purpose)
"""Benchmark: utterances analysed per second per core, and the latency from a FINAL on
callscope.transcripts to its alert on callscope.alerts.

    python services/analyzer/bench/bench_analyzer.py [--utterances 600] [--calls 40]

The analyzer runs as deployed (`python -m callscope_analyzer`, its own process) against a
Tansu broker and an embedded PostgreSQL that this script starts (the local stack's
components). Nothing is faked: the script publishes CallStarted and FINAL transcript segments
with a real producer and reads what the analyzer publishes.

1. Throughput: `--utterances` customer/agent FINALs over 20 calls are published as fast as
   the broker takes them; the clock runs from the first publish until the analyzer has stored
   them all. "Per core" divides by the CPU seconds the analyzer process used meanwhile
   (user + system, all its threads), so the figure does not depend on what else the machine
   runs; the wall-clock rate is reported beside it.
2. Latency: for each of `--calls` calls, three customer FINALs; the third is the customer's
   second request for a human, which raises `human_request` (0.5 s apart, as utterances are
   on a call, so a FINAL does not queue behind the previous one). Latency = the alert record's
   timestamp on callscope.alerts minus that FINAL's record timestamp on callscope.transcripts
   (both CreateTime, same host clock). One call at a time, analyzer caught up (no backlog).
3. Sentiment quality: accuracy and macro-F1 per language on the held-out split
   (services/analyzer/tests/data/sentiment_heldout.yaml, never trained on).

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HELDOUT = ROOT / "services" / "analyzer" / "tests" / "data" / "sentiment_heldout.yaml"
TICKS = os.sysconf("SC_CLK_TCK")

SCRIPT = [  # (channel, language, text): a short call, alternating, in four languages
    ("agent", "en", "Thank you for calling, how can I help you today?"),
    ("customer", "en", "I was charged twice on my card this month."),
    ("agent", "en", "I am sorry, let me check your account."),
    ("customer", "en", "This is the third time I call about this, it is really annoying."),
    ("agent", "en", "I can see the second payment, I will refund it."),
    ("customer", "en", "Thank you, that is good news."),
    ("customer", "fr", "Bonjour, je voudrais résilier mon abonnement."),
    ("agent", "fr", "Je comprends, puis-je connaître la raison ?"),
    ("customer", "fr", "Le service ne fonctionne plus depuis une semaine."),
    ("customer", "ru", "Здравствуйте, у меня проблема с оплатой."),
    ("agent", "ru", "Сейчас я проверю ваш счёт."),
    ("customer", "zh", "我的账单有问题，请帮我查一下。"),
    ("agent", "zh", "好的，我现在帮您查询。"),
]
ESCALATION = (
    "Hello, I have a question about my bill.",
    "I want to speak to an agent.",
    "No! Agent! Get me a real agent now, please.",
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def segment(  # type: ignore[no-untyped-def]
    call_id: str, channel: str, number: int, text: str, at_s: float, language: str = "en"
):
    from callscope.v1 import common_pb2, events_pb2

    return events_pb2.TranscriptSegment(
        call_id=call_id,
        channel=common_pb2.CHANNEL_CUSTOMER if channel == "customer" else common_pb2.CHANNEL_AGENT,
        utterance_no=number,
        version=1,
        kind=events_pb2.TranscriptSegment.KIND_FINAL,
        text=text,
        language=language,
        start_ms=int(at_s * 1000),
        end_ms=int(at_s * 1000) + 2500,
        confidence=0.9,
    )


def call_started(call_id: str):  # type: ignore[no-untyped-def]
    from callscope.v1 import common_pb2, events_pb2

    started = events_pb2.CallStarted(
        call_id=call_id,
        source="bench",
        queue="bench",
        agent_id="agent-1",
        participants=[
            events_pb2.Participant(aor="+33600000000", channel=common_pb2.CHANNEL_CUSTOMER),
            events_pb2.Participant(aor="sip:agent-1@cc", channel=common_pb2.CHANNEL_AGENT),
        ],
    )
    started.started_at.GetCurrentTime()
    return started


async def stored_utterances(database_url: str, prefix: str) -> int:
    import psycopg

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM analyzer.utterances WHERE call_id LIKE %s", (prefix + "%",)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def measure(args: argparse.Namespace, kafka: str, database_url: str, pid: int) -> dict:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from callscope.v1 import events_pb2
    from callscope_core.kafka import EventProducer
    from callscope_core.settings import CoreSettings
    from callscope_core.topics import ALERTS, CALL_EVENTS, TRANSCRIPTS

    core = CoreSettings(
        kafka_bootstrap_servers=kafka, kafka_idempotence=False, database_url=database_url
    )
    producer = EventProducer(core, "bench")
    await producer.start()
    # Record timestamps of the latency calls' third FINAL and their human_request alerts,
    # read all along by a background task (reading from the start: Tansu's end offsets are
    # unreliable after batched writes, ARCHITECTURE §6).
    tail = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False, fetch_max_wait_ms=20)
    await tail.start()
    partitions = [
        TopicPartition(topic.name, p)
        for topic in (TRANSCRIPTS, ALERTS)
        for p in sorted(tail.partitions_for_topic(topic.name) or [])
    ]
    tail.assign(partitions)
    await tail.seek_to_beginning(*partitions)
    finals_at: dict[str, int] = {}
    alerts_at: dict[str, int] = {}

    async def follow() -> None:
        while True:
            for tp, records in (await tail.getmany(timeout_ms=100)).items():
                for record in records:
                    key = (record.key or b"").decode()
                    if not key.startswith("lat-"):
                        continue
                    if tp.topic == TRANSCRIPTS.name:
                        message = events_pb2.TranscriptSegment.FromString(record.value)
                        if message.utterance_no == len(ESCALATION) - 1:
                            finals_at[key] = record.timestamp
                    else:
                        alert = events_pb2.SupervisorAlert.FromString(record.value)
                        if alert.kind == "human_request":
                            alerts_at[key] = record.timestamp

    follower = asyncio.create_task(follow())
    try:
        # -- 1. throughput ------------------------------------------------------------------
        prefix = f"tp-{uuid.uuid4().hex[:6]}-"
        calls = [f"{prefix}{i}" for i in range(20)]
        for call_id in calls:
            await producer.publish(CALL_EVENTS, call_id, call_started(call_id))
        await asyncio.sleep(2.0)  # the CallStarted are in (not part of the timed work)
        jobs = []
        numbers: dict[tuple[str, str], int] = {}
        for n in range(args.utterances):
            call_id = calls[n % len(calls)]
            channel, language, text = SCRIPT[(n // len(calls)) % len(SCRIPT)]
            number = numbers.get((call_id, channel), 0)
            numbers[(call_id, channel)] = number + 1
            at_s = 3.0 * (n // len(calls))
            jobs.append((call_id, segment(call_id, channel, number, text, at_s, language)))
        cpu_before = cpu_seconds(pid)
        started = time.monotonic()
        for chunk in range(0, len(jobs), 50):
            await asyncio.gather(
                *(producer.publish(TRANSCRIPTS, c, s) for c, s in jobs[chunk : chunk + 50])
            )
        while (done := await stored_utterances(database_url, prefix)) < args.utterances:
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"only {done}/{args.utterances} utterances analysed in time")
            await asyncio.sleep(0.05)
        wall = time.monotonic() - started
        cpu = cpu_seconds(pid) - cpu_before

        # -- 2. latency FINAL -> alert ------------------------------------------------------
        latencies_ms: list[float] = []
        for i in range(args.calls):
            call_id = f"lat-{uuid.uuid4().hex[:8]}-{i}"
            await producer.publish(CALL_EVENTS, call_id, call_started(call_id))
            await asyncio.sleep(0.3)  # CallStarted first, as on a real call
            for number, text in enumerate(ESCALATION):
                if number:
                    await asyncio.sleep(0.5)  # utterances are seconds apart on a real call
                await producer.publish(
                    TRANSCRIPTS, call_id, segment(call_id, "customer", number, text, 4.0 * number)
                )
            deadline = time.monotonic() + 30
            while call_id not in alerts_at or call_id not in finals_at:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no human_request alert for {call_id} within 30 s")
                await asyncio.sleep(0.02)
            final_ts, alert_ts = finals_at[call_id], alerts_at[call_id]
            latencies_ms.append(float(alert_ts - final_ts))
    finally:
        follower.cancel()
        await tail.stop()
        await producer.stop()
    return {
        "throughput": {
            "utterances": args.utterances,
            "calls": len(calls),
            "wall_s": round(wall, 2),
            "utterances_per_s": round(args.utterances / wall, 1),
            "analyzer_cpu_s": round(cpu, 2),
            "utterances_per_s_per_core": round(args.utterances / cpu, 1) if cpu else None,
        },
        "alert_latency_ms": {
            "samples": len(latencies_ms),
            "p50": round(percentile(latencies_ms, 50), 1),
            "p95": round(percentile(latencies_ms, 95), 1),
            "max": round(max(latencies_ms), 1),
            "mean": round(statistics.fmean(latencies_ms), 1),
            "target_p95": 100,
            "measured_as": "alert record timestamp - triggering FINAL record timestamp",
        },
    }


def sentiment_quality(cache_dir: Path | None) -> dict:
    from callscope_analyzer.domain.sentiment import SentimentModel, evaluate, load_labelled

    model = SentimentModel.load(cache_dir)
    heldout = load_labelled(HELDOUT)
    report = evaluate(lambda texts: [s.label for s in model.score(texts)], heldout)
    return {"heldout": str(HELDOUT.relative_to(ROOT)), "per_language": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=600)
    parser.add_argument("--calls", type=int, default=40, help="calls for the latency figure")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from callscope_core.devtools import create_database, local_kafka_and_postgres
    from callscope_core.kafka import ensure_topics
    from callscope_core.settings import CoreSettings
    from callscope_core.topics import ALL_TOPICS

    cache = ROOT / ".callscope" / "cache"
    with (
        tempfile.TemporaryDirectory(prefix="bench-analyzer-") as tmp,
        contextlib.ExitStack() as infrastructure,
    ):
        base = Path(tmp)
        os.chmod(base, 0o755)  # embedded PostgreSQL runs as its own user
        kafka, admin_url = infrastructure.enter_context(local_kafka_and_postgres(base))
        analyzer = None
        try:
            database_url = create_database(admin_url, f"bench_{uuid.uuid4().hex[:8]}")
            core = CoreSettings(
                kafka_bootstrap_servers=kafka, kafka_idempotence=False, database_url=database_url
            )
            asyncio.run(ensure_topics(core, ALL_TOPICS))
            env = {
                **os.environ,
                "CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS": kafka,
                "CALLSCOPE_KAFKA_IDEMPOTENCE": "false",
                "CALLSCOPE_DATABASE_URL": database_url,
                "CALLSCOPE_METRICS_PORT": "0",
                "CALLSCOPE_ANALYZER_GRPC_PORT": "0",
                "CALLSCOPE_LOG_FORMAT": "text",
                "OTEL_SDK_DISABLED": "true",
            }
            if cache.is_dir():
                env["CALLSCOPE_ANALYZER_CACHE_DIR"] = str(cache)
            log_path = base / "analyzer.log"
            with open(log_path, "wb") as log:
                analyzer = subprocess.Popen(
                    [sys.executable, "-m", "callscope_analyzer"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + 300
            while "analyzer ready" not in log_path.read_text(errors="replace"):
                if analyzer.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"analyzer did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            try:
                result = asyncio.run(measure(args, kafka, database_url, analyzer.pid))
            except SystemExit:
                sys.stderr.write(log_path.read_text(errors="replace")[-5000:])
                raise
        finally:
            if analyzer is not None:
                analyzer.terminate()
                analyzer.wait(30)
    result["sentiment"] = sentiment_quality(cache if cache.is_dir() else None)
    result["cpus"] = os.cpu_count()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
