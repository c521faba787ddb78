"""Batched RTP reception (ingest/_rtp_batch.pyx) is held to what per-packet reception does:
the same packets out of the same datagrams (malformed ones counted the same), and the same
recording, statistics and DTMF commands out of its runs as out of those packets one by one.
Datagrams go through real UDP sockets on the loopback, as from an SBC."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callscope_recorder.domain.audio import ChannelAudio, decode_g711
from callscope_recorder.domain.call import CallSession
from callscope_recorder.domain.dtmf import DtmfSequenceMatcher
from callscope_recorder.ingest import rtp_server
from callscope_recorder.ingest.rtp import RtpPacket, RtpParseError, RtpRun, parse_rtp
from callscope_recorder.ingest.rtp_server import RtpPortPool

from .test_rtp_audio import rtp

_rtp_batch = pytest.importorskip(
    "callscope_recorder.ingest._rtp_batch", reason="the compiled RTP receiver is not built"
)
BatchReceiver = _rtp_batch.BatchReceiver


@pytest.fixture(scope="module")
def udp_pair() -> Iterator[tuple[socket.socket, socket.socket, BatchReceiver]]:
    """A sender and a registered receiving socket (one receiver for the module: hypothesis
    runs many examples)."""
    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    receiving.bind(("127.0.0.1", 0))
    receiving.setblocking(False)
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sending.connect(receiving.getsockname())
    receiver = BatchReceiver()
    receiver.register(receiving.fileno(), "stream")
    yield sending, receiving, receiver
    receiver.unregister(receiving.fileno())
    sending.close()
    receiving.close()


def receive(
    pair: tuple[socket.socket, socket.socket, BatchReceiver], datagrams: list[bytes]
) -> tuple[list[RtpRun], int, int]:
    sending, _, receiver = pair
    runs: list[RtpRun] = []
    malformed = oversized = 0
    for datagram in datagrams:
        sending.send(datagram)
    # Loopback delivers at once; drain until everything sent has been read.
    for _ in range(1000):
        got, bad, big = receiver.drain()
        for key, *fields in got:
            assert key == "stream"
            runs.append(RtpRun(*fields))
        malformed += bad
        oversized += big
        if sum(r.count for r in runs) + malformed + oversized >= len(datagrams):
            break
    return runs, malformed, oversized


def parsed(datagrams: list[bytes]) -> tuple[list[RtpPacket], int]:
    packets, malformed = [], 0
    for datagram in datagrams:
        try:
            packets.append(parse_rtp(datagram))
        except RtpParseError:
            malformed += 1
    return packets, malformed


@st.composite
def datagram(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["audio", "audio", "audio", "odd", "bytes", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    sequence = draw(st.integers(0, 65535))
    size = draw(st.sampled_from([160, 80, 4]))
    data = rtp(
        sequence,
        draw(st.integers(0, 2**32 - 1)),
        draw(st.binary(min_size=size, max_size=size)),
        payload_type=draw(st.sampled_from([0, 8, 101, 13])),
        ssrc=draw(st.sampled_from([1, 2, 2**32 - 1])),
        marker=draw(st.booleans()),
        csrcs=tuple(draw(st.lists(st.integers(0, 2**32 - 1), max_size=3))) if kind == "odd" else (),
        extension=draw(st.sampled_from([None, b"", b"abcd"])) if kind == "odd" else None,
        padding=draw(st.integers(0, 5)) if kind == "odd" else 0,
    )
    if kind == "mutated":
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(buf) - 1))
            buf[position] = draw(st.integers(0, 255))
        cut = draw(st.integers(0, len(buf)))
        return bytes(buf[:cut])
    return data


def stream(seq0: int, ts0: int, count: int, ssrc: int = 7, pt: int = 0) -> list[bytes]:
    return [
        rtp(
            (seq0 + i) % 65536,
            (ts0 + 160 * i) % 2**32,
            bytes([i % 256]) * 160,
            ssrc=ssrc,
            payload_type=pt,
        )
        for i in range(count)
    ]


# -- the receiver ----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(datagram(), max_size=40)
    | st.builds(stream, st.integers(0, 65535), st.integers(0, 2**32 - 1), st.integers(1, 150))
)
def test_the_receiver_reads_what_parse_rtp_reads(
    udp_pair: tuple[socket.socket, socket.socket, BatchReceiver], datagrams: list[bytes]
) -> None:
    runs, malformed, oversized = receive(udp_pair, datagrams)
    packets, expected_malformed = parsed(datagrams)
    assert [p for run in runs for p in run.packets()] == packets
    assert (malformed, oversized) == (expected_malformed, 0)
    for run in runs:  # runs are what their name says
        assert run.count >= 1 and len(run.payload) == run.count * run.size


def test_consecutive_packets_come_as_one_run_and_anything_else_starts_a_new_one(
    udp_pair: tuple[socket.socket, socket.socket, BatchReceiver],
) -> None:
    datagrams = [
        *stream(65534, 2**32 - 160, 5),  # sequence and timestamp wrap inside the run
        *stream(5, 640, 2),  # a lost packet (sequence 3 missing): new run
        *stream(10, 9999, 2, ssrc=8),  # another source
        rtp(12, 9999 + 320, bytes(160), ssrc=8, marker=True),  # a marker starts a run
        *stream(13, 9999 + 480, 1, ssrc=8, pt=8),  # another payload type
        rtp(50, 4000, b"\x05\x0a\x00\xa0", payload_type=101, ssrc=7),  # events: same ts
        rtp(51, 4000, b"\x05\x0a\x01\x40", payload_type=101, ssrc=7),
    ]
    runs, _, _ = receive(udp_pair, datagrams)
    assert [(r.sequence, r.count, r.ssrc, r.marker) for r in runs] == [
        (65534, 5, 7, False),
        (5, 2, 7, False),
        (10, 2, 8, False),
        (12, 1, 8, True),
        (13, 1, 8, False),
        (50, 1, 7, False),
        (51, 1, 7, False),
    ]


def test_oversized_datagrams_are_refused_and_counted(
    udp_pair: tuple[socket.socket, socket.socket, BatchReceiver],
) -> None:
    datagrams = [*stream(1, 160, 1), rtp(2, 320, bytes(5000)), *stream(3, 480, 1)]
    runs, malformed, oversized = receive(udp_pair, datagrams)
    assert [r.sequence for r in runs] == [1, 3]
    assert (malformed, oversized) == (0, 1)


def test_register_refuses_a_socket_twice_and_unregister_forgets_it() -> None:
    receiver = BatchReceiver()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        receiver.register(sock.fileno(), 1)
        with pytest.raises(ValueError):
            receiver.register(sock.fileno(), 2)
        assert len(receiver) == 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(rtp(1, 1), sock.getsockname())
            receiver.unregister(sock.fileno())
            receiver.unregister(sock.fileno())  # unknown: ignored
            assert receiver.drain() == ([], 0, 0)
            assert len(receiver) == 0
    with pytest.raises(OSError):
        receiver.register(-1, 3)


# -- the channel and the call, per packet or per run ------------------------------------------


@st.composite
def call_packets(draw: st.DrawFn) -> list[bytes]:
    """A stream as networks deliver it: runs of packets in order, with losses, reordering,
    duplicates, bursts held back behind later packets, a new SSRC now and then,
    wrap-around, and telephone events."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    sequence, timestamp, ssrc = rng.randrange(65536), rng.randrange(2**32), 1
    out: list[bytes] = []
    held: list[bytes] = []
    for _ in range(draw(st.integers(1, 12))):
        count = rng.randrange(1, 30)
        chunk = stream(sequence, timestamp, count, ssrc=ssrc)
        sequence, timestamp = (sequence + count) % 65536, (timestamp + 160 * count) % 2**32
        event = rng.random()
        if event < 0.2 and len(chunk) > 2:  # reordering
            i = rng.randrange(len(chunk) - 1)
            chunk[i], chunk[i + 1] = chunk[i + 1], chunk[i]
        elif event < 0.35 and out:  # duplicates
            chunk.insert(rng.randrange(len(chunk) + 1), rng.choice(out))
        elif event < 0.5:  # losses
            del chunk[rng.randrange(len(chunk))]
        elif event < 0.55:  # an SBC re-anchors the media
            ssrc += 1
            sequence, timestamp = rng.randrange(65536), rng.randrange(2**32)
        elif event < 0.65:  # a late packet from before the first
            chunk.append(rtp(sequence, (timestamp - 10**6) % 2**32, bytes(160), ssrc=ssrc))
        elif event < 0.75:  # a key press: *, as RFC 4733 telephone events
            for i, duration in enumerate((160, 320, 480, 480)):
                end = 0x80 if i == 3 else 0
                chunk.append(
                    rtp(
                        (sequence + i) % 65536,
                        timestamp,
                        struct.pack("!BBH", 10, end | 10, duration),
                        payload_type=101,
                        ssrc=ssrc,
                        marker=i == 0,
                    )
                )
            sequence = (sequence + 4) % 65536
        elif event < 0.85 and not held:  # held back: arrives after the next burst
            held, chunk = chunk, []
        out.extend(chunk)
        if held and chunk:
            out.extend(held)
            held = []
    return out + held


