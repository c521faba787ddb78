"""RTP parsing, G.711 decoding, channel reassembly by timestamp and stereo interleaving."""

from __future__ import annotations

import audioop
import random
import struct

import pytest

from callscope_recorder.domain.audio import ChannelAudio, decode_g711, interleave_stereo
from callscope_recorder.ingest.rtp import RtpPacket, RtpParseError, parse_rtp

SSRC = 0x1234ABCD


def rtp(
    sequence: int,
    timestamp: int,
    payload: bytes = b"\xff" * 160,
    *,
    payload_type: int = 0,
    ssrc: int = SSRC,
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension: bytes | None = None,
    padding: int = 0,
    version: int = 2,
) -> bytes:
    first = (version << 6) | (0x20 if padding else 0) | (0x10 if extension is not None else 0)
    first |= len(csrcs)
    second = (0x80 if marker else 0) | payload_type
    data = struct.pack("!BBHII", first, second, sequence, timestamp, ssrc)
    data += b"".join(struct.pack("!I", c) for c in csrcs)
    if extension is not None:
        assert len(extension) % 4 == 0
        data += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    data += payload
    if padding:
        data += bytes(padding - 1) + bytes([padding])
    return data


def set_padding_flag(data: bytes) -> bytes:
    return bytes([data[0] | 0x20]) + data[1:]


# -- RTP ------------------------------------------------------------------------------------


def test_parse_plain_packet() -> None:
    packet = parse_rtp(rtp(4242, 160_000, b"abc", payload_type=8, marker=True))
    assert packet == RtpPacket(8, 4242, 160_000, SSRC, True, b"abc")


def test_parse_csrc_extension_and_padding() -> None:
    data = rtp(
        1,
        2,
        b"payload!",
        csrcs=(0x11111111, 0x22222222, 0x33333333),
        extension=b"\x10\xaa\x00\x00\x21\xbb\xcc\x00",
        padding=4,
    )
    packet = parse_rtp(data)
    assert packet.payload == b"payload!"
    assert (packet.sequence, packet.timestamp, packet.ssrc) == (1, 2, SSRC)
    assert parse_rtp(rtp(1, 2, b"xy", csrcs=(1,))).payload == b"xy"
    assert parse_rtp(rtp(1, 2, b"xy", extension=b"")).payload == b"xy"
    assert parse_rtp(rtp(1, 2, b"xy", padding=1)).payload == b"xy"


def test_empty_payload_is_valid() -> None:
    assert parse_rtp(rtp(1, 2, b"")).payload == b""
    assert parse_rtp(rtp(1, 2, b"", padding=3)).payload == b""


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00\x00\x01",
        rtp(1, 2)[:11],
        rtp(1, 2, version=1),
        rtp(1, 2, version=0),
        rtp(1, 2, version=3),
        rtp(1, 2, b"", csrcs=(1, 2))[:-4],  # CSRC list cut short
        rtp(1, 2, b"", extension=b"")[:-2],  # extension header cut short
        rtp(1, 2, b"", extension=b"\x00" * 8)[:-4],  # extension longer than the packet
        set_padding_flag(rtp(1, 2, b"abc\x00")),  # padding count 0
        rtp(1, 2, b"ab", padding=3)[:-1] + b"\x20",  # padding past the header
        bytes([0x80, 200]) + bytes(26),  # RTCP sender report on the RTP port
        bytes([0x80, 201]) + bytes(30),  # RTCP receiver report
    ],
)
def test_malformed_packets(data: bytes) -> None:
    with pytest.raises(RtpParseError):
        parse_rtp(data)


def test_fuzz_only_rtp_parse_errors_escape() -> None:
    rng = random.Random(3550)
    seeds = [
        rtp(1, 2),
        rtp(65535, 2**32 - 1, b"x" * 20, csrcs=(1, 2, 3), extension=b"\x00" * 12, padding=5),
    ]
    parsed = 0
    for i in range(2000):
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
            if rng.random() < 0.5 and data:
                data = bytes([0x80 | (data[0] & 0x3F)]) + data[1:]
        else:
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(buf))
                if rng.random() < 0.7:
                    buf[pos] = rng.randrange(256)
                else:
                    del buf[pos:]
                    if not buf:
                        break
            data = bytes(buf)
        try:
            packet = parse_rtp(data)
        except RtpParseError:
            continue
        parsed += 1
        assert 0 <= packet.payload_type < 128 and len(packet.payload) <= len(data) - 12
    assert parsed > 100


# -- G.711 ----------------------------------------------------------------------------------


