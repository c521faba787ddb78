"""SIPREC (RFC 7866) offers: the SDP streams and the recording metadata (RFC 7865) of an
INVITE, the SDP answer, and which stream is the agent and which the customer.

Pure code. Every refusal is a SipParseError carrying the SIP status to answer with.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import sdp_transform

from .message import SipParseError, SipRequest

RECORDING_NS = "urn:ietf:params:xml:ns:recording:1"
SDP_TYPE = "application/sdp"
METADATA_TYPE = "application/rs-metadata+xml"
# Pre-RFC 7866 SRCs label the same document without the +xml suffix.
_METADATA_TYPES = (METADATA_TYPE, "application/rs-metadata")

# Static payload types (RFC 3551) and the names rtpmap may give them.
_STATIC_G711 = {0: "PCMU", 8: "PCMA"}
_PREFERENCE = ("PCMU", "PCMA")
_NOT_ACCEPTABLE = 488
_MAX_NESTED_MULTIPARTS = 4


class ChannelLabelError(ValueError):
    """The offer does not say which stream is the agent's; the caller decides what to do."""


@dataclass
class MediaStream:
    index: int  # position of the m= line in the SDP (all media types counted)
    label: str | None
    port: int
    codec: str | None  # "PCMU"/"PCMA" chosen, None if neither offered (or not recordable)
    payload_type: int | None
    connection: str | None
    protocol: str = "RTP/AVP"
    formats: list[str] = field(default_factory=list)  # as offered, to echo on a decline
    # RFC 4733 telephone-event payload type when offered (DTMF pause/resume), else None.
    telephone_event_pt: int | None = None


@dataclass
class Participant:
    participant_id: str
    aor: str | None
    name: str | None


@dataclass
class RecordingMetadata:
    session_id: str | None
    participants: list[Participant]
    stream_labels: dict[str, str]  # stream_id -> label
    sender_by_label: dict[str, str]  # label -> participant_id that SENDS on it
    raw_xml: str
    # participant_id -> labels of the streams they send on (after a transfer the old and
    # the new agent may both be said to send on the agent's stream)
    sends_by_participant: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SiprecOffer:
    streams: list[MediaStream]
    metadata: RecordingMetadata | None
    sdp_text: str


# -- the INVITE body ----------------------------------------------------------------------


def parse_siprec_invite(request: SipRequest) -> SiprecOffer:
    """The audio streams and metadata of a SIPREC INVITE (or a plain SDP INVITE).

    Raises SipParseError (and nothing else) with the status to answer: 400, 415 or 488.
    """
    try:
        return _parse_invite(request)
    except SipParseError:
        raise
    except Exception as exc:  # e.g. RecursionError from absurdly nested MIME parts
        raise SipParseError(f"unparseable body ({type(exc).__name__})") from exc


def _parse_invite(request: SipRequest) -> SiprecOffer:
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    if encoding not in ("", "identity"):
        raise SipParseError("Unsupported Media Type (Content-Encoding)", 415)
    if not request.body.strip():
        raise SipParseError("missing SDP")
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        raise SipParseError("missing Content-Type")
    sdp_bytes, metadata_bytes = _split_body(content_type, request.body)
    if sdp_bytes is None:
        raise SipParseError("missing SDP")
    sdp_text = _decode(sdp_bytes, "SDP")
    streams = _parse_sdp(sdp_text)
    metadata = None
    if metadata_bytes is not None:
        metadata = parse_recording_metadata(metadata_bytes)
    return SiprecOffer(streams=streams, metadata=metadata, sdp_text=sdp_text)


def _mime(content_type: str, body: bytes) -> Message:
    # The email package does the MIME work (quoted boundaries, part headers, transfer
    # encodings); we hand it the body as a document with our Content-Type on top.
    if "\r" in content_type or "\n" in content_type:
        raise SipParseError("malformed Content-Type")
    document = b"Content-Type: " + content_type.encode("utf-8") + b"\r\n\r\n" + body
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(document)