def new_session() -> CallSession:
    return CallSession(
        call_id="c",
        external_call_id="x",
        source="siprec",
        queue="q",
        language="en",
        started_at=datetime.now(UTC),
        channel_of_stream={0: "agent"},
        codec_of_stream={0: "PCMU"},
        dtmf=DtmfSequenceMatcher("*", "#"),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call_packets(), st.integers(1, 40), st.lists(st.sampled_from("--lpr"), max_size=12))
def test_a_call_fed_runs_records_what_it_records_fed_packets(
    udp_pair: tuple[socket.socket, socket.socket, BatchReceiver],
    datagrams: list[bytes],
    drain_every: int,
    between_drains: list[str],
) -> None:
    """Between drains, as the pump would: hand out live segments (l), pause (p), resume (r)."""
    by_packet, by_run = new_session(), new_session()
    journal_packet: list[tuple[int, bytes]] = []
    journal_run: list[tuple[int, bytes]] = []
    by_packet.audio["agent"].listener = lambda position, pcm: journal_packet.append((position, pcm))
    by_run.audio["agent"].listener = lambda position, pcm: journal_run.append((position, pcm))
    packets = parsed(datagrams)[0]
    handed_out: dict[int, list[tuple[int, bytes]]] = {id(by_packet): [], id(by_run): []}
    for k, start in enumerate(range(0, len(datagrams), drain_every)):
        chunk = datagrams[start : start + drain_every]
        for packet in parsed(chunk)[0]:
            by_packet.on_rtp(0, packet)
        for run in receive(udp_pair, chunk)[0]:
            by_run.on_rtp_run(0, run)
        action = between_drains[k] if k < len(between_drains) else "-"
        for session in (by_packet, by_run):
            audio = session.audio["agent"]
            if action == "l":
                handed_out[id(session)] += audio.take_ready(200, 40)
            elif action == "p" and audio.open_gap is None:
                audio.start_gap(audio.end, "paused")
            elif action == "r":
                audio.end_gap(audio.end)
    assert len(packets) == sum(c.packets for c in by_packet.counters.values())
    assert by_run.audio["agent"].pcm() == by_packet.audio["agent"].pcm()
    assert by_run.audio["agent"].stats == by_packet.audio["agent"].stats
    assert by_run.audio["agent"].gaps == by_packet.audio["agent"].gaps
    assert handed_out[id(by_run)] == handed_out[id(by_packet)]
    assert by_run.counters == by_packet.counters
    assert by_run.dtmf_commands == by_packet.dtmf_commands
    # The spool journals the same audio (in fewer, longer pieces).
    assert replay(journal_run) == replay(journal_packet)


