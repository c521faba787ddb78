"""DTMF from RTP telephone-events (RFC 4733) and the digit sequences that pause or resume a
recording (an agent keys `*1` before the customer reads out a card number). Pure code.

An RFC 4733 event payload is 4 octets: event (0-15 = 0-9 * # A-D), E (end) bit, R bit,
6-bit volume, 16-bit duration. One key press is sent as several packets sharing one RTP
timestamp (the event's start), and its end packet is usually sent three times, so a digit is
reported once per (SSRC, timestamp), at the first packet that carries it.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from ..ingest.rtp import RtpPacket

EVENT_DIGITS = "0123456789*#ABCD"
_EVENT = struct.Struct("!BBH")
# Events already reported, per stream; a few are enough to swallow the repeats of one press.
_REMEMBERED_EVENTS = 32


class DtmfParseError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int
    duration: int  # in RTP timestamp units

    @property
    def digit(self) -> str | None:
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """The first event of an RFC 4733 payload (redundant events after it are ignored)."""
    if len(payload) < _EVENT.size:
        raise DtmfParseError(f"telephone-event payload of {len(payload)} bytes, expected 4")
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


class DtmfDetector:
    """Digits of one RTP stream, each reported once however often its packets repeat."""

    def __init__(self) -> None:
        self._seen: deque[tuple[int, int]] = deque(maxlen=_REMEMBERED_EVENTS)

    def on_packet(self, packet: RtpPacket) -> str | None:
        event = parse_telephone_event(packet.payload)
        key = (packet.ssrc, packet.timestamp)
        if key in self._seen:
            return None
        self._seen.append(key)
        return event.digit


@dataclass(frozen=True)
class DtmfCommand:
    action: str  # "pause" | "resume"
    sequence: str
    position: int | None = None  # where in the call (samples) the sequence was completed


class DtmfSequenceMatcher:
    """Maps keyed digits to pause/resume commands. A sequence must be keyed with no more
    than `max_gap_ms` between digits (by the call's clock); other digits (an IVR menu
    choice, a PIN) simply do not match."""

    def __init__(self, pause: str, resume: str, max_gap_ms: int = 3000) -> None:
        for name, sequence in (("pause", pause), ("resume", resume)):
            if sequence and any(d not in EVENT_DIGITS for d in sequence):
                raise ValueError(f"DTMF {name} sequence {sequence!r} has a non-DTMF character")
        if pause and pause == resume:
            raise ValueError("the DTMF pause and resume sequences must differ")
        self._commands = [
            DtmfCommand(action, sequence)
            for action, sequence in (("pause", pause), ("resume", resume))
            if sequence
        ]
        self._longest = max((len(c.sequence) for c in self._commands), default=0)
        self._max_gap_ms = max_gap_ms
        self._digits = ""
        self._last_ms: int | None = None

    def on_digit(self, digit: str, at_ms: int) -> DtmfCommand | None:
        if not self._commands:
            return None
        if self._last_ms is not None and at_ms - self._last_ms > self._max_gap_ms:
            self._digits = ""
        self._last_ms = at_ms
        self._digits = (self._digits + digit)[-self._longest :]
        for command in self._commands:
            if self._digits.endswith(command.sequence):
                self._digits = ""
                return command
        return None
