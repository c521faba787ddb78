"""Property tests (hypothesis) of the recorder's front doors: the SIP parser and its TCP
framer, SIPREC bodies (multipart, SDP, rs-metadata) and RTP. Whatever arrives, the only
thing that may escape is the parser's own error type with a reason a person can read."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from callscope_recorder.calls import CallRecorder
from callscope_recorder.ingest.rtp import RtpParseError, parse_rtp
from callscope_recorder.ingest.sip.message import (
    KEEPALIVE_PING,
    MAX_MESSAGE_BYTES,
    SipParseError,
    SipRequest,
    SipResponse,
    SipStreamFramer,
    build_request,
    parse_message,
)
from callscope_recorder.ingest.sip.server import SiprecServer
from callscope_recorder.ingest.sip.siprec import parse_siprec_invite
from callscope_recorder.settings import RecorderSettings

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def request(method: str = "OPTIONS", call_id: str = "a@b", body: bytes = b"") -> bytes:
    return build_request(
        method,
        "sip:srs@127.0.0.1",
        [
            ("Via", "SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-1"),
            ("From", "<sip:src@127.0.0.1>;tag=1"),
            ("To", "<sip:srs@127.0.0.1>"),
            ("Call-ID", call_id),
            ("CSeq", f"1 {method}"),
            ("Max-Forwards", "70"),
            *([("Content-Type", "application/sdp")] if body else []),
        ],
        body,
    )


SDP = (
    b"v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 8\r\na=label:1\r\nm=audio 4002 RTP/AVP 8\r\na=label:2\r\n"
)
SIP_SEEDS = [request(), request("INVITE", body=SDP), request("BYE", "x@y")]


# -- TCP framing ----------------------------------------------------------------------------


def test_framer_cuts_messages_by_content_length_and_answers_pings() -> None:
    framer = SipStreamFramer()
    stream = b"\r\n" + SIP_SEEDS[0] + KEEPALIVE_PING + SIP_SEEDS[1] + SIP_SEEDS[2]
    frames = framer.feed(stream)
    assert frames == [SIP_SEEDS[0], KEEPALIVE_PING, SIP_SEEDS[1], SIP_SEEDS[2]]
    assert framer.pending == b""
    assert isinstance(parse_message(frames[2]), SipRequest)
    assert parse_message(frames[2]).body == SDP


def test_framer_waits_for_the_whole_body() -> None:
    framer = SipStreamFramer()
    message = SIP_SEEDS[1]
    assert framer.feed(message[:-10]) == []
    assert framer.feed(message[-10:]) == [message]


def test_framer_understands_the_compact_content_length() -> None:
    compact = SIP_SEEDS[1].replace(b"Content-Length:", b"l :")
    assert SipStreamFramer().feed(compact + SIP_SEEDS[0]) == [compact, SIP_SEEDS[0]]


def test_framer_refuses_a_message_without_content_length() -> None:
    without = SIP_SEEDS[0].replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(SipParseError) as err:
        SipStreamFramer().feed(without)
    assert err.value.status == 400 and "Content-Length" in err.value.reason


def test_framer_refuses_oversized_messages_before_buffering_them() -> None:
    huge_body = SIP_SEEDS[0].replace(b"Content-Length: 0", b"Content-Length: 999999")
    with pytest.raises(SipParseError) as err:
        SipStreamFramer().feed(huge_body)
    assert err.value.status == 413
    with pytest.raises(SipParseError) as err:
        SipStreamFramer().feed(b"OPTIONS sip:a SIP/2.0\r\nX: " + b"a" * MAX_MESSAGE_BYTES)
    assert err.value.status == 413


@FUZZ
@given(st.lists(st.integers(min_value=0, max_value=2000), max_size=12), st.data())
def test_framer_gives_the_same_messages_however_the_stream_is_cut(
    cuts: list[int], data: st.DataObject
) -> None:
    messages = data.draw(st.lists(st.sampled_from([*SIP_SEEDS, KEEPALIVE_PING]), max_size=6))
    stream = b"".join(messages)
    framer = SipStreamFramer()
    frames: list[bytes] = []
    start = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts):
        frames += framer.feed(stream[start:cut])
        start = cut
    frames += framer.feed(stream[start:])
    assert frames == messages


@FUZZ
@given(st.binary(max_size=3000))
@example(b"\r\n\r\r\n")
@example(b"INVITE sip:a SIP/2.0\r\nl: 5\r\n\r\nabc")
def test_framer_on_arbitrary_bytes_only_raises_sip_parse_errors(data: bytes) -> None:
    framer = SipStreamFramer()
    try:
        frames = framer.feed(data)
    except SipParseError as exc:
        assert 400 <= exc.status < 500 and exc.reason
        return
    assert sum(map(len, frames)) + len(framer.pending) <= len(data)


# -- SIP messages ---------------------------------------------------------------------------


def _mutations() -> st.SearchStrategy[bytes]:
    """A seed message with a few bytes replaced, inserted or removed."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        buf = bytearray(draw(st.sampled_from(SIP_SEEDS)))
        for _ in range(draw(st.integers(1, 6))):
            pos = draw(st.integers(0, len(buf)))
            kind = draw(st.sampled_from(["set", "insert", "delete"]))
            piece = draw(
                st.sampled_from([b"\r\n", b" ", b"\t", b":", b";", b",", b'"', b"<", b"\x00"])
                | st.binary(min_size=1, max_size=4)
            )
            if kind == "set" and pos < len(buf):
                buf[pos] = piece[0]
            elif kind == "insert":
                buf[pos:pos] = piece
            else:
                del buf[pos : pos + len(piece)]
        return bytes(buf)

    return mutate()