def replay(journal: list[tuple[int, bytes]]) -> bytes:
    audio = ChannelAudio()
    for position, pcm in journal:
        audio.add_pcm(pcm, position)
    return audio.pcm()


def feed(session: CallSession, packets: list[RtpPacket], as_run: bool) -> None:
    """Consecutive packets, as one run or one by one."""
    if as_run:
        first = packets[0]
        payload = b"".join(p.payload for p in packets)
        run = RtpRun(0, first.sequence, first.timestamp, first.ssrc, False, len(packets), payload)
        session.on_rtp_run(0, run)
    else:
        for packet in packets:
            session.on_rtp(0, packet)


def test_a_run_into_an_open_pause_leaves_no_audio_behind() -> None:
    datagrams = stream(100, 8000, 20)
    by_run, by_packet = new_session(), new_session()
    for session in (by_run, by_packet):
        feed(session, parsed(datagrams[:10])[0], as_run=session is by_run)
        audio = session.audio["agent"]
        audio.start_gap(audio.end, "paused")
        feed(session, parsed(datagrams[10:])[0], as_run=session is by_run)
        audio.end_gap(audio.end)
    pcm = by_run.audio["agent"].pcm()
    assert pcm == by_packet.audio["agent"].pcm()
    assert pcm[: 2 * 1600] == decode_g711(b"".join(d[12:] for d in datagrams[:10]), "PCMU")
    assert pcm[2 * 1600 :] == bytes(2 * 1600)
    assert by_run.audio["agent"].stats == by_packet.audio["agent"].stats
    assert by_run.audio["agent"].stats.packets == 20


