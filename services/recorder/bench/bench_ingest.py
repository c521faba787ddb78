"""Benchmark of the recorder's non-SIP ingest paths against a real recorder process.

    python services/recorder/bench/bench_ingest.py [--sessions 100] [--seconds 20]
                                                  [--import-minutes 10]

A recorder-only local stack (Tansu, embedded PostgreSQL, filesystem object store, the
recorder as its own process) is started in a temporary directory and stopped at the end.

1. AudioHook: `--sessions` concurrent Genesys AudioHook sessions (a `websockets` client each,
   in this process) stream `--seconds` of stereo PCMU in real time (100 ms frames), then
   close. Reported: the recorder process's CPU (user+system, from /proc) over the run, as a
   share of one core and per session-second of audio; its peak RSS; how many calls were
   stored with their full duration (recorder.calls); close -> closed (flush and store) p50
   and max; and how late the clients fell behind real time (max).
2. Import: a stereo WAV of `--import-minutes` minutes (the escalation test call repeated)
   through `callscope import` (StreamCall): wall time and speed as a multiple of real time.

Prints one JSON object on stdout. The clients share the machine with the recorder, so on a
small machine the figures include their load.
"""

from __future__ import annotations

import argparse
import asyncio
import audioop
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import soundfile
from websockets.asyncio.client import connect

from callscope_core import stack as local_stack

REPO = Path(__file__).resolve().parents[3]
CALL = REPO / "tests" / "data" / "calls" / "escalation_en"


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


async def audiohook_session(
    endpoints: dict, conversation_id: str, seconds: int, customer: bytes, agent: bytes
) -> tuple[float, float]:
    """One session in real time; returns (close->closed seconds, lag behind real time)."""
    session_id = str(uuid.uuid4())
    headers = {"X-API-KEY": endpoints["audiohook_api_key"], "Audiohook-Session-Id": session_id}
    url = f"ws://127.0.0.1:{endpoints['websocket_port']}/audiohook"
    async with connect(url, additional_headers=headers) as ws:
        seq = 0

        async def send(kind: str, parameters: dict, server_seq: int) -> None:
            nonlocal seq
            seq += 1
            message = {
                "version": "2",
                "type": kind,
                "seq": seq,
                "serverseq": server_seq,
                "id": session_id,
                "position": "PT0S",
                "parameters": parameters,
            }
            await ws.send(json.dumps(message))

        media = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"]}
        await send(
            "open",
            {"conversationId": conversation_id, "media": [{**media, "rate": 8000}]},
            0,
        )
        opened = json.loads(await ws.recv())
        start = time.monotonic()
        for k in range(seconds * 10):
            at = (k * 800) % (len(customer) - 800)
            frame = bytearray(1600)
            frame[0::2] = customer[at : at + 800]
            frame[1::2] = agent[at : at + 800]
            await ws.send(bytes(frame))
            await asyncio.sleep(max(0.0, start + (k + 1) * 0.1 - time.monotonic()))
        lag = time.monotonic() - start - seconds
        await send("close", {"reason": "end"}, opened["seq"])
        closing = time.monotonic()
        await ws.recv()  # closed: the call is stored
        return time.monotonic() - closing, lag


async def bench_audiohook(state: dict, sessions: int, seconds: int) -> dict:
    endpoints = state["endpoints"]
    pid = state["processes"]["recorder"]["pid"]
    customer = (CALL / "customer.ulaw").read_bytes()
    agent = (CALL / "agent.ulaw").read_bytes()
    conversations = [f"bench-{uuid.uuid4()}" for _ in range(sessions)]
    peak = 0

    async def watch_rss() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process_rss_mb(pid))
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch_rss())
    cpu0, wall0 = process_cpu_s(pid), time.monotonic()
    results = await asyncio.gather(
        *(audiohook_session(endpoints, c, seconds, customer, agent) for c in conversations)
    )
    wall, cpu = time.monotonic() - wall0, process_cpu_s(pid) - cpu0
    watcher.cancel()
    with psycopg.connect(endpoints["database_url"]) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM recorder.calls WHERE external_call_id = ANY(%s)"
            " AND state = 'stored' AND duration_ms >= %s",
            (conversations, seconds * 1000),
        ).fetchone()[0]
    closes = [r[0] for r in results]
    return {
        "sessions": sessions,
        "seconds_each": seconds,
        "wall_s": round(wall, 1),
        "recorder_cpu_s": round(cpu, 2),
        "recorder_cpu_share_of_one_core": round(cpu / wall, 3),
        "recorder_cpu_ms_per_session_second": round(1000 * cpu / (sessions * seconds), 3),
        "recorder_peak_rss_mb": peak,
        "stored_complete": stored,
        "close_to_closed_s_p50": round(statistics.median(closes), 2),
        "close_to_closed_s_max": round(max(closes), 2),
        "client_lag_behind_real_time_s_max": round(max(r[1] for r in results), 2),
    }


def bench_import(state: dict, minutes: int, workdir: Path) -> dict:
    def channel(name: str) -> np.ndarray:
        return np.frombuffer(audioop.ulaw2lin((CALL / name).read_bytes(), 2), dtype="<i2")

    customer, agent = channel("customer.ulaw"), channel("agent.ulaw")
    n = min(len(customer), len(agent))
    stereo = np.stack([customer[:n], agent[:n]], axis=1)
    frames = minutes * 60 * 8000
    long_call = np.tile(stereo, (frames // n + 1, 1))[:frames]
    long_call[-1] = np.random.default_rng().integers(-5, 5, size=2)  # content of its own
    path = workdir / f"import-{minutes}min.wav"
    soundfile.write(path, long_call, 8000, subtype="PCM_16")
    env = {
        **os.environ,
        "CALLSCOPE_RECORDER_TARGET": f"127.0.0.1:{state['endpoints']['grpc']['recorder']}",
    }
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callscope"), "import", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.monotonic() - started
    if result.returncode != 0 or "1 imported" not in result.stdout:
        raise RuntimeError(f"import failed: {result.stdout}{result.stderr[-2000:]}")
    return {
        "audio_minutes": minutes,
        "wall_s": round(wall, 1),
        "times_real_time": round(minutes * 60 / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--import-minutes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callscope-bench-ingest-") as tmp:
        directory = Path(tmp)
        state = local_stack.up(directory / "stack", services=("recorder",), timeout=300)
        try:
            audiohook = asyncio.run(bench_audiohook(state, args.sessions, args.seconds))
            imported = bench_import(state, args.import_minutes, directory)
        finally:
            local_stack.down(directory / "stack")
    print(
        json.dumps(
            {
                "benchmark": "recorder ingest (AudioHook sessions, file import)",
                "cpus": os.cpu_count(),
                "audiohook": audiohook,
                "import": imported,
            }
        )
    )


if __name__ == "__main__":
    main()
