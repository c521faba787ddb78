"""SIPREC (RFC 7866) offers: multipart bodies, RFC 7865 metadata, codec choice, the SDP
answer and agent/customer labelling."""

from __future__ import annotations

import base64
import contextlib
import random

import pytest
import sdp_transform

from callscope_recorder.ingest.sip.message import SipParseError, SipRequest, parse_message
from callscope_recorder.ingest.sip.siprec import (
    ChannelLabelError,
    MediaStream,
    SiprecOffer,
    build_sdp_answer,
    label_channels,
    parse_siprec_invite,
)

AGENT_PATTERN = r"@callcenter\.example"
CUSTOMER_AOR = "sip:+33612345678@pstn.example"
AGENT_AOR = "sip:agent-1001@callcenter.example"
CUSTOMER_ID = "ZH0tVXN0b21lci1wYXJ0aWNpcGFudA=="
AGENT_ID = "YWdlbnQtMTAwMS1wYXJ0aWNpcGFudA=="
STREAM_1 = "c3RyZWFtLW9uZS1jdXN0b21lcg=="
STREAM_2 = "c3RyZWFtLXR3by1hZ2VudHNpZGU="
SESSION_ID = "cmVjb3JkaW5nLXNlc3Npb24tMQ=="


def sdp(*media: str, session_c: str | None = "198.51.100.1") -> str:
    lines = ["v=0", "o=SRC 2890844526 2890844526 IN IP4 198.51.100.1", "s=-"]
    if session_c:
        lines.append(f"c=IN IP4 {session_c}")
    lines.append("t=0 0")
    return "\r\n".join(lines) + "\r\n" + "".join(media)


def audio(port: int, formats: str, label: str | None, *extra: str) -> str:
    lines = [f"m=audio {port} RTP/AVP {formats}"]
    lines += list(extra)
    if label is not None:
        lines.append(f"a=label:{label}")
    lines.append("a=sendonly")
    return "\r\n".join(lines) + "\r\n"


G711 = ("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000")
TWO_STREAMS = sdp(audio(49170, "0 8 101", "1", *G711), audio(49172, "0 8 101", "2", *G711))


def metadata(senders: dict[str, str] | None = None, extra: str = "") -> str:
    """RFC 7865 metadata: the customer sends on label 1, the agent on label 2."""
    senders = senders if senders is not None else {CUSTOMER_ID: STREAM_1, AGENT_ID: STREAM_2}
    receivers = {CUSTOMER_ID: STREAM_2, AGENT_ID: STREAM_1}
    assocs = "".join(
        f'  <participantstreamassoc participant_id="{pid}">\r\n'
        f"    <send>{stream}</send>\r\n"
        f"    <recv>{receivers.get(pid, STREAM_1)}</recv>\r\n"
        "  </participantstreamassoc>\r\n"
        for pid, stream in senders.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        "<recording xmlns='urn:ietf:params:xml:ns:recording:1'>\r\n"
        "  <datamode>complete</datamode>\r\n"
        f'  <session session_id="{SESSION_ID}">\r\n'
        "    <sipSessionID>ab30317f1a784dc48ff824d0d3715d86;"
        "remote=47755a9de7794ba387653f2099600ef2</sipSessionID>\r\n"
        "    <start-time>2026-01-12T09:30:00Z</start-time>\r\n"
        "  </session>\r\n"
        f'  <participant participant_id="{CUSTOMER_ID}">\r\n'
        f'    <nameID aor="{CUSTOMER_AOR}">\r\n'
        '      <name xml:lang="fr">Zoë Martin</name>\r\n'
        "    </nameID>\r\n"
        "  </participant>\r\n"
        f'  <participant participant_id="{AGENT_ID}">\r\n'
        f'    <nameID aor="{AGENT_AOR}">\r\n'
        '      <name xml:lang="fr">Agent 1001</name>\r\n'
        "    </nameID>\r\n"
        "  </participant>\r\n"
        f'  <stream stream_id="{STREAM_1}" session_id="{SESSION_ID}">\r\n'
        "    <label>1</label>\r\n"
        "  </stream>\r\n"
        f'  <stream stream_id="{STREAM_2}" session_id="{SESSION_ID}">\r\n'
        "    <label>2</label>\r\n"
        "  </stream>\r\n"
        f'  <sessionrecordingassoc session_id="{SESSION_ID}">\r\n'
        "    <associate-time>2026-01-12T09:30:00Z</associate-time>\r\n"
        "  </sessionrecordingassoc>\r\n" + assocs + extra + "</recording>\r\n"
    )