def _split_body(content_type: str, body: bytes) -> tuple[bytes | None, bytes | None]:
    main_type = _mime(content_type, b"").get_content_type()
    if main_type == SDP_TYPE:
        return body, None
    if main_type != "multipart/mixed":
        raise SipParseError(f"Unsupported Media Type {main_type}", 415)
    # SIPREC bodies are one level deep; deeply nested parts only cost parse time (the
    # email package recurses per level), so they are refused before it sees them.
    if body.lower().count(b"multipart/") > _MAX_NESTED_MULTIPARTS:
        raise SipParseError("too many nested multipart bodies")
    top = _mime(content_type, body)
    if not top.get_param("boundary"):
        raise SipParseError("multipart body without boundary")
    if not top.is_multipart():
        raise SipParseError("malformed multipart body")
    sdp: bytes | None = None
    metadata: bytes | None = None
    for part in top.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if kind == SDP_TYPE and sdp is None:
            sdp = _payload(part)
        elif kind in _METADATA_TYPES and metadata is None:
            metadata = _payload(part)
    return sdp, metadata


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise SipParseError("malformed body part")
    return payload


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError(f"{what} is not valid UTF-8") from None


# -- SDP ----------------------------------------------------------------------------------


def _raw_media_sections(sdp_text: str) -> list[list[str]]:
    """The lines of each m= section, as written (sdp_transform turns label "01" into 1)."""
    sections: list[list[str]] = []
    for line in sdp_text.splitlines():  # the same line split and m= test as sdp_transform
        if line.startswith("m="):
            sections.append([])
        if sections:
            sections[-1].append(line)
    return sections


def _parse_sdp(sdp_text: str) -> list[MediaStream]:
    try:
        session: dict[str, Any] = sdp_transform.parse(sdp_text)
    except Exception:  # the grammar is regex-based; any failure means a broken SDP
        raise SipParseError("invalid SDP") from None
    if "version" not in session or "origin" not in session:
        raise SipParseError("invalid SDP (no v= or o= line)")
    media_list = session.get("media") or []
    raw_sections = _raw_media_sections(sdp_text)
    if len(raw_sections) != len(media_list):
        raise SipParseError("invalid SDP m= lines")
    session_ip = _connection_ip(session)
    streams: list[MediaStream] = []
    for index, media in enumerate(media_list):
        if not {"type", "port", "protocol", "payloads"} <= media.keys():
            raise SipParseError("invalid SDP m= line")
        if media["type"] != "audio":
            continue
        port = media["port"]
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise SipParseError("invalid SDP port")
        formats = str(media["payloads"]).split()
        protocol = str(media["protocol"])
        codec, payload_type = _choose_codec(formats, media.get("rtp") or [])
        # A declined stream (port 0) or one we cannot read (SRTP, ...) is not recordable.
        if port == 0 or protocol.upper() not in ("RTP/AVP", "RTP/AVPF"):
            codec, payload_type = None, None
        streams.append(
            MediaStream(
                index=index,
                label=_raw_label(raw_sections[index]),
                port=port,
                codec=codec,
                payload_type=payload_type,
                connection=_connection_ip(media) or session_ip,
                protocol=protocol,
                formats=formats,
                telephone_event_pt=_telephone_event(formats, media.get("rtp") or [])
                if codec is not None
                else None,
            )
        )
    if not streams:
        raise SipParseError("Not Acceptable Here (no audio stream)", _NOT_ACCEPTABLE)
    if all(stream.codec is None for stream in streams):
        raise SipParseError("Not Acceptable Here (no G.711 audio)", _NOT_ACCEPTABLE)
    return streams


def _raw_label(section: list[str]) -> str | None:
    label = None
    for line in section:
        if line.startswith("a=label:"):
            label = line[len("a=label:") :].strip() or None
    return label


def _connection_ip(node: dict[str, Any]) -> str | None:
    connection = node.get("connection")
    if isinstance(connection, dict) and connection.get("ip"):
        return str(connection["ip"])
    return None


def _choose_codec(
    formats: list[str], rtpmaps: list[dict[str, Any]]
) -> tuple[str | None, int | None]:
    """PCMU over PCMA, by static payload type or by rtpmap name (8 kHz only)."""
    names: dict[int, str] = {}
    for pt_text in formats:
        if pt_text.isdigit() and int(pt_text) in _STATIC_G711:
            names[int(pt_text)] = _STATIC_G711[int(pt_text)]
    offered = {int(pt) for pt in formats if pt.isdigit()}
    for rtpmap in rtpmaps:
        payload = rtpmap.get("payload")
        if not isinstance(payload, int) or payload not in offered:
            continue
        codec = str(rtpmap.get("codec", "")).upper()
        rate = rtpmap.get("rate")
        if codec in _PREFERENCE and rate in (8000, None):
            names[payload] = codec
        else:
            names.pop(payload, None)  # rtpmap says this number is something else
    for wanted in _PREFERENCE:
        for pt_text in formats:
            if pt_text.isdigit() and names.get(int(pt_text)) == wanted:
                return wanted, int(pt_text)
    return None, None


