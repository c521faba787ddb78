"""RTP reception: one UDP socket per stream, allocated as P, P+2, ... (so SIPp and SBCs that
send stream k to P+2k work), with a large receive buffer so bursts are not dropped.

Two ways to read them:
- batched (the default): one task reads every stream socket every `drain_ms` with the
  compiled receiver (ingest/_rtp_batch.pyx: epoll + recvmmsg, headers parsed in C) and hands
  each stream its packets as RtpRuns, consecutive packets together. Packets wait at most
  drain_ms in the kernel (well inside the jitter allowance) and Python runs once per run
  instead of once per datagram: this is what lets one core take hundreds of calls.
- per-packet: an asyncio datagram endpoint per socket, a callback per datagram. The fallback
  where the compiled receiver is not built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import weakref
from collections.abc import Callable, Iterable
from typing import Protocol

from opentelemetry.metrics import CallbackOptions, Observation

from callscope_core import metrics

from .rtp import RtpPacket, RtpParseError, RtpRun, parse_rtp

try:
    from ._rtp_batch import BatchReceiver
except ImportError:  # not compiled here: per-packet reception only
    BatchReceiver = None

log = logging.getLogger(__name__)

# Given a packet (per-packet reception) or a run of them (batched reception).
PacketSink = Callable[[RtpPacket | RtpRun], None]
RECEIVERS = ("batched", "per-packet")


class RtpStream(Protocol):
    def close(self) -> None: ...


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


class _BatchedStream:
    """One stream socket read by the pool's batched receiver."""

    def __init__(self, pool: RtpPortPool, sock: socket.socket) -> None:
        self._pool = pool
        self._sock: socket.socket | None = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            # What waits in the socket belongs to the call: read it before closing.
            self._pool.drain(sock)
        finally:
            self._pool.release(sock)


class RtpPortPool:
    def __init__(
        self,
        host: str,
        port_min: int,
        port_max: int,
        receive_buffer: int,
        *,
        receiver: str = "batched",
        drain_ms: int = 100,
    ) -> None:
        if receiver not in RECEIVERS:
            raise ValueError(f"unknown RTP receiver {receiver!r}; use one of {RECEIVERS}")
        self._host = host
        self._min = port_min + (port_min % 2)  # RTP uses even ports
        self._max = port_max
        self._next = self._min
        self._receive_buffer = receive_buffer
        self.counters: dict[str, int] = {"received": 0, "malformed": 0}
        if receiver == "batched" and BatchReceiver is None:
            log.warning("the compiled RTP receiver is not built here: reading RTP per packet")
            receiver = "per-packet"
        self.receiver = receiver
        self._drain_s = drain_ms / 1000
        self._batch = BatchReceiver() if receiver == "batched" else None
        self._drainer: asyncio.Task[None] | None = None
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

    async def open_streams(self, sinks: list[PacketSink]) -> tuple[list[int], list[RtpStream]]:
        """A socket per sink at base, base+2, ...; returns their ports and what closes each."""
        base, sockets = self.allocate(len(sinks))
        ports = [base + 2 * k for k in range(len(sinks))]
        if self._batch is not None:
            try:
                for sock, sink in zip(sockets, sinks, strict=True):
                    self._batch.register(sock.fileno(), sink)
            except BaseException:
                for sock in sockets:
                    self.release(sock)
                raise
            if self._drainer is None or self._drainer.done():
                self._drainer = asyncio.get_running_loop().create_task(
                    self._drain_forever(), name="rtp-drain"
                )
            return ports, [_BatchedStream(self, sock) for sock in sockets]
        loop = asyncio.get_running_loop()
        transports: list[RtpStream] = []
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
        return ports, transports

    @property
    def drain_interval_s(self) -> float:
        """How long batched RTP may wait in a socket before it is read (0: per packet)."""
        return self._drain_s if self._batch is not None else 0.0

    def drain(self, sock: socket.socket | None = None) -> int:
        """Batched reception: read every stream socket (or only `sock`) now and hand each
        sink its runs; returns the packets read."""
        assert self._batch is not None
        if sock is None:
            runs, malformed, oversized = self._batch.drain()
        else:
            runs, malformed, oversized = self._batch.drain_socket(sock.fileno())
        counters = self.counters
        if malformed or oversized:
            counters["malformed"] += malformed + oversized
        packets = 0
        for sink, *fields in runs:
            run = RtpRun(*fields)
            packets += run.count
            try:
                sink(run)
            except Exception:  # one call's bug must not stop the others' audio
                log.exception("RTP sink failed; the packets of that run are dropped")
        counters["received"] += packets
        return packets

    async def _drain_forever(self) -> None:
        assert self._batch is not None
        while len(self._batch):
            try:
                self.drain()
            except Exception:  # e.g. out of memory: the next round tries again
                log.exception("reading RTP failed")
            await asyncio.sleep(self._drain_s)

    def release(self, sock: socket.socket) -> None:
        if self._batch is not None:
            self._batch.unregister(sock.fileno())
        sock.close()

    async def aclose(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