def multipart(
    sdp_text: str | None,
    xml: str | bytes | None,
    boundary: str = "OSS-unique-boundary-42",
    metadata_headers: str = "Content-Disposition: recording-session\r\n",
) -> bytes:
    parts = []
    if sdp_text is not None:
        parts.append(
            f"--{boundary}\r\nContent-Type: application/sdp\r\n\r\n".encode() + sdp_text.encode()
        )
    if xml is not None:
        xml_bytes = xml.encode() if isinstance(xml, str) else xml
        parts.append(
            f"--{boundary}\r\nContent-Type: application/rs-metadata+xml\r\n"
            f"{metadata_headers}\r\n".encode()
            + xml_bytes
        )
    return b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()


def invite(body: bytes, content_type: str | None, extra_headers: str = "") -> bytes:
    head = (
        "INVITE sip:recorder@srs.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP src.example.com;branch=z9hG4bKdf6b622b648d9\r\n"
        "From: <sip:2000@src.example.com>;tag=35e195d2-947d-4585-946f-09839247\r\n"
        "To: <sip:recorder@srs.example.com>\r\n"
        "Call-ID: d253c800-b0d1ea39-4a7dd-3f0e0@198.51.100.1\r\n"
        "Session-ID: ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000\r\n"
        "CSeq: 101 INVITE\r\n"
        "Max-Forwards: 70\r\n"
        "Require: siprec\r\n"
        "Accept: application/sdp, application/rs-metadata\r\n"
        "Contact: <sip:2000@src.example.com>;+sip.src\r\n"
        "MIME-Version: 1.0\r\n"
        + (f"Content-Type: {content_type}\r\n" if content_type else "")
        + extra_headers
        + f"Content-Length:  {len(body)}\r\n\r\n"  # padded like SIPp does
    )
    return head.encode() + body


def siprec_request(
    sdp_text: str | None = TWO_STREAMS,
    xml: str | bytes | None = None,
    boundary: str = "OSS-unique-boundary-42",
    content_type: str | None = None,
) -> SipRequest:
    xml = metadata() if xml is None else xml
    body = multipart(sdp_text, xml, boundary)
    if content_type is None:
        content_type = f'multipart/mixed;boundary="{boundary}"'
    request = parse_message(invite(body, content_type))
    assert isinstance(request, SipRequest)
    return request


# -- parsing the offer ----------------------------------------------------------------------


def test_rfc7866_invite_two_streams_and_metadata() -> None:
    offer = parse_siprec_invite(siprec_request())
    assert [(s.index, s.label, s.port, s.codec, s.payload_type) for s in offer.streams] == [
        (0, "1", 49170, "PCMU", 0),
        (1, "2", 49172, "PCMU", 0),
    ]
    assert all(s.connection == "198.51.100.1" for s in offer.streams)
    assert offer.sdp_text.startswith("v=0\r\n")
    meta = offer.metadata
    assert meta is not None
    assert meta.session_id == SESSION_ID
    assert [(p.participant_id, p.aor, p.name) for p in meta.participants] == [
        (CUSTOMER_ID, CUSTOMER_AOR, "Zoë Martin"),
        (AGENT_ID, AGENT_AOR, "Agent 1001"),
    ]
    assert meta.stream_labels == {STREAM_1: "1", STREAM_2: "2"}
    assert meta.sender_by_label == {"1": CUSTOMER_ID, "2": AGENT_ID}
    assert meta.raw_xml.startswith('<?xml version="1.0"') and "Zoë" in meta.raw_xml


def test_label_channels_from_who_sends_on_each_stream() -> None:
    offer = parse_siprec_invite(siprec_request())
    assert label_channels(offer, AGENT_PATTERN) == {0: "customer", 1: "agent"}
    # Case-insensitive search, not a full match.
    assert label_channels(offer, r"AGENT-\d+@") == {0: "customer", 1: "agent"}