def test_decode_g711() -> None:
    assert decode_g711(b"\xff" * 160, "PCMU") == bytes(320)  # mu-law silence
    assert decode_g711(b"\x00", "PCMU") == struct.pack("<h", -32124)
    assert decode_g711(b"\xd5\x55", "PCMA") == struct.pack("<hh", 8, -8)
    assert decode_g711(b"", "PCMA") == b""
    with pytest.raises(ValueError):
        decode_g711(b"\x00", "G729")


# -- channel reassembly ---------------------------------------------------------------------


def tone(n: int, samples: int = 160) -> bytes:
    """A recognisable 20 ms frame: every sample is n."""
    return struct.pack("<h", n) * samples


def feed(audio: ChannelAudio, order: list[int], seq0: int = 100, ts0: int = 8000) -> None:
    for k in order:
        audio.add(parse_rtp(rtp((seq0 + k) % 65536, (ts0 + 160 * k) % 2**32)), tone(k + 1))


def in_order(frames: int) -> bytes:
    return b"".join(tone(k + 1) for k in range(frames))


def test_in_order_stream() -> None:
    audio = ChannelAudio()
    feed(audio, [0, 1, 2])
    assert audio.pcm() == in_order(3)
    assert audio.duration_ms == 60
    s = audio.stats
    assert (s.packets, s.duplicates, s.late, s.lost, s.bytes) == (3, 0, 0, 0, 480)


def test_reordered_packets_land_by_timestamp() -> None:
    audio = ChannelAudio()
    feed(audio, [0, 2, 1, 4, 3])
    assert audio.pcm() == in_order(5)
    assert audio.stats.lost == 0 and audio.stats.late == 0


def test_duplicates_are_counted_and_ignored() -> None:
    audio = ChannelAudio()
    feed(audio, [0, 1])
    # Same sequence number, other content: a duplicate must not overwrite anything.
    audio.add(parse_rtp(rtp(101, 8160)), tone(999))
    assert audio.pcm() == in_order(2)
    assert audio.stats.duplicates == 1 and audio.stats.packets == 3


def test_gaps_stay_silence_and_count_as_lost() -> None:
    audio = ChannelAudio()
    feed(audio, [0, 1, 4])
    assert audio.pcm() == tone(1) + tone(2) + bytes(640) + tone(5)
    assert audio.duration_ms == 100
    assert audio.stats.lost == 2
    feed(audio, [2])  # one of them turns up late after all
    assert audio.stats.lost == 1
    assert audio.pcm() == tone(1) + tone(2) + tone(3) + bytes(320) + tone(5)


def test_timestamp_and_sequence_wraparound() -> None:
    audio = ChannelAudio()
    # Starts 2 frames before both counters wrap.
    feed(audio, [0, 1, 2, 3, 4], seq0=65534, ts0=2**32 - 320)
    assert audio.pcm() == in_order(5)
    assert audio.stats.lost == 0 and audio.stats.duplicates == 0 and audio.stats.late == 0
    feed(audio, [6, 5], seq0=65534, ts0=2**32 - 320)  # reordered across the wrap, too
    assert audio.pcm() == in_order(7)


def test_packet_from_before_the_first_one_is_late() -> None:
    audio = ChannelAudio()
    feed(audio, [1, 2])
    feed(audio, [0])  # its timestamp is before the first packet's: nowhere to put it
    assert audio.stats.late == 1
    assert audio.pcm() == tone(2) + tone(3)
    assert audio.stats.lost == 0  # it was received, just too late


def test_long_stream_counts_no_false_duplicates() -> None:
    audio = ChannelAudio(max_seconds=120)
    frames = 70_000  # more than 2**16 sequence numbers
    payload = b"\xff" * 8
    for k in range(frames):
        audio.add(RtpPacket(0, k % 65536, 8 * k, SSRC, False, payload), bytes(16))
    assert audio.stats.duplicates == 0 and audio.stats.lost == 0
    assert audio.duration_ms == frames  # 1 ms frames


def test_take_ready_and_flush_cursor() -> None:
    audio = ChannelAudio()
    feed(audio, list(range(125)))  # 2.5 s
    ready = audio.take_ready(segment_ms=1000, jitter_ms=200)
    assert [(start, len(pcm)) for start, pcm in ready] == [(0, 16000), (1000, 16000)]
    assert b"".join(pcm for _, pcm in ready) == in_order(100)
    assert audio.take_ready(1000, 200) == []  # nothing new is ready
    feed(audio, list(range(125, 160)))  # 3.2 s: 2000..3000 ends exactly 200 ms before
    assert [start for start, _ in audio.take_ready(1000, 200)] == [2000]
    rest = audio.flush()
    assert [(start, len(pcm)) for start, pcm in rest] == [(3000, 3200)]
    assert audio.flush() == []
    assert audio.pcm() == in_order(160)


