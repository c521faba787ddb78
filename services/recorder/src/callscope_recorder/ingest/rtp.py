"""RTP packet parsing (RFC 3550 5.1), pure and strict: anything malformed is an
RtpParseError, so the socket layer can count it and carry on."""

from __future__ import annotations

import struct
from dataclasses import dataclass

_HEADER = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")
_HEADER_SIZE = _HEADER.size  # 12
# RTCP packet types SR, RR, SDES, BYE, APP: a second byte in this range is RTCP sent to the
# RTP port (RFC 5761 4), not RTP with the marker bit and payload type 72..76.
_RTCP_TYPES = range(200, 205)
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32


class RtpParseError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


@dataclass(slots=True)  # not frozen: one is made per run on the hot path, frozen costs 3x
class RtpRun:
    """`count` packets of one source that follow each other exactly, as the batched
    receiver (ingest/_rtp_batch.pyx) delivers them: packet i has sequence number
    sequence + i, timestamp timestamp + i * size and payload payload[i * size:(i + 1) * size];
    they share the payload type, and only the first may carry the marker."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    count: int
    payload: bytes

    @property
    def size(self) -> int:
        """Payload bytes of each packet."""
        return len(self.payload) // self.count

    def packets(self) -> list[RtpPacket]:
        size = self.size
        return [
            RtpPacket(
                payload_type=self.payload_type,
                sequence=(self.sequence + i) % _SEQ_MOD,
                timestamp=(self.timestamp + i * size) % _TS_MOD,
                ssrc=self.ssrc,
                marker=self.marker and i == 0,
                payload=self.payload[i * size : (i + 1) * size],
            )
            for i in range(self.count)
        ]


def parse_rtp(data: bytes) -> RtpPacket:
    size = len(data)
    if size < _HEADER_SIZE:
        raise RtpParseError(f"packet too short for an RTP header ({size} bytes)")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpParseError(f"RTP version {first >> 6}, expected 2")
    if second in _RTCP_TYPES:
        raise RtpParseError("RTCP packet on the RTP port")
    offset = _HEADER_SIZE + 4 * (first & 0x0F)  # CSRC list
    if offset > size:
        raise RtpParseError("packet shorter than its CSRC list")
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if offset + 4 > size:
            raise RtpParseError("packet shorter than its header extension")
        _profile, words = _EXTENSION.unpack_from(data, offset)
        offset += 4 + 4 * words
        if offset > size:
            raise RtpParseError("header extension longer than the packet")
    end = size
    if first & 0x20:  # padding: the last octet counts the padding octets, itself included
        padding = data[-1]
        if padding == 0 or offset + padding > size:
            raise RtpParseError(f"invalid padding length {padding}")
        end -= padding
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=bool(second & 0x80),
        payload=bytes(data[offset:end]),
    )