def test_label_channels_follows_the_metadata_not_the_stream_order() -> None:
    swapped = metadata({CUSTOMER_ID: STREAM_2, AGENT_ID: STREAM_1})
    offer = parse_siprec_invite(siprec_request(xml=swapped))
    assert label_channels(offer, AGENT_PATTERN) == {0: "agent", 1: "customer"}


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/mixed;boundary=OSS-unique-boundary-42",
        'multipart/mixed; boundary="OSS-unique-boundary-42"',
        'Multipart/Mixed ; Boundary = "OSS-unique-boundary-42"',
    ],
)
def test_boundary_may_be_quoted_or_not(content_type: str) -> None:
    offer = parse_siprec_invite(siprec_request(content_type=content_type))
    assert len(offer.streams) == 2 and offer.metadata is not None


def test_quoted_boundary_with_spaces() -> None:
    offer = parse_siprec_invite(siprec_request(boundary="a boundary, with (odd) chars"))
    assert offer.metadata is not None and offer.metadata.sender_by_label["2"] == AGENT_ID


def test_base64_metadata_part_is_decoded() -> None:
    xml64 = base64.encodebytes(metadata().encode())
    body = multipart(
        TWO_STREAMS,
        xml64,
        metadata_headers="Content-Transfer-Encoding: base64\r\n",
    )
    request = parse_message(invite(body, 'multipart/mixed;boundary="OSS-unique-boundary-42"'))
    assert isinstance(request, SipRequest)
    offer = parse_siprec_invite(request)
    assert offer.metadata is not None and len(offer.metadata.participants) == 2


def test_pre_rfc_metadata_content_type_is_accepted() -> None:
    body = multipart(TWO_STREAMS, metadata()).replace(
        b"application/rs-metadata+xml", b"application/rs-metadata"
    )
    request = parse_message(invite(body, 'multipart/mixed;boundary="OSS-unique-boundary-42"'))
    assert isinstance(request, SipRequest)
    offer = parse_siprec_invite(request)
    assert label_channels(offer, AGENT_PATTERN) == {0: "customer", 1: "agent"}


def test_pre_rfc_metadata_layout_is_understood() -> None:
    # Older SRCs: "id" attributes, <aor> and <name> directly in <participant>, <send> there.
    xml = (
        "<recording xmlns='urn:ietf:params:xml:ns:recording:1'>"
        '<session id="s1"/>'
        f'<participant id="p1"><aor>{CUSTOMER_AOR}</aor><name>Zoë</name>'
        "<send>st1</send></participant>"
        f'<participant id="p2"><aor>{AGENT_AOR}</aor><send>st2</send></participant>'
        '<stream id="st1"><label>1</label></stream>'
        '<stream id="st2"><label>2</label></stream>'
        "</recording>"
    )
    offer = parse_siprec_invite(siprec_request(xml=xml))
    assert offer.metadata is not None
    assert offer.metadata.session_id == "s1"
    assert [(p.aor, p.name) for p in offer.metadata.participants] == [
        (CUSTOMER_AOR, "Zoë"),
        (AGENT_AOR, None),
    ]
    assert label_channels(offer, AGENT_PATTERN) == {0: "customer", 1: "agent"}


def test_plain_sdp_body_has_no_metadata_and_labels_are_not_guessed() -> None:
    request = parse_message(invite(TWO_STREAMS.encode(), "application/sdp"))
    assert isinstance(request, SipRequest)
    offer = parse_siprec_invite(request)
    assert offer.metadata is None and len(offer.streams) == 2
    with pytest.raises(ChannelLabelError, match="no recording metadata"):
        label_channels(offer, AGENT_PATTERN)


def test_no_participant_matching_the_agent_pattern_is_an_error() -> None:
    offer = parse_siprec_invite(siprec_request())
    with pytest.raises(ChannelLabelError, match="no participant AOR matches"):
        label_channels(offer, r"@elsewhere\.example")
    with pytest.raises(ChannelLabelError, match="invalid agent AOR pattern"):
        label_channels(offer, r"(unclosed")


def test_a_stream_nobody_sends_on_is_an_error() -> None:
    offer = parse_siprec_invite(siprec_request(xml=metadata({CUSTOMER_ID: STREAM_1})))
    with pytest.raises(ChannelLabelError, match="stream 1"):
        label_channels(offer, AGENT_PATTERN)


