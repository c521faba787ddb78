"""The spool's journal files: records come back in order, a record torn by a crash ends the
replay without losing what came before, segment files rotate, an unreadable call is moved
aside (never deleted), and a finished call leaves nothing behind."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from callscope_recorder.domain.call import CallSession
from callscope_recorder.spool import AUDIO, CONTROL, Spool


def session(call_id: str = "c-1") -> CallSession:
    return CallSession(
        call_id=call_id,
        external_call_id="x",
        source="grpc",
        queue="q",
        language="",
        started_at=datetime.now(UTC),
    )


def test_records_come_back_in_order_across_segment_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync=True, segment_bytes=1000, sync_interval_s=0.05)
    journal = spool.open(session(), {"call_id": "c-1", "queue": "q"})
    for i in range(10):
        journal.audio("customer" if i % 2 else "agent", i * 160, bytes([i]) * 320)
        journal.control("pause" if i == 5 else "ends", position=i)
        journal.flush()
    journal.close()
    spool.drain()
    assert len(list((tmp_path / "c-1").glob("*.seg"))) > 1
    time.sleep(0.2)  # the writer syncs the filesystem once the interval has passed
    assert spool.writer.syncs >= 1 and spool.writer.errors == 0
    [call] = spool.calls()
    assert call.header == {"call_id": "c-1", "queue": "q"}
    records = list(call.records())
    audio = [r for r in records if r.kind == AUDIO]
    assert [(r.channel, r.position, r.payload[:1]) for r in audio] == [
        ("customer" if i % 2 else "agent", i * 160, bytes([i])) for i in range(10)
    ]
    controls = [r.control() for r in records if r.kind == CONTROL]
    assert [c["kind"] for c in controls].count("pause") == 1


def test_a_torn_tail_keeps_everything_before_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync=False)
    journal = spool.open(session(), {"call_id": "c-1"})
    journal.audio("agent", 0, b"\x01\x02" * 160)
    journal.audio("agent", 160, b"\x03\x04" * 160)
    journal.flush()
    journal.close()
    spool.drain()
    [segment] = (tmp_path / "c-1").glob("*.seg")
    data = segment.read_bytes()
    segment.write_bytes(data[:-100])  # the crash cut the last write short
    [call] = spool.calls()
    assert [r.position for r in call.records()] == [0]
    corrupted = bytearray(data)
    corrupted[20] ^= 0xFF  # a flipped bit in the first payload: its CRC fails
    segment.write_bytes(bytes(corrupted))
    assert list(call.records()) == []


def test_unreadable_call_is_moved_aside_and_finished_call_is_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync=False)
    (tmp_path / "broken-call").mkdir()
    (tmp_path / "broken-call" / "header.json").write_text("{not json")
    journal = spool.open(session("c-2"), {"call_id": "c-2"})
    journal.audio("customer", 0, b"\x00\x01" * 10)
    journal.flush()
    spool.drain()
    assert [c.call_id for c in spool.calls()] == ["c-2"]
    assert (tmp_path / ".broken" / "broken-call" / "header.json").exists()
    journal.remove()
    spool.drain()
    assert not (tmp_path / "c-2").exists()
    journal.audio("customer", 10, b"\x00\x01")
    journal.flush()  # after remove(): nothing is written, nothing recreated
    spool.drain()
    assert not (tmp_path / "c-2").exists()
    assert spool.calls() == []
