"""Run the benchmarks and keep their JSON results: `make bench` (or `python tools/bench.py`).

Every `services/*/bench/bench_*.py` is a benchmark script that prints one JSON object on
stdout. This runner runs each (or only those whose name contains a --only filter), writes
`bench-results/<service>-<name>.json` and a combined `bench-results/summary.json` with the
machine it ran on, so figures stay comparable side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def discover(only: list[str]) -> list[Path]:
    scripts = sorted(ROOT.glob("services/*/bench/bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(word in str(s.relative_to(ROOT)) for word in only)]
    return scripts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="substring of a script path")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": {},
    }
    failed = []
    for script in discover(args.only):
        name = f"{script.parent.parent.name}-{script.stem.removeprefix('bench_')}"
        print(f"== {name}: {script.relative_to(ROOT)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, check=False
        )
        elapsed = round(time.monotonic() - started, 1)
        if proc.returncode != 0:
            failed.append(name)
            sys.stderr.write(proc.stderr[-4000:])
            summary["results"][name] = {"error": proc.returncode, "seconds": elapsed}
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        summary["results"][name] = result
        print(json.dumps(result), flush=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