def test_more_than_two_streams_are_each_labelled() -> None:
    third_id, third_stream = "c2Vjb25kLWFnZW50", "c3RyZWFtLXRocmVl"
    extra = (
        f'  <participant participant_id="{third_id}">\r\n'
        '    <nameID aor="sip:agent-2002@callcenter.example"/>\r\n'
        "  </participant>\r\n"
        f'  <stream stream_id="{third_stream}" session_id="{SESSION_ID}">'
        "<label>3</label></stream>\r\n"
        f'  <participantstreamassoc participant_id="{third_id}">'
        f"<send>{third_stream}</send></participantstreamassoc>\r\n"
    )
    three = sdp(
        audio(49170, "0", "1"),
        audio(49172, "0", "2"),
        "m=video 49174 RTP/AVP 31\r\na=label:v\r\n",
        audio(49176, "8", "3"),
    )
    offer = parse_siprec_invite(siprec_request(sdp_text=three, xml=metadata(extra=extra)))
    assert [(s.index, s.codec) for s in offer.streams] == [(0, "PCMU"), (1, "PCMU"), (3, "PCMA")]
    assert label_channels(offer, AGENT_PATTERN) == {0: "customer", 1: "agent", 3: "agent"}


def test_unrecordable_unlabelled_streams_are_left_out() -> None:
    offer = parse_siprec_invite(
        siprec_request(
            sdp_text=sdp(audio(49170, "0", "1"), audio(49172, "0", "2"), audio(0, "0", None))
        )
    )
    assert offer.streams[2].codec is None
    assert label_channels(offer, AGENT_PATTERN) == {0: "customer", 1: "agent"}


# -- codec and connection choice ------------------------------------------------------------


@pytest.mark.parametrize(
    ("formats", "extra", "codec", "payload_type"),
    [
        ("0 8", (), "PCMU", 0),
        ("8 0", (), "PCMU", 0),  # PCMU preferred whatever the offer's order
        ("8", (), "PCMA", 8),
        ("18 8 101", ("a=rtpmap:18 G729/8000",), "PCMA", 8),
        ("96 97", ("a=rtpmap:96 opus/48000/2", "a=rtpmap:97 PCMU/8000"), "PCMU", 97),
        ("98", ("a=rtpmap:98 pcma/8000",), "PCMA", 98),
        ("99 8", ("a=rtpmap:99 PCMU/16000",), "PCMA", 8),
    ],
)
def test_codec_choice(formats: str, extra: tuple[str, ...], codec: str, payload_type: int) -> None:
    offer = parse_siprec_invite(
        siprec_request(sdp_text=sdp(audio(4000, formats, "1", *extra), audio(4002, "0", "2")))
    )
    assert (offer.streams[0].codec, offer.streams[0].payload_type) == (codec, payload_type)


def test_stream_without_g711_has_no_codec_but_others_are_kept() -> None:
    offer = parse_siprec_invite(
        siprec_request(
            sdp_text=sdp(audio(4000, "18", "1", "a=rtpmap:18 G729/8000"), audio(4002, "8", "2"))
        )
    )
    assert [(s.codec, s.payload_type) for s in offer.streams] == [(None, None), ("PCMA", 8)]


def test_media_connection_overrides_the_session_one() -> None:
    offer = parse_siprec_invite(
        siprec_request(
            sdp_text=sdp(
                audio(4000, "0", "1", "c=IN IP4 203.0.113.7"),
                audio(4002, "0", "2"),
                session_c=None,
            )
        )
    )
    assert [s.connection for s in offer.streams] == ["203.0.113.7", None]


def test_labels_are_kept_exactly_as_written() -> None:
    offer = parse_siprec_invite(
        siprec_request(sdp_text=sdp(audio(4000, "0", "01"), audio(4002, "0", "1e3")))
    )
    assert [s.label for s in offer.streams] == ["01", "1e3"]


# -- refusals -------------------------------------------------------------------------------


def refusal(request_bytes: bytes) -> SipParseError:
    request = parse_message(request_bytes)
    assert isinstance(request, SipRequest)
    with pytest.raises(SipParseError) as caught:
        parse_siprec_invite(request)
    return caught.value


def test_no_body_is_missing_sdp() -> None:
    error = refusal(invite(b"", None))
    assert (error.status, error.reason) == (400, "missing SDP")


