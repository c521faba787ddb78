"""Shutdown never cuts a live call: the recorder waits for calls to end, up to a timeout."""

from __future__ import annotations

import asyncio

from callscope_recorder.calls import CallRecorder
from callscope_recorder.ingest.sip.message import parse_message
from callscope_recorder.ingest.sip.server import SiprecServer
from callscope_recorder.settings import RecorderSettings


def _recorder() -> CallRecorder:
    return CallRecorder(RecorderSettings(), store=None, producer=None, rtp_ports=None)  # type: ignore[arg-type]


async def test_drain_waits_for_live_calls_to_end_by_themselves() -> None:
    recorder = _recorder()
    ended: list[str] = []
    recorder.end_call = lambda call_id, reason: ended.append(reason)  # type: ignore[assignment,method-assign,return-value]
    recorder.calls["live"] = object()  # type: ignore[assignment]

    async def hang_up_later() -> None:
        await asyncio.sleep(0.3)
        recorder.calls.pop("live")

    hang_up = asyncio.create_task(hang_up_later())
    await asyncio.wait_for(recorder.drain(timeout_s=30), 5)
    await hang_up
    assert ended == []  # the call ended on its own; nothing was cut


async def test_drain_ends_what_is_left_after_the_timeout() -> None:
    recorder = _recorder()
    ended: list[tuple[str, str]] = []

    def end_call(call_id: str, reason: str) -> None:
        ended.append((call_id, reason))

    recorder.end_call = end_call  # type: ignore[method-assign,assignment]
    recorder.calls["stuck"] = object()  # type: ignore[assignment]
    await asyncio.wait_for(recorder.drain(timeout_s=0.2), 5)
    assert ended == [("stuck", "shutdown")]


def test_a_draining_recorder_refuses_new_calls_and_fails_options() -> None:
    server = SiprecServer(RecorderSettings(), _recorder())
    sent: list[bytes] = []
    server._send = lambda data, addr: sent.append(data)  # type: ignore[method-assign]
    server.accepting = False
    for method in ("OPTIONS", "INVITE"):
        request = (
            f"{method} sip:srs@127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-d1\r\n"
            "From: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\n"
            f"Call-ID: drain-{method}@test\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        assert parse_message(request)
        server.on_datagram(request, ("127.0.0.1", 5999))
    assert [s.split(b"\r\n")[0] for s in sent] == [b"SIP/2.0 503 Service Unavailable"] * 2
