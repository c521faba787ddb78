"""SIP over TCP on a real socket (framing, keep-alive, a broken connection next to a good one)
and the participants of re-INVITE metadata (a transfer)."""

from __future__ import annotations

import asyncio
import socket

from callscope_core.stack import free_sip_port
from callscope_recorder.calls import CallRecorder
from callscope_recorder.ingest.sip.message import KEEPALIVE_PING, build_request, parse_message
from callscope_recorder.ingest.sip.server import SiprecServer
from callscope_recorder.ingest.sip.siprec import (
    Participant,
    RecordingMetadata,
    build_sdp_answer,
    joined_participants,
    parse_recording_metadata,
    participants_with_channels,
    sdp_session_id,
)
from callscope_recorder.settings import RecorderSettings


def options(call_id: str, transport: str = "TCP") -> bytes:
    return build_request(
        "OPTIONS",
        "sip:srs@127.0.0.1",
        [
            ("Via", f"SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK-{call_id}"),
            ("From", "<sip:src@127.0.0.1>;tag=1"),
            ("To", "<sip:srs@127.0.0.1>"),
            ("Call-ID", call_id),
            ("CSeq", "1 OPTIONS"),
            ("Max-Forwards", "70"),
        ],
    )


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head


async def test_tcp_requests_are_framed_answered_on_their_connection_and_pinged() -> None:
    port = free_sip_port()
    settings = RecorderSettings(sip_host="127.0.0.1", sip_port=port)
    # OPTIONS, pings and malformed input never reach the recorder.
    server = SiprecServer(settings, CallRecorder(settings, None, None, None))  # type: ignore[arg-type]
    await server.start()
    try:
        good_reader, good = await asyncio.open_connection("127.0.0.1", port)
        bad_reader, bad = await asyncio.open_connection("127.0.0.1", port)
        # Two requests in one write, the second split across writes.
        second = options("tcp-2")
        good.write(options("tcp-1") + second[:30])
        await good.drain()
        first_reply = parse_message(await read_response(good_reader))
        good.write(second[30:] + KEEPALIVE_PING)
        await good.drain()
        second_reply = parse_message(await read_response(good_reader))
        assert (first_reply.status, first_reply.call_id) == (200, "tcp-1")  # type: ignore[union-attr]
        assert (second_reply.status, second_reply.call_id) == (200, "tcp-2")  # type: ignore[union-attr]
        assert await asyncio.wait_for(good_reader.readexactly(2), 5) == b"\r\n"  # the pong

        # A request without Content-Length breaks the framing of that stream: 400, closed.
        bad.write(options("tcp-bad").replace(b"Content-Length: 0\r\n", b""))
        await bad.drain()
        refusal = await asyncio.wait_for(bad_reader.read(), 5)
        assert refusal.startswith(b"SIP/2.0 400 Content-Length is required"), refusal
        assert b"Call-ID: tcp-bad" in refusal
        assert bad_reader.at_eof()

        # The good connection and UDP carry on.
        good.write(options("tcp-3"))
        await good.drain()
        assert parse_message(await read_response(good_reader)).call_id == "tcp-3"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(5)
            udp.sendto(options("udp-1", "UDP"), ("127.0.0.1", port))
            reply = await asyncio.to_thread(udp.recv, 65536)  # the loop must keep running
            assert parse_message(reply).call_id == "udp-1"
        assert server.counters["malformed"] == 1
        good.close()
        bad.close()
    finally:
        server.close()


TRANSFER_METADATA = b"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <participant participant_id="cust"><nameID aor="sip:+336@pstn.example"/></participant>
  <participant participant_id="agent1"><nameID aor="sip:agent-1@cc.example"/></participant>
  <participant participant_id="agent2">
    <nameID aor="sip:agent-2@cc.example"><name>Agent Two</name></nameID>
  </participant>
  <participant participant_id="sup"><nameID aor="sip:supervisor@cc.example"/></participant>
  <stream stream_id="s1"><label>1</label></stream>
  <stream stream_id="s2"><label>2</label></stream>
  <participantstreamassoc participant_id="cust"><send>s1</send></participantstreamassoc>
  <participantstreamassoc participant_id="agent1"><send>s2</send></participantstreamassoc>
  <participantstreamassoc participant_id="agent2"><send>s2</send></participantstreamassoc>
  <participantstreamassoc participant_id="sup"><recv>s1</recv></participantstreamassoc>
</recording>"""


def test_participants_get_the_channel_of_the_stream_they_send_on() -> None:
    metadata = parse_recording_metadata(TRANSFER_METADATA)
    channels = participants_with_channels(metadata, {"1": "customer", "2": "agent"})
    assert [(p["participant_id"], p["channel"]) for p in channels] == [
        ("cust", "customer"),
        ("agent1", "agent"),
        ("agent2", "agent"),  # the transferred-to agent speaks on the agent's stream
        ("sup", ""),  # listens only
    ]
    assert metadata.sender_by_label == {"1": "cust", "2": "agent1"}


def test_joined_are_the_participants_not_known_before() -> None:
    metadata = parse_recording_metadata(TRANSFER_METADATA)
    known = {
        "cust": {"participant_id": "cust"},
        "agent1": {"participant_id": "agent1"},
    }
    joined = joined_participants(known, metadata, {"1": "customer", "2": "agent"})
    assert joined == [
        {
            "participant_id": "agent2",
            "aor": "sip:agent-2@cc.example",
            "name": "Agent Two",
            "channel": "agent",
        },
        {"participant_id": "sup", "aor": "sip:supervisor@cc.example", "name": "", "channel": ""},
    ]
    everyone = {p["participant_id"]: p for p in participants_with_channels(metadata, {})}
    assert joined_participants(everyone, metadata, {}) == []


def test_an_answer_to_a_re_offer_keeps_the_session_id_and_takes_the_next_version() -> None:
    from callscope_recorder.ingest.sip.siprec import MediaStream, SiprecOffer

    def offer(sdp_version: int) -> SiprecOffer:
        text = (
            f"v=0\r\no=src 1 {sdp_version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=label:1\r\n"
        )
        stream = MediaStream(0, "1", 4000, "PCMU", 0, "127.0.0.1")
        return SiprecOffer(
            [stream], RecordingMetadata(None, [Participant("p", None, None)], {}, {}, ""), text
        )

    first, second = offer(1), offer(2)
    answer = build_sdp_answer(first, "127.0.0.1", [20000], 1)
    again = build_sdp_answer(second, "127.0.0.1", [20000], 2, sdp_session_id(first))
    assert answer.split("\r\n")[1].split()[1] == again.split("\r\n")[1].split()[1]
    assert again.split("\r\n")[1].split()[2] == "2"
    assert "m=audio 20000 RTP/AVP 0" in again