def _telephone_event(formats: list[str], rtpmaps: list[dict[str, Any]]) -> int | None:
    """The offered RFC 4733 telephone-event payload type at 8 kHz (it has no static number)."""
    offered = {int(pt) for pt in formats if pt.isdigit()}
    for rtpmap in rtpmaps:
        payload = rtpmap.get("payload")
        if (
            isinstance(payload, int)
            and payload in offered
            and str(rtpmap.get("codec", "")).lower() == "telephone-event"
            and rtpmap.get("rate") in (8000, None)
        ):
            return payload
    return None


def sdp_session_id(offer: SiprecOffer) -> int:
    """The o= session id of our answers: stable per first offer, kept for the session."""
    return int.from_bytes(hashlib.sha256(offer.sdp_text.encode()).digest()[:6], "big")


def build_sdp_answer(
    offer: SiprecOffer,
    local_ip: str,
    ports: list[int],
    session_version: int,
    session_id: int | None = None,
) -> str:
    """The SRS answer (RFC 3264): one m= line per offered m= line, in order; each recorded
    audio stream receives only (recvonly) with the chosen codec, everything else is declined
    with port 0. ports[i] is the local RTP port for offer.streams[i] (0 to decline)."""
    if len(ports) != len(offer.streams):
        raise ValueError("one port per offered audio stream is needed")
    by_index = {
        stream.index: (stream, port) for stream, port in zip(offer.streams, ports, strict=True)
    }
    try:
        media_list = sdp_transform.parse(offer.sdp_text).get("media") or []
    except Exception:
        media_list = []
    address_type = "IP6" if ":" in local_ip else "IP4"
    # Stable per offer, so a retransmitted or re-sent answer is byte-identical; an answer to
    # a re-offer keeps the first one's (RFC 3264 8).
    if session_id is None:
        session_id = sdp_session_id(offer)
    lines = [
        "v=0",
        f"o=callscope {session_id} {session_version} IN {address_type} {local_ip}",
        "s=Callscope recording",
        f"c=IN {address_type} {local_ip}",
        "t=0 0",
    ]
    count = max(len(media_list), max((s.index + 1 for s in offer.streams), default=0))
    for index in range(count):
        entry = by_index.get(index)
        if entry is None:
            media = media_list[index] if index < len(media_list) else {}
            kind = media.get("type", "audio")
            protocol = media.get("protocol", "RTP/AVP")
            formats = str(media.get("payloads", "0")).split() or ["0"]
            lines.append(f"m={kind} 0 {protocol} {formats[0]}")
            continue
        stream, port = entry
        if stream.codec is None or stream.payload_type is None or port <= 0:
            fmt = stream.payload_type if stream.payload_type is not None else None
            first = str(fmt) if fmt is not None else (stream.formats[:1] or ["0"])[0]
            lines.append(f"m=audio 0 {stream.protocol} {first}")
            continue
        event_pt = stream.telephone_event_pt
        formats = f"{stream.payload_type}" + (f" {event_pt}" if event_pt is not None else "")
        lines.append(f"m=audio {port} {stream.protocol} {formats}")
        lines.append(f"a=rtpmap:{stream.payload_type} {stream.codec}/8000")
        if event_pt is not None:
            # Accepting the offered DTMF events lets the agent's *1/*2 pause the recording.
            lines.append(f"a=rtpmap:{event_pt} telephone-event/8000")
            lines.append(f"a=fmtp:{event_pt} 0-15")
        if stream.label is not None:
            lines.append(f"a=label:{stream.label}")
        lines.append("a=recvonly")
    return "\r\n".join(lines) + "\r\n"


# -- metadata -----------------------------------------------------------------------------


_FORBIDDEN_XML = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in node if _local(child.tag) == name]