def test_multipart_without_sdp_part_is_missing_sdp() -> None:
    body = multipart(None, metadata())
    error = refusal(invite(body, 'multipart/mixed;boundary="OSS-unique-boundary-42"'))
    assert (error.status, error.reason) == (400, "missing SDP")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "multipart/related"])
def test_unsupported_body_type_is_415(content_type: str) -> None:
    assert refusal(invite(b"hello", content_type)).status == 415


def test_compressed_body_is_415() -> None:
    data = invite(TWO_STREAMS.encode(), "application/sdp", "Content-Encoding: gzip\r\n")
    assert refusal(data).status == 415


@pytest.mark.parametrize(
    "sdp_text",
    [
        sdp("m=video 4000 RTP/AVP 31\r\n"),
        sdp(),
        sdp(audio(4000, "18", "1", "a=rtpmap:18 G729/8000")),
        sdp(audio(0, "0", "1")),  # the only audio stream is declined
        sdp("m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"),
    ],
)
def test_no_recordable_audio_is_488(sdp_text: str) -> None:
    error = refusal(
        invite(multipart(sdp_text, metadata()), 'multipart/mixed;boundary="OSS-unique-boundary-42"')
    )
    assert error.status == 488 and "Not Acceptable Here" in error.reason


@pytest.mark.parametrize(
    "xml",
    [
        '<?xml version="1.0"?>\r\n<!DOCTYPE r [<!ENTITY a "aaaa">]>\r\n'
        "<recording xmlns='urn:ietf:params:xml:ns:recording:1'>&a;</recording>\r\n",
        "<recording xmlns='urn:ietf:params:xml:ns:recording:1'><participant></recording>",
        "<recording xmlns='urn:example:other'/>",
        "<recording xmlns='urn:ietf:params:xml:ns:recording:1'><participant/></recording>",
        "not xml at all",
    ],
)
def test_bad_metadata_is_400(xml: str) -> None:
    body = multipart(TWO_STREAMS, xml)
    error = refusal(invite(body, 'multipart/mixed;boundary="OSS-unique-boundary-42"'))
    assert error.status == 400


def test_absurdly_nested_multipart_is_a_400_not_a_crash() -> None:
    body = b"".join(
        b"--%d\r\nContent-Type: multipart/mixed;boundary=%d\r\n\r\n" % (i, i + 1)
        for i in range(1100)
    )
    error = refusal(invite(body, "multipart/mixed;boundary=0"))
    assert (error.status, error.reason) == (400, "too many nested multipart bodies")


def test_garbage_sdp_is_refused() -> None:
    body = multipart("this is not SDP\r\n", metadata())
    error = refusal(invite(body, 'multipart/mixed;boundary="OSS-unique-boundary-42"'))
    assert error.status in (400, 488)


# -- the answer -----------------------------------------------------------------------------


def test_sdp_answer_round_trips_through_sdp_transform() -> None:
    offer = parse_siprec_invite(siprec_request())
    answer = build_sdp_answer(offer, "192.0.2.10", [20000, 20002], session_version=1)
    assert answer.endswith("\r\n") and "\n" not in answer.replace("\r\n", "")
    parsed = sdp_transform.parse(answer)
    assert parsed["version"] == 0
    assert parsed["origin"]["sessionVersion"] == 1
    assert parsed["origin"]["address"] == "192.0.2.10"
    assert parsed["connection"] == {"version": 4, "ip": "192.0.2.10"}
    assert parsed["timing"] == {"start": 0, "stop": 0}
    media = parsed["media"]
    assert [(m["type"], m["port"], m["protocol"], str(m["payloads"])) for m in media] == [
        ("audio", 20000, "RTP/AVP", "0 101"),  # PCMU, and the offered DTMF events
        ("audio", 20002, "RTP/AVP", "0 101"),
    ]
    assert [m["rtp"] for m in media] == [
        [
            {"payload": 0, "codec": "PCMU", "rate": 8000},
            {"payload": 101, "codec": "telephone-event", "rate": 8000},
        ]
    ] * 2
    assert [m["direction"] for m in media] == ["recvonly", "recvonly"]
    assert [str(m["label"]) for m in media] == ["1", "2"]
    # The same offer gives the same answer (retransmissions, re-INVITEs).
    assert build_sdp_answer(offer, "192.0.2.10", [20000, 20002], session_version=1) == answer


