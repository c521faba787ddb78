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

import json
import logging
import os
import shutil
import struct
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


class SpoolError(RuntimeError):
    pass


class CallJournalFile:
    """The journal of one live call. audio()/control() only append to memory; flush() writes
    what accumulated (and fsyncs it when asked): called by the call's pump a few times a
    second and at every recording command."""

    def __init__(self, directory: Path, *, fsync: bool, segment_bytes: int) -> None:
        self.directory = directory
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._pending = bytearray()
        self._file: IO[bytes] | None = None
        self._segment = 0
        self._written = 0
        self._removed = False

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
        if not self._pending or self._removed:
            return
        if self._file is None or self._written >= self._segment_bytes:
            self._next_segment()
        assert self._file is not None
        self._file.write(self._pending)
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._written += len(self._pending)
        self._pending.clear()

    def _next_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        self._segment += 1
        self._file = open(self.directory / f"{self._segment:06d}.seg", "ab")  # noqa: SIM115
        self._written = 0
        if self._fsync:  # the new file's directory entry must survive a power cut too
            _fsync_dir(self.directory)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        """The call is stored and announced: its journal is not needed any more."""
        self._removed = True
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    def __init__(self, root: Path, *, fsync: bool = True, segment_bytes: int = 8 << 20) -> None:
        self.root = root
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        root.mkdir(parents=True, exist_ok=True)

    def open(self, session: CallSession, header: dict[str, Any]) -> CallJournalFile:
        directory = self.root / session.call_id
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / (HEADER_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(header, out)
            out.flush()
            if self._fsync:
                os.fsync(out.fileno())
        os.replace(tmp, directory / HEADER_FILE)
        if self._fsync:
            _fsync_dir(directory)
            _fsync_dir(self.root)
        return CallJournalFile(directory, fsync=self._fsync, segment_bytes=self._segment_bytes)

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
