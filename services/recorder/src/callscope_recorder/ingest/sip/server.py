"""The SIPREC recording server (SRS) over UDP and TCP on the same port: dialog handling for
INVITE (re-INVITE included), UPDATE, ACK, BYE, CANCEL and OPTIONS. Parsing lives in
message.py/siprec.py; recording in calls.CallRecorder.

TCP connections are cut into messages by Content-Length (message.SipStreamFramer); a
response goes back on the connection its request came in on. A framing error closes that
connection only, after a 4xx when the request can still be read.

Bad input never crashes the server: a malformed request gets a 4xx with the reason when
enough of it can be read to answer, and a log line either way.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from opentelemetry import trace

from callscope_core import metrics

from ...calls import CallRecorder
from ...domain.call import CallSession
from ...settings import RecorderSettings
from .message import (
    KEEPALIVE_PING,
    KEEPALIVE_PONG,
    SipParseError,
    SipRequest,
    SipResponse,
    SipStreamFramer,
    build_response,
    parse_message,
)
from .siprec import (
    ChannelLabelError,
    SiprecOffer,
    build_sdp_answer,
    joined_participants,
    label_channels,
    parse_siprec_invite,
    participants_with_channels,
    sdp_session_id,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.recorder.sip")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"
SUPPORTED = {"siprec", "timer", "replaces", "100rel"}
# Methods counted by name; anything else (a scanner's junk included) is "other".
COUNTED_METHODS = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "PRACK"}


@dataclass(frozen=True, eq=False)
class TcpPeer:
    """The far end of one TCP connection: answers go back on it, whatever its address."""

    host: str
    port: int
    writer: asyncio.StreamWriter

    def __str__(self) -> str:
        return f"tcp:{self.host}:{self.port}"


# A UDP peer is its (host, port); a TCP one its connection.
Address = tuple[str, int] | TcpPeer

SIP_REQUESTS = metrics.counter(metrics.RECORDER_SIP_REQUESTS)


@dataclass
class Dialog:
    call_id: str  # our call id
    sip_call_id: str
    to_tag: str
    invite: SipRequest
    final_response: bytes | None = None
    confirmed: bool = False
    cancelled: bool = False
    setup: asyncio.Task[None] | None = None
    answer_sdp: str = ""
    channel_of_label: dict[str, str] = field(default_factory=dict)
    # In-dialog offers (re-INVITE/UPDATE): the answer's o= version, the RTP port of each
    # recorded m-line, the answers already sent by CSeq (a retransmission gets the same one),
    # and the participants known so far (a new one is a ParticipantJoined).
    sdp_version: int = 1
    port_of_stream: dict[int, int] = field(default_factory=dict)
    responses: dict[tuple[int, str], bytes] = field(default_factory=dict)
    participants: dict[str, dict[str, str]] = field(default_factory=dict)
    offer: SiprecOffer | None = None
    created: float = field(default_factory=lambda: asyncio.get_running_loop().time())


class SipUdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: SiprecServer) -> None:
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport does not subclass asyncio.DatagramTransport, so no isinstance.
        self._server.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._server.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.warning("SIP socket error: %s", exc)


_MINIMAL_HEADERS = re.compile(
    rb"^(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE
)


def minimal_error_response(data: bytes, status: int, reason: str) -> bytes | None:
    """Best effort for unparseable requests: echo the headers a response needs, if present."""
    first = data.split(b"\n", 1)[0]
    if first.startswith(b"SIP/"):
        return None  # never answer a response
    names = {b"v": b"Via", b"f": b"From", b"t": b"To", b"i": b"Call-ID"}
    lines: list[bytes] = []
    found = set()
    for match in _MINIMAL_HEADERS.finditer(data[:65536]):
        name = match.group(1).lower()
        canonical = names.get(name, match.group(1).title())
        if canonical.lower() == b"call-id":
            canonical = b"Call-ID"
        if canonical.lower() == b"cseq":
            canonical = b"CSeq"
        found.add(canonical.lower())
        lines.append(canonical + b": " + match.group(2).strip())
    if not {b"via", b"from", b"to", b"call-id", b"cseq"} <= found:
        return None
    safe_reason = re.sub(r"[^\x20-\x7e]", "?", reason)[:120]
    head = f"SIP/2.0 {status} {safe_reason}".encode()
    reply = b"\r\n".join([head, *lines, b"Content-Length: 0", b"", b""])
    # Echoed garbage makes a garbage response: send only what a SIP peer can parse.
    try:
        parse_message(reply)
    except SipParseError:
        return None
    return reply


# One read from a TCP connection; the framer bounds a message at MAX_MESSAGE_BYTES anyway.
MAX_TCP_READ = 64 * 1024


def _show(addr: Address) -> str:
    return str(addr) if isinstance(addr, TcpPeer) else f"{addr[0]}:{addr[1]}"


class SiprecServer:
    def __init__(self, settings: RecorderSettings, recorder: CallRecorder) -> None:
        self._settings = settings
        self._recorder = recorder
        self.transport: asyncio.DatagramTransport | None = None
        self.tcp_server: asyncio.Server | None = None
        self.dialogs: dict[str, Dialog] = {}
        self.accepting = True
        self.counters: dict[str, int] = {"malformed": 0, "requests": 0}
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(
            lambda: SipUdpProtocol(self),
            local_addr=(self._settings.sip_host, self._settings.sip_port),
        )
        self.tcp_server = await asyncio.start_server(
            self._serve_tcp,
            self._settings.sip_host,
            self._settings.sip_port,
            limit=MAX_TCP_READ,
        )
        log.info(
            "SIPREC listening on udp and tcp %s:%d",
            self._settings.sip_host,
            self._settings.sip_port,
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
        for writer in list(self._connections):
            writer.close()

    def _send(self, data: bytes, addr: Address) -> None:
        if isinstance(addr, TcpPeer):
            if not addr.writer.is_closing():
                addr.writer.write(data)
        elif self.transport is not None:
            self.transport.sendto(data, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One TCP connection: frames in, each handled like a datagram, answers on it."""
        host, port = writer.get_extra_info("peername")[:2]
        peer = TcpPeer(host, port, writer)
        framer = SipStreamFramer()
        self._connections.add(writer)
        try:
            while data := await reader.read(MAX_TCP_READ):
                try:
                    frames = framer.feed(data)
                except SipParseError as exc:
                    # The stream's framing is lost: answer what can be read, then hang up.
                    self.counters["malformed"] += 1
                    SIP_REQUESTS.add(1, {"method": "malformed"})
                    log.warning("closing SIP connection %s: %s", peer, exc.reason)
                    reply = minimal_error_response(bytes(framer.pending), exc.status, exc.reason)
                    if reply is not None:
                        writer.write(reply)
                    break
                for frame in frames:
                    if frame == KEEPALIVE_PING:
                        writer.write(KEEPALIVE_PONG)
                    else:
                        self.on_message(frame, peer)
                await writer.drain()  # a peer that does not read its answers is slowed down
        except (ConnectionError, OSError) as exc:
            log.info("SIP connection %s lost: %s", peer, exc)
        finally:
            self._connections.discard(writer)
            writer.close()

    def _spawn(self, coro) -> asyncio.Task[None]:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- dispatch -------------------------------------------------------------------------
    def on_datagram(self, data: bytes, addr: Address) -> None:
        if not data.strip():
            return  # CRLF keep-alive (RFC 5626)
        self.on_message(data, addr)

    def on_message(self, data: bytes, addr: Address) -> None:
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.counters["malformed"] += 1
            SIP_REQUESTS.add(1, {"method": "malformed"})
            log.warning("malformed SIP from %s: %s", _show(addr), exc.reason)
            reply = minimal_error_response(data, exc.status, exc.reason)
            if reply is not None:
                self._send(reply, addr)
            return
        if isinstance(message, SipResponse):
            return  # we send no requests that expect answers we act on
        self.counters["requests"] += 1
        SIP_REQUESTS.add(
            1, {"method": message.method if message.method in COUNTED_METHODS else "other"}
        )
        try:
            self._on_request(message, addr)
        except SipParseError as exc:
            self.counters["malformed"] += 1
            log.warning("bad %s from %s: %s", message.method, _show(addr), exc.reason)
            self._send(build_response(message, exc.status, exc.reason), addr)

    def _on_request(self, request: SipRequest, addr: Address) -> None:
        method = request.method
        if method == "INVITE":
            self._on_invite(request, addr)
        elif method == "ACK":
            dialog = self.dialogs.get(request.call_id)
            if dialog is not None:
                dialog.confirmed = True
        elif method == "BYE":
            self._on_bye(request, addr)
        elif method == "CANCEL":
            self._on_cancel(request, addr)
        elif method == "UPDATE":
            dialog = self.dialogs.get(request.call_id)
            if dialog is None or dialog.final_response is None:
                self._send(build_response(request, 481, "Call/Transaction Does Not Exist"), addr)
            else:
                self._on_in_dialog_offer(dialog, request, addr)
        elif method == "OPTIONS":
            if not self.accepting:
                self._send(
                    build_response(
                        request, 503, "Service Unavailable", extra_headers=[("Retry-After", "5")]
                    ),
                    addr,
                )
                return
            self._send(
                build_response(
                    request,
                    200,
                    "OK",
                    extra_headers=[
                        ("Allow", ALLOW),
                        ("Accept", "application/sdp, multipart/mixed"),
                        ("Supported", "siprec"),
                    ],
                ),
                addr,
            )
        else:
            self._send(
                build_response(
                    request, 405, "Method Not Allowed", extra_headers=[("Allow", ALLOW)]
                ),
                addr,
            )

    # -- INVITE ---------------------------------------------------------------------------
    def _on_invite(self, request: SipRequest, addr: Address) -> None:
        existing = self.dialogs.get(request.call_id)
        if existing is not None:
            if existing.final_response is not None:
                if existing.invite.cseq == request.cseq:
                    self._send(existing.final_response, addr)  # a retransmission
                elif existing.cancelled:
                    self._send(
                        build_response(request, 481, "Call/Transaction Does Not Exist"), addr
                    )
                else:
                    self._on_in_dialog_offer(existing, request, addr)  # a re-INVITE
            return  # still being set up: the 100 Trying already went out
        if not self.accepting:
            self._send(
                build_response(
                    request, 503, "Service Unavailable", extra_headers=[("Retry-After", "5")]
                ),
                addr,
            )
            return
        unsupported = self._unsupported(request)
        if unsupported:
            self._send(
                build_response(
                    request, 420, "Bad Extension", extra_headers=[("Unsupported", unsupported)]
                ),
                addr,
            )
            return
        to_tag = secrets.token_hex(6)
        self._send(build_response(request, 100, "Trying"), addr)
        try:
            offer = parse_siprec_invite(request)
        except SipParseError as exc:
            log.warning("rejecting INVITE %s: %s", request.call_id, exc.reason)
            self._send(build_response(request, exc.status, exc.reason, to_tag=to_tag), addr)
            return
        dialog = Dialog(self._recorder.new_call_id(), request.call_id, to_tag, request)
        self.dialogs[request.call_id] = dialog
        dialog.setup = self._spawn(self._answer(dialog, offer, addr))

    def _unsupported(self, request: SipRequest) -> str:
        required = []
        for value in request.headers.get_all("Require"):
            required += [v.strip().lower() for v in value.split(",") if v.strip()]
        return ", ".join(r for r in required if r not in SUPPORTED)

    def _contact(self, addr: Address | None = None) -> list[tuple[str, str]]:
        transport = ";transport=tcp" if isinstance(addr, TcpPeer) else ""
        uri = f"sip:srs@{self._settings.sdp_ip}:{self._settings.sip_port}{transport}"
        contact = f"<{uri}>;+sip.src"
        return [("Contact", contact), ("Server", self._settings.user_agent), ("Allow", ALLOW)]

    # -- re-INVITE / UPDATE ---------------------------------------------------------------
    def _on_in_dialog_offer(self, dialog: Dialog, request: SipRequest, addr: Address) -> None:
        """A re-INVITE or UPDATE in an answered session: new SDP and/or new rs-metadata (a
        participant joined, a transfer). Recorded streams keep their ports and channels;
        new m-lines are declined. A refused offer leaves the session as it was (RFC 3261
        14.2), and a retransmission gets the answer already sent."""
        cached = dialog.responses.get(request.cseq)
        if cached is not None:
            self._send(cached, addr)
            return
        headers = [*self._contact(addr), ("Require", "siprec")]
        if not request.body.strip():
            # No offer: a re-INVITE gets ours in the 200 (RFC 3261 14.2); an UPDATE is a
            # refresh and gets no body.
            body = dialog.answer_sdp.encode() if request.method == "INVITE" else b""
            response = build_response(
                request,
                200,
                "OK",
                to_tag=dialog.to_tag,
                body=body,
                content_type="application/sdp" if body else None,
                extra_headers=headers,
            )
        else:
            try:
                offer = parse_siprec_invite(request)
            except SipParseError as exc:
                log.warning("call %s: refusing %s: %s", dialog.call_id, request.method, exc.reason)
                response = build_response(request, exc.status, exc.reason, to_tag=dialog.to_tag)
                dialog.responses[request.cseq] = response
                self._send(response, addr)
                return
            if offer.metadata is not None:
                self._update_participants(dialog, offer)
            ports = [dialog.port_of_stream.get(s.index, 0) for s in offer.streams]
            session_id = sdp_session_id(dialog.offer) if dialog.offer else None
            answer = build_sdp_answer(
                offer, self._settings.sdp_ip, ports, dialog.sdp_version, session_id
            )
            if answer != dialog.answer_sdp:
                # A changed answer carries the next o= version (RFC 3264 8).
                dialog.sdp_version += 1
                answer = build_sdp_answer(
                    offer, self._settings.sdp_ip, ports, dialog.sdp_version, session_id
                )
                dialog.answer_sdp = answer
            response = build_response(
                request,
                200,
                "OK",
                to_tag=dialog.to_tag,
                body=answer.encode(),
                content_type="application/sdp",
                extra_headers=headers,
            )
        dialog.responses[request.cseq] = response
        self._send(response, addr)

    def _update_participants(self, dialog: Dialog, offer: SiprecOffer) -> None:
        """Who joined according to the new metadata: each one is a ParticipantJoined, on the
        channel of the stream it sends on (streams keep their channel: a transferred-to
        agent speaks on the agent's channel)."""
        assert offer.metadata is not None
        joined = joined_participants(dialog.participants, offer.metadata, dialog.channel_of_label)
        for participant in joined:
            dialog.participants[participant["participant_id"]] = participant
            log.info(
                "call %s: participant %s (%s) joined on channel %s",
                dialog.call_id,
                participant["participant_id"],
                participant["aor"],
                participant["channel"] or "-",
            )
        if joined:
            self._spawn(
                self._recorder.participants_joined(dialog.call_id, joined, offer.metadata.raw_xml)
            )

    async def _answer(self, dialog: Dialog, offer: SiprecOffer, addr: Address) -> None:
        request = dialog.invite
        # The call's trace starts here: its root span lives until the recording is stored.
        call_span = self._recorder.open_call_span(dialog.call_id, "siprec", request.call_id)
        with (
            trace.use_span(call_span, end_on_exit=False),
            tracer.start_as_current_span(
                "SIP INVITE",
                attributes={
                    "sip.method": "INVITE",
                    "sip.call_id": request.call_id,
                    "callscope.streams": len(offer.streams),
                },
            ) as invite_span,
        ):
            try:
                recording = await self._answer_invite(dialog, offer, addr, call_span)
            except BaseException as exc:
                call_span.record_exception(exc)
                call_span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                call_span.end()
                raise
            if not recording:  # refused with 503: the call's trace ends here
                invite_span.set_status(trace.Status(trace.StatusCode.ERROR, "no RTP ports"))
                call_span.set_status(trace.Status(trace.StatusCode.ERROR, "no RTP ports"))
                call_span.end()

    async def _answer_invite(
        self, dialog: Dialog, offer: SiprecOffer, addr: Address, call_span: trace.Span
    ) -> bool:
        """Start recording and answer 200 with our SDP (True), or 503 when we cannot (False)."""
        request = dialog.invite
        try:
            session, participants = self._new_session(dialog, offer)
            streams = [s.index for s in offer.streams if s.index in session.channel_of_stream]
            ports = await self._recorder.start_call(
                session,
                stream_indexes=streams,
                participants=participants,
                rs_metadata=offer.metadata.raw_xml if offer.metadata else None,
                span=call_span,
            )
        except OSError as exc:
            log.error("cannot record call %s: %s", request.call_id, exc)
            if dialog.cancelled:  # the 487 already answered the INVITE
                return False
            dialog.final_response = build_response(
                request, 503, "Service Unavailable", to_tag=dialog.to_tag
            )
            self._send(dialog.final_response, addr)
            self.dialogs.pop(request.call_id, None)
            return False
        if dialog.cancelled:
            log.info("call %s cancelled while being set up", dialog.call_id)
            return True
        dialog.port_of_stream = dict(zip(streams, ports, strict=True))
        dialog.offer = offer
        dialog.participants = {p["participant_id"]: p for p in participants}
        dialog.channel_of_label = {
            s.label: session.channel_of_stream[s.index]
            for s in offer.streams
            if s.label is not None and s.index in session.channel_of_stream
        }
        answer_ports = [dialog.port_of_stream.get(s.index, 0) for s in offer.streams]
        dialog.answer_sdp = build_sdp_answer(
            offer, self._settings.sdp_ip, answer_ports, session_version=dialog.sdp_version
        )
        dialog.final_response = build_response(
            request,
            200,
            "OK",
            to_tag=dialog.to_tag,
            body=dialog.answer_sdp.encode(),
            content_type="application/sdp",
            extra_headers=[*self._contact(addr), ("Require", "siprec")],
        )
        self._send(dialog.final_response, addr)
        log.info(
            "recording call %s (SIP Call-ID %s) on RTP ports %s",
            dialog.call_id,
            request.call_id,
            answer_ports,
        )
        return True

    def _new_session(
        self, dialog: Dialog, offer: SiprecOffer
    ) -> tuple[CallSession, list[dict[str, str]]]:
        request = dialog.invite
        audio = [s for s in offer.streams if s.codec is not None]
        try:
            labels = label_channels(offer, self._settings.agent_aor_pattern)
            labels_source = "metadata"
        except ChannelLabelError as exc:
            # Keep the recording (losing it is worse) but say plainly that roles were assumed.
            log.warning("call %s: %s; assuming first stream = customer", request.call_id, exc)
            labels = {s.index: ("customer" if i == 0 else "agent") for i, s in enumerate(audio)}
            labels_source = "stream-order"
        channel_of_stream: dict[int, str] = {}
        for stream in audio:
            channel = labels.get(stream.index)
            # One stream per channel; extra streams (e.g. a second agent leg) are declined.
            if channel and channel not in channel_of_stream.values():
                channel_of_stream[stream.index] = channel
        participants: list[dict[str, str]] = []
        if offer.metadata is not None:
            channel_of_label = {
                s.label: channel_of_stream[s.index]
                for s in offer.streams
                if s.label is not None and s.index in channel_of_stream
            }
            participants = participants_with_channels(offer.metadata, channel_of_label)
        session = CallSession(
            call_id=dialog.call_id,
            external_call_id=request.call_id,
            source="siprec",
            queue=request.headers.get("X-Callscope-Queue") or self._settings.default_queue,
            language=request.headers.get("X-Callscope-Language") or "",
            started_at=datetime.now(UTC),
            channel_of_stream=channel_of_stream,
            codec_of_stream={s.index: s.codec for s in audio if s.codec},
            labels_source=labels_source,
        )
        event_pts = {s.telephone_event_pt for s in audio if s.telephone_event_pt is not None}
        if len(event_pts) == 1:
            session.telephone_event_pt = event_pts.pop()  # as negotiated, not the default 101
        return session, participants

    # -- BYE / CANCEL ---------------------------------------------------------------------
    def _on_bye(self, request: SipRequest, addr: Address) -> None:
        dialog = self.dialogs.get(request.call_id)
        if dialog is None:
            self._send(build_response(request, 481, "Call/Transaction Does Not Exist"), addr)
            return
        self._send(build_response(request, 200, "OK"), addr)
        self._spawn(self._end(dialog, "bye"))

    def _on_cancel(self, request: SipRequest, addr: Address) -> None:
        dialog = self.dialogs.get(request.call_id)
        if dialog is None or dialog.final_response is not None:
            self._send(build_response(request, 481, "Call/Transaction Does Not Exist"), addr)
            return
        self._send(build_response(request, 200, "OK"), addr)
        # The INVITE's final answer is now 487 (retransmissions get it too); the recording
        # being set up is ended as soon as it is, and no 200 follows.
        dialog.cancelled = True
        dialog.final_response = build_response(
            dialog.invite, 487, "Request Terminated", to_tag=dialog.to_tag
        )
        self._send(dialog.final_response, addr)
        self._spawn(self._end(dialog, "cancel"))

    async def _end(self, dialog: Dialog, reason: str) -> None:
        if dialog.setup is not None:
            await asyncio.gather(dialog.setup, return_exceptions=True)
        task = self._recorder.end_call(dialog.call_id, reason)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        # Keep the dialog briefly so retransmitted BYEs are still answered with 200.
        await asyncio.sleep(32)
        self.dialogs.pop(dialog.sip_call_id, None)