def test_flush_cuts_in_segments_and_the_last_may_be_shorter() -> None:
    audio = ChannelAudio()
    feed(audio, list(range(125)))
    pieces = audio.flush()
    assert [(start, len(pcm) // 2) for start, pcm in pieces] == [
        (0, 8000),
        (1000, 8000),
        (2000, 4000),
    ]
    audio.take_ready(segment_ms=500, jitter_ms=0)
    feed(audio, list(range(125, 200)))  # 4 s
    assert [start for start, _ in audio.flush()] == [2500, 3000, 3500]


def test_packet_into_an_already_returned_region_still_reaches_the_recording() -> None:
    audio = ChannelAudio()
    order = [k for k in range(100) if k != 10]
    feed(audio, order)  # 2 s, frame 10 missing
    first = audio.take_ready(1000, 200)
    assert len(first) == 1 and first[0][1][3200:3520] == bytes(320)  # silence where 10 is
    feed(audio, [10])
    assert audio.stats.late_for_live == 1
    assert audio.pcm() == in_order(100)


def test_recording_is_bounded_by_max_seconds() -> None:
    audio = ChannelAudio(max_seconds=1)
    feed(audio, [0])
    audio.add(parse_rtp(rtp(101, 8000 + 8000)), tone(2))  # would end past 1 s
    assert audio.stats.overflow == 1 and audio.duration_ms == 20
    audio.add(parse_rtp(rtp(102, 8000 + 2**30)), tone(3))  # a forged huge jump
    assert audio.stats.overflow == 2 and len(audio.pcm()) == 320


def test_new_ssrc_continues_at_the_end() -> None:
    audio = ChannelAudio()
    feed(audio, [0, 1])
    audio.add(parse_rtp(rtp(7, 123_456_789, ssrc=0xBEEF)), tone(3))
    audio.add(parse_rtp(rtp(8, 123_456_789 + 160, ssrc=0xBEEF)), tone(4))
    assert audio.pcm() == in_order(4)
    assert audio.stats.ssrc_changes == 1 and audio.stats.lost == 0


def test_fuzz_channel_audio_stays_bounded() -> None:
    rng = random.Random(16)
    audio = ChannelAudio(max_seconds=2)
    for _ in range(3000):
        packet = RtpPacket(
            0,
            rng.randrange(65536),
            rng.choice([rng.randrange(2**32), 8000 + rng.randrange(-800, 16000)]),
            rng.choice([SSRC, SSRC, SSRC, rng.randrange(2**32)]),
            False,
            b"\xff" * 160,
        )
        audio.add(packet, bytes(320))
        if rng.random() < 0.05:
            audio.take_ready(200, 40)
    assert len(audio.pcm()) <= 2 * 8000 * 2
    assert audio.stats.packets == 3000


def test_odd_pcm_is_refused() -> None:
    with pytest.raises(ValueError):
        ChannelAudio().add(parse_rtp(rtp(1, 2)), b"\x00")


# -- stereo ---------------------------------------------------------------------------------


def test_interleave_stereo_pads_the_shorter_channel() -> None:
    left = struct.pack("<3h", 1, 2, 3)
    right = struct.pack("<h", -10)
    assert interleave_stereo(left, right) == struct.pack("<6h", 1, -10, 2, 0, 3, 0)
    assert interleave_stereo(right, left) == struct.pack("<6h", -10, 1, 0, 2, 0, 3)
    assert interleave_stereo(b"", b"") == b""


def test_interleave_stereo_matches_audioop() -> None:
    rng = random.Random(2)
    left = rng.randbytes(2 * 1000)
    right = rng.randbytes(2 * 1000)
    expected = audioop.add(audioop.tostereo(left, 2, 1, 0), audioop.tostereo(right, 2, 0, 1), 2)
    assert interleave_stereo(left, right) == expected
    with pytest.raises(ValueError):
        interleave_stereo(b"\x00", b"")


@pytest.mark.parametrize("count", [1, 2, 923])
def test_a_complete_stream_reports_no_loss_from_its_first_packet(count: int) -> None:
    # Regression: the first packet of a source once counted as -1 lost.
    audio = ChannelAudio()
    feed(audio, list(range(count)), seq0=51234)
    assert audio.stats.lost == 0
    assert audio.stats.packets == count
