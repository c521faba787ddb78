"""The SIPREC recording server (SRS) over UDP: dialog handling for INVITE, ACK, BYE, CANCEL
and OPTIONS. Parsing lives in message.py/siprec.py; recording in calls.CallRecorder.

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
from .message import SipParseError, SipRequest, SipResponse, build_response, parse_message
from .siprec import (
    ChannelLabelError,
    SiprecOffer,
    build_sdp_answer,
    label_channels,
    parse_siprec_invite,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.recorder.sip")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"
SUPPORTED = {"siprec", "timer", "replaces", "100rel"}
# Methods counted by name; anything else (a scanner's junk included) is "other".
COUNTED_METHODS = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "PRACK"}
Address = tuple[str, int]

SIP_REQUESTS = metrics.counter(metrics.RECORDER_SIP_REQUESTS)


@dataclass
class Dialog:
    call_id: str  # our call id
    sip_call_id: str
    to_tag: str
    invite: SipRequest
    final_response: bytes | None = None
    confirmed: bool = False
    setup: asyncio.Task[None] | None = None
    answer_sdp: str = ""
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
    return b"\r\n".join([head, *lines, b"Content-Length: 0", b"", b""])


class SiprecServer:
    def __init__(self, settings: RecorderSettings, recorder: CallRecorder) -> None:
        self._settings = settings
        self._recorder = recorder
        self.transport: asyncio.DatagramTransport | None = None
        self.dialogs: dict[str, Dialog] = {}
        self.accepting = True
        self.counters: dict[str, int] = {"malformed": 0, "requests": 0}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(
            lambda: SipUdpProtocol(self),
            local_addr=(self._settings.sip_host, self._settings.sip_port),
        )
        log.info("SIPREC listening on udp %s:%d", self._settings.sip_host, self._settings.sip_port)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _send(self, data: bytes, addr: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def _spawn(self, coro) -> asyncio.Task[None]:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- dispatch -------------------------------------------------------------------------
    def on_datagram(self, data: bytes, addr: Address) -> None:
        if not data.strip():
            return  # CRLF keep-alive (RFC 5626)
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.counters["malformed"] += 1
            SIP_REQUESTS.add(1, {"method": "malformed"})
            log.warning("malformed SIP from %s:%d: %s", addr[0], addr[1], exc.reason)
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
            log.warning("bad %s from %s:%d: %s", message.method, addr[0], addr[1], exc.reason)
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
                # A retransmission, or a re-INVITE in the dialog: answer with the same session.
                if existing.invite.cseq == request.cseq:
                    self._send(existing.final_response, addr)
                else:
                    self._send(
                        build_response(
                            request,
                            200,
                            "OK",
                            to_tag=existing.to_tag,
                            body=existing.answer_sdp.encode(),
                            content_type="application/sdp",
                            extra_headers=self._contact(),
                        ),
                        addr,
                    )
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

    def _contact(self) -> list[tuple[str, str]]:
        contact = f"<sip:srs@{self._settings.sdp_ip}:{self._settings.sip_port}>;+sip.src"
        return [("Contact", contact), ("Server", self._settings.user_agent), ("Allow", ALLOW)]

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
            dialog.final_response = build_response(
                request, 503, "Service Unavailable", to_tag=dialog.to_tag
            )
            self._send(dialog.final_response, addr)
            self.dialogs.pop(request.call_id, None)
            return False
        port_of_stream = dict(zip(streams, ports, strict=True))
        answer_ports = [port_of_stream.get(s.index, 0) for s in offer.streams]
        dialog.answer_sdp = build_sdp_answer(
            offer, self._settings.sdp_ip, answer_ports, session_version=1
        )
        dialog.final_response = build_response(
            request,
            200,
            "OK",
            to_tag=dialog.to_tag,
            body=dialog.answer_sdp.encode(),
            content_type="application/sdp",
            extra_headers=[*self._contact(), ("Require", "siprec")],
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
        participants = []
        if offer.metadata is not None:
            for p in offer.metadata.participants:
                sent = [
                    label
                    for label, pid in offer.metadata.sender_by_label.items()
                    if pid == p.participant_id
                ]
                channel = next(
                    (
                        channel_of_stream[s.index]
                        for s in offer.streams
                        if s.label in sent and s.index in channel_of_stream
                    ),
                    "",
                )
                participants.append(
                    {
                        "participant_id": p.participant_id,
                        "aor": p.aor or "",
                        "name": p.name or "",
                        "channel": channel,
                    }
                )
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
        self._send(
            build_response(dialog.invite, 487, "Request Terminated", to_tag=dialog.to_tag), addr
        )
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