def _text(node: ET.Element | None) -> str | None:
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def parse_recording_metadata(data: bytes) -> RecordingMetadata:
    """RFC 7865 metadata: participants, stream labels and who sends on which stream."""
    raw_xml = _decode(data, "recording metadata")
    # No DTDs at all: entity expansion (billion laughs, external entities) is refused up
    # front instead of trusting the XML parser's limits.
    if _FORBIDDEN_XML.search(raw_xml):
        raise SipParseError("recording metadata must not contain a DTD or entities")
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise SipParseError("invalid recording metadata XML") from None
    if root.tag != f"{{{RECORDING_NS}}}recording":
        raise SipParseError("recording metadata is not urn:ietf:params:xml:ns:recording:1")

    session = next(iter(_children(root, "session")), None)
    session_id = None
    if session is not None:
        session_id = session.get("session_id") or session.get("id")

    participants: list[Participant] = []
    senders: list[tuple[str, str]] = []  # (participant_id, stream_id) in document order
    for node in _children(root, "participant"):
        participant_id = node.get("participant_id") or node.get("id")
        if not participant_id:
            raise SipParseError("recording metadata participant without participant_id")
        name_id = next(iter(_children(node, "nameID")), None)
        aor = name_id.get("aor") if name_id is not None else None
        aor = aor or _text(next(iter(_children(node, "aor")), None))
        name_node = next(iter(_children(name_id, "name")), None) if name_id is not None else None
        name_node = (
            name_node if name_node is not None else next(iter(_children(node, "name")), None)
        )
        participants.append(Participant(participant_id, aor, _text(name_node)))
        # Pre-RFC drafts list <send> inside <participant>.
        senders += [(participant_id, s) for s in map(_text, _children(node, "send")) if s]

    stream_labels: dict[str, str] = {}
    for node in _children(root, "stream"):
        stream_id = node.get("stream_id") or node.get("id")
        label = _text(next(iter(_children(node, "label")), None))
        if stream_id and label is not None:
            stream_labels[stream_id] = label

    for node in _children(root, "participantstreamassoc"):
        participant_id = node.get("participant_id")
        if participant_id:
            senders += [(participant_id, s) for s in map(_text, _children(node, "send")) if s]

    sender_by_label: dict[str, str] = {}
    sends_by_participant: dict[str, list[str]] = {}
    for participant_id, stream_id in senders:
        label = stream_labels.get(stream_id)
        if label is None:
            continue
        # A stream has one sender; the first association stated wins.
        sender_by_label.setdefault(label, participant_id)
        labels = sends_by_participant.setdefault(participant_id, [])
        if label not in labels:
            labels.append(label)

    return RecordingMetadata(
        session_id,
        participants,
        stream_labels,
        sender_by_label,
        raw_xml,
        sends_by_participant=sends_by_participant,
    )


def participants_with_channels(
    metadata: RecordingMetadata, channel_of_label: dict[str, str]
) -> list[dict[str, str]]:
    """Each participant of the metadata with the channel of the stream it sends on ("" for
    one that sends on no recorded stream), as stored in recorder.calls and CallStarted."""
    out = []
    for p in metadata.participants:
        labels = metadata.sends_by_participant.get(p.participant_id, [])
        recorded = [channel_of_label[label] for label in labels if label in channel_of_label]
        channel = recorded[0] if recorded else ""
        out.append(
            {
                "participant_id": p.participant_id,
                "aor": p.aor or "",
                "name": p.name or "",
                "channel": channel,
            }
        )
    return out


def joined_participants(
    known: dict[str, dict[str, str]], metadata: RecordingMetadata, channel_of_label: dict[str, str]
) -> list[dict[str, str]]:
    """The participants of updated metadata (a re-INVITE or UPDATE: someone joined, a
    transfer) that were not in the session before, in document order."""
    return [
        p
        for p in participants_with_channels(metadata, channel_of_label)
        if p["participant_id"] not in known
    ]


# -- channels -----------------------------------------------------------------------------


def label_channels(offer: SiprecOffer, agent_aor_pattern: str) -> dict[int, str]:
    """Stream index -> "agent" | "customer", from who sends on each stream.

    The agent is any participant whose AOR matches agent_aor_pattern (re.search, case
    insensitive); a stream sent by anyone else is the customer's. Raises ChannelLabelError
    when the metadata cannot tell: never a silent guess. Streams we cannot record
    (codec None) are left out when they cannot be labelled.
    """
    metadata = offer.metadata
    if metadata is None:
        raise ChannelLabelError("no recording metadata: cannot tell agent from customer")
    try:
        pattern = re.compile(agent_aor_pattern, re.IGNORECASE)
    except re.error as exc:
        raise ChannelLabelError(f"invalid agent AOR pattern {agent_aor_pattern!r}: {exc}") from exc
    agents = {p.participant_id for p in metadata.participants if p.aor and pattern.search(p.aor)}
    if not agents:
        raise ChannelLabelError(f"no participant AOR matches {agent_aor_pattern!r}")
    labels: dict[int, str] = {}
    for stream in offer.streams:
        sender = metadata.sender_by_label.get(stream.label) if stream.label is not None else None
        if sender is None:
            if stream.codec is None:
                continue
            raise ChannelLabelError(
                f"no participant is said to send on stream {stream.index} (label {stream.label!r})"
            )
        labels[stream.index] = "agent" if sender in agents else "customer"
    return labels