def test_sdp_answer_declines_what_it_does_not_record() -> None:
    offer_sdp = sdp(
        audio(4000, "18", "1", "a=rtpmap:18 G729/8000"),
        "m=video 4002 RTP/AVP 31\r\n",
        audio(4004, "8 0", "2"),
        audio(4006, "8", "3"),
    )
    offer = parse_siprec_invite(siprec_request(sdp_text=offer_sdp))
    answer = build_sdp_answer(offer, "192.0.2.10", [20000, 20002, 0], session_version=7)
    media = sdp_transform.parse(answer)["media"]
    assert [(m["type"], m["port"]) for m in media] == [
        ("audio", 0),  # G.729 only: declined
        ("video", 0),  # not audio: declined, but its m= line is kept in place
        ("audio", 20002),
        ("audio", 0),  # the caller gave it no port
    ]
    assert media[2]["rtp"] == [{"payload": 0, "codec": "PCMU", "rate": 8000}]
    assert "rtp" not in media[0] or media[0]["rtp"] == []


def test_sdp_answer_accepts_offered_telephone_events_for_dtmf() -> None:
    offer_sdp = sdp(
        audio(4000, "0 96", "1", "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16"),
        audio(4002, "8", "2", "a=rtpmap:101 telephone-event/8000"),  # 101 not in m=: ignored
    )
    offer = parse_siprec_invite(siprec_request(sdp_text=offer_sdp))
    assert [s.telephone_event_pt for s in offer.streams] == [96, None]
    media = sdp_transform.parse(
        build_sdp_answer(offer, "192.0.2.10", [20000, 20002], session_version=1)
    )["media"]
    assert str(media[0]["payloads"]) == "0 96"
    assert media[0]["rtp"] == [
        {"payload": 0, "codec": "PCMU", "rate": 8000},
        {"payload": 96, "codec": "telephone-event", "rate": 8000},
    ]
    assert media[0]["fmtp"] == [{"payload": 96, "config": "0-15"}]
    assert str(media[1]["payloads"]) == "8" and not media[1].get("fmtp")


def test_sdp_answer_needs_one_port_per_stream() -> None:
    offer = parse_siprec_invite(siprec_request())
    with pytest.raises(ValueError):
        build_sdp_answer(offer, "192.0.2.10", [20000], session_version=1)


def test_sdp_answer_for_a_hand_made_offer() -> None:
    offer = SiprecOffer(
        streams=[MediaStream(0, "a", 5000, "PCMA", 8, "10.0.0.1")],
        metadata=None,
        sdp_text="",
    )
    answer = build_sdp_answer(offer, "2001:db8::10", [30000], session_version=2)
    assert "c=IN IP6 2001:db8::10\r\n" in answer
    assert (
        "m=audio 30000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=label:a\r\na=recvonly\r\n" in answer
    )


# -- fuzzing ---------------------------------------------------------------------------------


def test_fuzz_siprec_bodies_only_raise_sip_parse_errors() -> None:
    rng = random.Random(7866)
    seed_body = multipart(TWO_STREAMS, metadata())
    content_types = [
        'multipart/mixed;boundary="OSS-unique-boundary-42"',
        "multipart/mixed",
        "application/sdp",
        'multipart/mixed;boundary="',
    ]
    offers = 0
    for _ in range(1000):
        body = bytearray(seed_body)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(body) + 1)
            op = rng.randrange(4)
            if op == 0 and body:
                body[min(pos, len(body) - 1)] = rng.randrange(256)
            elif op == 1:
                body[pos:pos] = rng.choice([b"<", b"&", b"\r\n", b"--", b"m=audio 0 RTP/AVP 0\r\n"])
            elif op == 2:
                del body[pos : pos + rng.randint(1, 40)]
            else:
                body[pos:pos] = body[rng.randrange(len(body) + 1) :][: rng.randint(1, 80)]
        try:
            request = parse_message(invite(bytes(body), rng.choice(content_types)))
            assert isinstance(request, SipRequest)
            offer = parse_siprec_invite(request)
        except SipParseError as exc:
            assert exc.status in (400, 415, 488)
            continue
        offers += 1
        with contextlib.suppress(ChannelLabelError):  # a broken association may remain
            label_channels(offer, AGENT_PATTERN)
        build_sdp_answer(offer, "192.0.2.10", [20000 + 2 * i for i in range(len(offer.streams))], 1)
    assert offers > 100