@FUZZ
@given(st.binary(max_size=2000) | _mutations())
def test_sip_parser_only_raises_sip_parse_errors(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError as exc:
        assert 400 <= exc.status < 600 and exc.reason
        return
    # What parses is usable: the dialog headers a response echoes are there.
    assert message.call_id and message.cseq[0] >= 0


DIALOG_SEEDS = [
    request(method, call_id="fuzz@test") for method in ("BYE", "CANCEL", "UPDATE", "ACK", "INFO")
]


@FUZZ
@given(st.binary(max_size=1500) | _mutations() | st.sampled_from(DIALOG_SEEDS))
def test_the_sip_server_answers_or_logs_whatever_arrives(data: bytes) -> None:
    """The server's dispatch never raises; every answer is one well-formed response.
    (INVITEs start calls and are covered by the dialog tests on a real recorder.)"""
    assume(not data.lstrip(b"\r\n").upper().startswith(b"INVITE"))
    settings_ = RecorderSettings()
    server = SiprecServer(settings_, CallRecorder(settings_, None, None, None))  # type: ignore[arg-type]
    sent: list[bytes] = []
    server._send = lambda reply, addr: sent.append(reply)  # type: ignore[method-assign]
    server.on_datagram(data, ("127.0.0.1", 5999))
    assert len(sent) <= 1
    for reply in sent:
        response = parse_message(reply)
        assert isinstance(response, SipResponse) and 200 <= response.status < 600


# -- SIPREC bodies: multipart, SDP, rs-metadata ---------------------------------------------

METADATA = (
    b'<?xml version="1.0"?><recording xmlns="urn:ietf:params:xml:ns:recording:1">'
    b'<participant participant_id="p1"><nameID aor="sip:c@pstn"/></participant>'
    b'<stream stream_id="s1"><label>1</label></stream>'
    b'<participantstreamassoc participant_id="p1"><send>s1</send></participantstreamassoc>'
    b"</recording>"
)
CONTENT_TYPES = [
    "application/sdp",
    'multipart/mixed;boundary="b 1"',
    "multipart/mixed;boundary=b",
    "multipart/mixed",
    "application/rs-metadata+xml",
    "text/plain",
]


def _multipart(sdp: bytes, xml: bytes, boundary: bytes) -> bytes:
    return (
        b"--" + boundary + b"\r\nContent-Type: application/sdp\r\n\r\n" + sdp + b"\r\n"
        b"--"
        + boundary
        + b"\r\nContent-Type: application/rs-metadata+xml\r\n\r\n"
        + xml
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )


def _invite(content_type: str, body: bytes) -> SipRequest:
    message = parse_message(request("INVITE", body=b"x"))
    assert isinstance(message, SipRequest)
    message.headers.set("Content-Type", content_type)
    message.body = body
    return message


@FUZZ
@given(
    st.sampled_from(CONTENT_TYPES),
    st.binary(max_size=600)
    | st.builds(
        _multipart,
        st.sampled_from([SDP]) | st.binary(max_size=200),
        st.sampled_from([METADATA]) | st.binary(max_size=200),
        st.sampled_from([b"b 1", b"b"]),
    ),
)
def test_siprec_bodies_only_raise_sip_parse_errors(content_type: str, body: bytes) -> None:
    try:
        offer = parse_siprec_invite(_invite(content_type, body))
    except SipParseError as exc:
        assert exc.status in (400, 415, 488) and exc.reason
        return
    assert offer.streams and any(s.codec in ("PCMU", "PCMA") for s in offer.streams)


SDP_LINES = st.sampled_from(
    [
        b"v=0",
        b"o=src 1 1 IN IP4 127.0.0.1",
        b"s=-",
        b"c=IN IP4 127.0.0.1",
        b"c=IN IP6 ::1",
        b"t=0 0",
        b"m=audio 4000 RTP/AVP 0 8",
        b"m=audio 0 RTP/AVP 0",
        b"m=audio 99999 RTP/AVP 0",
        b"m=video 4004 RTP/AVP 96",
        b"m=audio 4000 RTP/SAVP 0",
        b"a=rtpmap:0 PCMU/8000",
        b"a=rtpmap:8 PCMA/16000",
        b"a=rtpmap:0 opus/48000/2",
        b"a=label:1",
        b"a=label:",
        b"a=sendonly",
    ]
) | st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@FUZZ
@given(st.lists(SDP_LINES, max_size=16))
def test_sdp_offers_only_raise_sip_parse_errors(lines: list[bytes]) -> None:
    try:
        offer = parse_siprec_invite(_invite("application/sdp", b"\r\n".join(lines) + b"\r\n"))
    except SipParseError as exc:
        assert exc.status in (400, 488) and exc.reason
        return
    for stream in offer.streams:
        assert 0 <= stream.port <= 65535
        assert stream.codec is None or stream.payload_type is not None


# -- RTP ------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_rtp_parser_only_raises_rtp_parse_errors(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpParseError as exc:
        assert str(exc)
        return
    assert len(packet.payload) <= len(data) - 12


@FUZZ
@given(
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.booleans(),
    st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    st.binary(max_size=200),
)
def test_valid_rtp_packets_round_trip(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    marker: bool,
    csrcs: list[int],
    payload: bytes,
) -> None:
    if 72 <= payload_type <= 76 and marker:
        payload_type = 0  # the second byte would read as an RTCP packet type (RFC 5761 4)
    first = 0x80 | len(csrcs)
    second = (0x80 if marker else 0) | payload_type
    data = (
        struct.pack("!BBHII", first, second, sequence, timestamp, ssrc)
        + b"".join(struct.pack("!I", c) for c in csrcs)
        + payload
    )
    packet = parse_rtp(data)
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (
        payload_type,
        sequence,
        timestamp,
        ssrc,
    )
    assert packet.marker is marker and packet.payload == payload