def test_a_keyed_pause_is_placed_where_the_keys_were_pressed() -> None:
    session = new_session()
    session.on_rtp_run(0, RtpRun(0, 1, 0, 7, False, 5, bytes(800)))  # 100 ms of audio
    key = [
        rtp(
            6 + i,
            800,
            struct.pack("!BBH", 10, (0x80 if i == 2 else 0) | 10, 480),
            payload_type=101,
            ssrc=7,
        )
        for i in range(3)
    ]
    for datagram in key:
        packet = parse_rtp(datagram)
        fields = (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc)
        session.on_rtp_run(0, RtpRun(*fields, packet.marker, 1, packet.payload))
    session.on_rtp_run(0, RtpRun(0, 9, 1280, 7, False, 5, bytes(800)))  # audio after the key
    [command] = session.dtmf_commands
    assert command.action == "pause" and command.position == 800  # not 1280 + 800


def test_a_run_is_refused_past_the_channel_limit_as_its_packets_would_be() -> None:
    by_run, by_packet = ChannelAudio(max_seconds=1), ChannelAudio(max_seconds=1)
    datagrams = stream(0, 0, 60)  # 1.2 s: the last 10 packets do not fit
    packets = parsed(datagrams)[0]
    run = RtpRun(0, 0, 0, 7, False, 60, b"".join(p.payload for p in packets))
    by_run.add_run(run, decode_g711(run.payload, "PCMU"))
    for packet in packets:
        by_packet.add(packet, decode_g711(packet.payload, "PCMU"))
    assert by_run.pcm() == by_packet.pcm() and len(by_run.pcm()) == 2 * 8000
    assert by_run.stats == by_packet.stats and by_run.stats.overflow == 10


# -- the pool ---------------------------------------------------------------------------------


@pytest.mark.parametrize("receiver", ["batched", "per-packet"])
async def test_both_receivers_deliver_a_stream_whole_and_count_malformed_packets(
    receiver: str,
) -> None:
    pool = RtpPortPool("127.0.0.1", 41000, 41100, 1 << 20, receiver=receiver, drain_ms=5)
    assert pool.receiver == receiver
    got: list[RtpPacket] = []

    def sink(item: RtpPacket | RtpRun) -> None:
        got.extend(item.packets() if isinstance(item, RtpRun) else [item])

    ports, streams = await pool.open_streams([sink])
    datagrams = stream(1000, 160_000, 50)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for datagram in [*datagrams[:25], b"\x00garbage", *datagrams[25:]]:
            sender.sendto(datagram, ("127.0.0.1", ports[0]))
        for _ in range(200):
            if len(got) == 50:
                break
            await asyncio.sleep(0.01)
    for item in streams:
        item.close()
    await pool.aclose()
    assert got == parsed(datagrams)[0]
    assert pool.counters == {"received": 50, "malformed": 1}


async def test_a_failing_sink_loses_its_run_but_not_the_other_streams() -> None:
    pool = RtpPortPool("127.0.0.1", 41200, 41300, 1 << 20, drain_ms=5)
    got: list[RtpRun] = []

    def broken(item: RtpPacket | RtpRun) -> None:
        raise RuntimeError("bug")

    ports, streams = await pool.open_streams([broken, got.append])  # type: ignore[list-item]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for port in ports:
            for datagram in stream(1, 160, 3):
                sender.sendto(datagram, ("127.0.0.1", port))
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.01)
    for item in streams:
        item.close()  # closing reads what is left first, then stops reading the socket
    await pool.aclose()
    assert sum(run.count for run in got) == 3
    assert pool.counters["received"] == 6


def test_without_the_compiled_receiver_the_pool_reads_per_packet(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(rtp_server, "BatchReceiver", None)
    with caplog.at_level(logging.WARNING):
        pool = RtpPortPool("127.0.0.1", 41400, 41500, 1 << 20)
    assert pool.receiver == "per-packet" and pool.drain_interval_s == 0.0
    assert "not built" in caplog.text
    with pytest.raises(ValueError):
        RtpPortPool("127.0.0.1", 41400, 41500, 1 << 20, receiver="magic")


def test_drain_socket_reads_one_stream_and_leaves_the_others_waiting() -> None:
    receiver = BatchReceiver()
    socks = []
    try:
        for key in ("a", "b"):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            receiver.register(sock.fileno(), key)
            socks.append(sock)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for sock in socks:
                for datagram in stream(1, 160, 3):
                    sender.sendto(datagram, sock.getsockname())
        runs, _, _ = receiver.drain_socket(socks[0].fileno())
        assert [(r[0], r[6]) for r in runs] == [("a", 3)]
        assert receiver.drain_socket(12345) == ([], 0, 0)  # not registered: nothing
        runs, _, _ = receiver.drain()
        assert [(r[0], r[6]) for r in runs] == [("b", 3)]
    finally:
        for sock in socks:
            receiver.unregister(sock.fileno())
            sock.close()
