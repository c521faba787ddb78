"""RTP reception: one UDP socket per stream, allocated as P, P+2, ... (so SIPp and SBCs that
send stream k to P+2k work), with a large receive buffer so bursts are not dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import weakref
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from callscope_core import metrics

from .rtp import RtpPacket, RtpParseError, parse_rtp

log = logging.getLogger(__name__)

PacketSink = Callable[[RtpPacket], None]

# Packets are counted with plain integers on the hot path (tens of thousands a second on a
# busy recorder); the metrics read the running totals when they are collected.
_POOLS: weakref.WeakSet[RtpPortPool] = weakref.WeakSet()


def _total(counter: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(sum(pool.counters.get(counter, 0) for pool in list(_POOLS)))

    return observe


RTP_RECEIVED = metrics.observable(metrics.RECORDER_RTP_PACKETS_RECEIVED, _total("received"))
RTP_MALFORMED = metrics.observable(metrics.RECORDER_RTP_PACKETS_MALFORMED, _total("malformed"))


class RtpStreamProtocol(asyncio.DatagramProtocol):
    def __init__(self, sink: PacketSink, counters: dict[str, int]) -> None:
        self._sink = sink
        self._counters = counters

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = parse_rtp(data)
        except RtpParseError:
            self._counters["malformed"] += 1
            return
        self._counters["received"] += 1
        self._sink(packet)


class RtpPortPool:
    def __init__(self, host: str, port_min: int, port_max: int, receive_buffer: int) -> None:
        self._host = host
        self._min = port_min + (port_min % 2)  # RTP uses even ports
        self._max = port_max
        self._next = self._min
        self._receive_buffer = receive_buffer
        self.counters: dict[str, int] = {"received": 0, "malformed": 0}
        _POOLS.add(self)

    def _bind(self, port: int) -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
            sock.bind((self._host, port))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def allocate(self, count: int) -> tuple[int, list[socket.socket]]:
        """Bind `count` sockets at base, base+2, ...; returns the base port and the sockets."""
        span = 2 * count
        candidates = (self._max - self._min) // 2
        for _ in range(candidates):
            base = self._next
            self._next = base + 2 if base + 2 + span <= self._max else self._min
            if base + span - 2 > self._max:
                continue
            sockets = []
            for k in range(count):
                sock = self._bind(base + 2 * k)
                if sock is None:
                    break
                sockets.append(sock)
            if len(sockets) == count:
                return base, sockets
            for sock in sockets:
                sock.close()
        raise OSError(f"no free RTP ports for {count} streams in {self._min}-{self._max}")

    async def open_streams(
        self, sinks: list[PacketSink]
    ) -> tuple[list[int], list[asyncio.DatagramTransport]]:
        base, sockets = self.allocate(len(sinks))
        loop = asyncio.get_running_loop()
        transports = []
        try:
            for sock, sink in zip(sockets, sinks, strict=True):
                transport, _ = await loop.create_datagram_endpoint(
                    lambda sink=sink: RtpStreamProtocol(sink, self.counters), sock=sock
                )
                transports.append(transport)
        except BaseException:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.close()
            raise
        return [base + 2 * k for k in range(len(sinks))], transports
