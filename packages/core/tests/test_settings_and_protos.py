from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from callscope.v1 import events_pb2
from callscope_core.serialization import PayloadError, content_type_for, decode
from callscope_core.settings import ConfigurationError, CoreSettings, load_settings

ROOT = Path(__file__).resolve().parents[3]


def test_malformed_setting_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSCOPE_KAFKA_FETCH_MAX_WAIT_MS", "soon")
    with pytest.raises(ConfigurationError) as err:
        load_settings(CoreSettings)
    assert "CALLSCOPE_KAFKA_FETCH_MAX_WAIT_MS" in str(err.value)


def test_service_exits_with_a_message_not_a_traceback() -> None:
    env = {"CALLSCOPE_OBJECT_STORE_BACKEND": "tape", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "callscope_retention"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CALLSCOPE_OBJECT_STORE_BACKEND" in result.stderr
    assert "Traceback" not in result.stderr


def test_generated_protobuf_code_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protos.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    committed = ROOT / "packages" / "core" / "src" / "callscope" / "v1"
    fresh = tmp_path / "callscope" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    assert names == sorted(
        p.name for p in committed.iterdir() if p.is_file() and p.suffix != ".pyc"
    )
    _, mismatch, errors = filecmp.cmpfiles(fresh, committed, names, shallow=False)
    assert not mismatch and not errors, (
        f"stale generated code: {mismatch or errors}; run make protos"
    )


def test_payload_roundtrip_and_clear_errors() -> None:
    message = events_pb2.AudioSegment(call_id="c", seq=3, audio=b"\x00\x01")
    decoded = decode(content_type_for(message), message.SerializeToString())
    assert decoded == message
    with pytest.raises(PayloadError, match="unknown message type"):
        decode("application/x-protobuf; type=callscope.v1.Nope", b"")
    with pytest.raises(PayloadError, match="content-type"):
        decode("application/json", b"{}")
    with pytest.raises(PayloadError, match="cannot decode"):
        decode(content_type_for(message), b"\xff\xff\xff")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS", "kafka", "is not host:port"),
        ("CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS", "tcp://kafka:9092", "is not host:port"),
        ("CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS", "kafka:99999", "out of range"),
        ("CALLSCOPE_DATABASE_URL", "mysql://db/calls", "postgresql://"),
        ("CALLSCOPE_S3_ENDPOINT", "https://minio:9000", "no scheme"),
    ],
)
def test_malformed_endpoints_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as err:
        load_settings(CoreSettings)
    assert variable in str(err.value) and message in str(err.value)


def test_a_service_with_a_malformed_endpoint_exits_with_the_setting_name() -> None:
    env = {"CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS": "kafka", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "callscope_transcriber"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS" in result.stderr and "Traceback" not in result.stderr
