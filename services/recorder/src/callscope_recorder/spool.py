"""The durable spool: every live call's audio and recording commands, journaled to local
segment files as they happen, so a crashed recorder (kill -9, OOM, node reboot) loses nothing
that was placed in a recording. A restart replays each journal into a CallSession and finishes
the call (see CallRecorder.recover).

Layout, per call: `<spool_dir>/<call_id>/header.json` (the call's metadata and policy, written
atomically at the start) and `000001.seg`, `000002.seg`, ... (records appended in order; a
new file after `segment_bytes`). A record is a 14-byte header - kind (1 audio, 2 control),
channel (0 customer, 1 agent), position in samples (u32), payload length (u32), CRC-32 of the
payload (u32) - then the payload: 16-bit PCM for audio, UTF-8 JSON for a control record. A
record cut short by the crash (or with a bad CRC) ends the replay of that call: everything
before it is recovered.

Only audio that is kept is journaled: what falls in a pause never reaches the disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import queue
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .domain.call import CHANNELS, CallSession

log = logging.getLogger(__name__)

HEADER_FILE = "header.json"
_RECORD = struct.Struct("<BBIII")
AUDIO, CONTROL = 1, 2
_CHANNEL_CODES = {name: code for code, name in enumerate(CHANNELS)}
BROKEN_DIR = ".broken"
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if os.name == "posix" else None


class SpoolError(RuntimeError):
    pass


class CallJournalFile:
    """The journal of one live call. audio()/control() only append to memory; flush() hands
    what accumulated to the spool's writer thread: called by the call's pump a few times a
    second and at every recording command. No file I/O ever runs on the event loop."""

    def __init__(self, spool: Spool, directory: Path) -> None:
        self.directory = directory
        self._spool = spool
        self._pending = bytearray()
        # Touched only by the writer thread:
        self.file: IO[bytes] | None = None
        self.segment = 0
        self.written = 0
        self.removed = False

    def audio(self, channel: str, position: int, pcm: bytes) -> None:
        self._pending += _RECORD.pack(
            AUDIO, _CHANNEL_CODES[channel], position, len(pcm), zlib.crc32(pcm)
        )
        self._pending += pcm

    def control(self, kind: str, **fields: Any) -> None:
        payload = json.dumps({"kind": kind, **fields}, separators=(",", ":")).encode()
        self._pending += _RECORD.pack(CONTROL, 0, 0, len(payload), zlib.crc32(payload))
        self._pending += payload

    def flush(self) -> None:
        if self._pending:
            self._spool.writer.submit(_Write(self, bytes(self._pending)))
            self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._spool.writer.submit(_Close(self))

    def remove(self) -> None:
        """The call is stored and announced: its journal is not needed any more."""
        self._pending.clear()
        self._spool.writer.submit(_Remove(self))


@dataclass
class _Header:
    directory: Path
    header: dict[str, Any]


@dataclass
class _Write:
    journal: CallJournalFile
    data: bytes


@dataclass
class _Close:
    journal: CallJournalFile


@dataclass
class _Remove:
    journal: CallJournalFile


_Job = _Header | _Write | _Close | _Remove | threading.Event


class SpoolWriter:
    """One thread that does every spool write, in submission order. Writes go to the page
    cache at once (that survives a crash of the process: kill -9, OOM). With `fsync`, the
    whole spool filesystem is synced once per `sync_interval_s` (syncfs: one call for every
    call's journal, instead of an fsync per file per flush, which stalled hundreds of calls on
    a busy disk), so a power cut loses at most that much."""

    def __init__(
        self, root: Path, *, fsync: bool, segment_bytes: int, sync_interval_s: float = 1.0
    ) -> None:
        self._root = root
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._sync_interval_s = sync_interval_s
        self._dirty = False
        self._last_sync = time.monotonic()
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.errors = 0
        self.syncs = 0
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def submit(self, job: _Job) -> None:
        self._queue.put(job)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise SpoolError(f"spool writer still busy after {timeout:.0f}s")

    def _run(self) -> None:
        while True:
            batch: list[_Job] = []
            with contextlib.suppress(queue.Empty):
                batch.append(self._queue.get(timeout=self._sync_interval_s))
                while len(batch) < 10_000:
                    batch.append(self._queue.get_nowait())
            try:
                self._write(batch)
                if self._dirty and time.monotonic() - self._last_sync >= self._sync_interval_s:
                    self._sync()
            except Exception:  # a full disk must not kill the thread: later writes may work
                self.errors += 1
                log.exception("spool write failed")

    def _sync(self) -> None:
        fd = os.open(self._root, os.O_RDONLY)
        try:
            if _LIBC is None or _LIBC.syncfs(fd) != 0:
                os.sync()  # no syncfs here: every filesystem, still one call
        finally:
            os.close(fd)
        self._dirty = False
        self._last_sync = time.monotonic()
        self.syncs += 1

    def _write(self, batch: list[_Job]) -> None:
        touched: dict[int, CallJournalFile] = {}
        waiters: list[threading.Event] = []
        for job in batch:
            if isinstance(job, threading.Event):
                waiters.append(job)
            elif isinstance(job, _Header):
                self._write_header(job)
            elif isinstance(job, _Write):
                journal = job.journal
                if journal.removed:
                    continue
                if journal.file is None or journal.written >= self._segment_bytes:
                    self._next_segment(journal)
                assert journal.file is not None
                journal.file.write(job.data)
                journal.written += len(job.data)
                touched[id(journal)] = journal
            elif isinstance(job, _Close):
                self._close(job.journal, touched)
            else:
                self._close(job.journal, touched)
                job.journal.removed = True
                shutil.rmtree(job.journal.directory, ignore_errors=True)
        for journal in touched.values():
            if journal.file is not None:
                journal.file.flush()  # in the page cache: survives a crash of the process
        if touched and self._fsync:
            self._dirty = True
        for waiter in waiters:
            waiter.set()

    def _write_header(self, job: _Header) -> None:
        job.directory.mkdir(parents=True, exist_ok=True)
        tmp = job.directory / (HEADER_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(job.header, out)
        os.replace(tmp, job.directory / HEADER_FILE)  # never half a header
        self._dirty = self._fsync

    def _next_segment(self, journal: CallJournalFile) -> None:
        if journal.file is not None:
            journal.file.close()
        journal.segment += 1
        path = journal.directory / f"{journal.segment:06d}.seg"
        journal.file = open(path, "ab")  # noqa: SIM115 - kept open across batches
        journal.written = 0

    @staticmethod
    def _close(journal: CallJournalFile, touched: dict[int, CallJournalFile]) -> None:
        if journal.file is not None:
            journal.file.flush()
            journal.file.close()
            journal.file = None
        touched.pop(id(journal), None)


@dataclass
class SpooledRecord:
    kind: int
    channel: str
    position: int
    payload: bytes

    def control(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload)
        return value


@dataclass
class SpooledCall:
    directory: Path
    header: dict[str, Any]

    @property
    def call_id(self) -> str:
        return str(self.header["call_id"])

    def records(self) -> Iterator[SpooledRecord]:
        """Every intact record, in order; stops at the first torn or corrupt one."""
        channels = {code: name for name, code in _CHANNEL_CODES.items()}
        for path in sorted(self.directory.glob("*.seg")):
            data = path.read_bytes()
            offset = 0
            while offset < len(data):
                if offset + _RECORD.size > len(data):
                    log.warning("%s: journal ends in a torn record header", path)
                    return
                kind, channel, position, length, crc = _RECORD.unpack_from(data, offset)
                start = offset + _RECORD.size
                payload = data[start : start + length]
                if len(payload) < length or zlib.crc32(payload) != crc or kind not in (1, 2):
                    log.warning("%s: journal ends in a torn or corrupt record", path)
                    return
                if kind == AUDIO and channel not in channels:
                    log.warning("%s: record for unknown channel %d", path, channel)
                    return
                yield SpooledRecord(kind, channels.get(channel, ""), position, payload)
                offset = start + length

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class Spool:
    def __init__(
        self,
        root: Path,
        *,
        fsync: bool = True,
        segment_bytes: int = 8 << 20,
        sync_interval_s: float = 1.0,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.writer = SpoolWriter(
            root, fsync=fsync, segment_bytes=segment_bytes, sync_interval_s=sync_interval_s
        )

    def open(self, session: CallSession, header: dict[str, Any]) -> CallJournalFile:
        directory = self.root / session.call_id
        self.writer.submit(_Header(directory, header))  # written before any of its records
        return CallJournalFile(self, directory)

    def drain(self, timeout: float = 30.0) -> None:
        self.writer.drain(timeout)

    def calls(self) -> list[SpooledCall]:
        """The calls left in the spool by a previous process. A directory without a readable
        header is moved aside (to .broken/) and logged, never deleted."""
        found = []
        for directory in sorted(self.root.iterdir()):
            if not directory.is_dir() or directory.name == BROKEN_DIR:
                continue
            try:
                header = json.loads((directory / HEADER_FILE).read_text(encoding="utf-8"))
                if header.get("call_id") != directory.name:
                    raise SpoolError("header call_id does not match its directory")
            except (OSError, ValueError, SpoolError) as exc:
                broken = self.root / BROKEN_DIR
                broken.mkdir(exist_ok=True)
                log.error("spooled call %s is unreadable (%s): moved to %s", directory, exc, broken)
                shutil.move(str(directory), broken / directory.name)
                continue
            found.append(SpooledCall(directory, header))
        return found
