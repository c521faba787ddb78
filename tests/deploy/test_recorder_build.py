"""The recorder's compiled RTP receiver is optional at build time: a platform without a C
compiler still gets an installable recorder (which then reads RTP per packet)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build_wheel(tmp_path: Path, env: dict[str, str]) -> list[str]:
    source = tmp_path / "recorder"
    shutil.copytree(
        REPO / "services" / "recorder",
        source,
        ignore=shutil.ignore_patterns("*.so", "_rtp_batch.c", "build", "*.egg-info", "tests"),
    )
    out = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        env=env,
        capture_output=True,
    )
    [wheel] = out.glob("*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_the_recorder_builds_without_a_compiler_and_with_one(tmp_path: Path) -> None:
    without = build_wheel(tmp_path / "no-cc", {**os.environ, "CC": "/bin/false"})
    assert "callscope_recorder/ingest/rtp_server.py" in without
    assert not [name for name in without if name.endswith(".so")]
    with_cc = build_wheel(tmp_path / "cc", dict(os.environ))
    assert [n for n in with_cc if n.startswith("callscope_recorder/ingest/_rtp_batch.cpython")]
