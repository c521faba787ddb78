"""SIPREC dialogs on a real UDP socket against a CallRecorder wired to PostgreSQL and Kafka:
re-INVITE and UPDATE in the dialog (a refused re-offer leaves the session as it was, a
retransmission gets the same answer, new rs-metadata is a ParticipantJoined), CANCEL after
the answer, UPDATE outside any dialog, BYE."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING

from callscope.v1 import events_pb2
from callscope_core.channels import channel_name
from callscope_recorder.ingest.sip.message import SipResponse, build_request, parse_message
from callscope_recorder.ingest.sip.server import SiprecServer

if TYPE_CHECKING:
    from conftest import RecorderHarness

BOUNDARY = "siprec-boundary"
AGENT1 = ("YWdlbnQx", "sip:agent-1@callcenter.example")
AGENT2 = ("YWdlbnQy", "sip:agent-2@callcenter.example")


def sdp(version: int) -> str:
    return (
        f"v=0\r\no=src 77 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 41000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=label:1\r\na=sendonly\r\n"
        "m=audio 41002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=label:2\r\na=sendonly\r\n"
    )


def metadata(*agents: tuple[str, str]) -> str:
    people = [("Y3VzdA==", "sip:+33600000000@pstn.example"), *agents]
    participants = "".join(
        f'<participant participant_id="{pid}"><nameID aor="{aor}"/></participant>'
        for pid, aor in people
    )
    sends = "".join(
        f'<participantstreamassoc participant_id="{pid}"><send>{"s1" if i == 0 else "s2"}'
        "</send></participantstreamassoc>"
        for i, (pid, _) in enumerate(people)
    )
    return (
        '<?xml version="1.0"?><recording xmlns="urn:ietf:params:xml:ns:recording:1">'
        f'{participants}<stream stream_id="s1"><label>1</label></stream>'
        f'<stream stream_id="s2"><label>2</label></stream>{sends}</recording>'
    )


def body(sdp_text: str, xml: str | None) -> bytes:
    parts = [f"--{BOUNDARY}\r\nContent-Type: application/sdp\r\n\r\n{sdp_text}"]
    if xml is not None:
        parts.append(
            f"--{BOUNDARY}\r\nContent-Type: application/rs-metadata+xml\r\n"
            f"Content-Disposition: recording-session\r\n\r\n{xml}\r\n"
        )
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


class Src:
    """A SIPREC client on a UDP socket: builds in-dialog requests and reads the answers."""

    def __init__(self, port: int, call_id: str) -> None:
        self.port = port
        self.call_id = call_id
        self.to_tag = ""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)

    def request(
        self, method: str, cseq: int, payload: bytes = b"", call_id: str | None = None
    ) -> bytes:
        headers = [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.sock.getsockname()[1]};branch=z9hG4bK{cseq}"),
            ("From", "<sip:src@127.0.0.1>;tag=src1"),
            ("To", "<sip:srs@127.0.0.1>" + (f";tag={self.to_tag}" if self.to_tag else "")),
            ("Call-ID", call_id or self.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
            ("Contact", f"<sip:src@127.0.0.1:{self.sock.getsockname()[1]}>"),
        ]
        if method == "INVITE" and cseq == 1:
            headers.append(("Require", "siprec"))
        if payload:
            headers.append(("Content-Type", f'multipart/mixed;boundary="{BOUNDARY}"'))
        return build_request(method, "sip:srs@127.0.0.1", headers, payload)

    async def send(self, data: bytes) -> None:
        await asyncio.to_thread(self.sock.sendto, data, ("127.0.0.1", self.port))

    async def response(self, skip_provisional: bool = True) -> tuple[SipResponse, bytes]:
        while True:
            data = await asyncio.to_thread(self.sock.recv, 65536)
            message = parse_message(data)
            assert isinstance(message, SipResponse)
            if not (skip_provisional and message.status < 200):
                return message, data


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def origin(answer: bytes) -> list[str]:
    [line] = [x for x in answer.decode().split("\r\n") if x.startswith("o=")]
    return line.split()


def media_ports(answer: bytes) -> list[int]:
    return [int(x.split()[1]) for x in answer.decode().split("\r\n") if x.startswith("m=audio")]


async def test_re_invite_update_cancel_and_bye_in_a_recording_session(
    harness: RecorderHarness,
) -> None:
    port = free_udp_port()
    settings = harness.settings.model_copy(update={"sip_host": "127.0.0.1", "sip_port": port})
    server = SiprecServer(settings, harness.recorder)
    await server.start()
    src = Src(port, f"dialog-{port}@test")
    try:
        await src.send(src.request("INVITE", 1, body(sdp(1), metadata(AGENT1))))
        ok, _ = await src.response()
        assert ok.status == 200
        src.to_tag = ok.headers.get("To").split("tag=")[1]  # type: ignore[union-attr]
        ports = media_ports(ok.body)
        assert len(ports) == 2 and all(ports) and origin(ok.body)[2] == "1"
        await src.send(src.request("ACK", 1))

        # A re-offer the recorder cannot read is refused; the session goes on unchanged.
        await src.send(src.request("INVITE", 2, b"--" + BOUNDARY.encode() + b"--\r\n"))
        refused, _ = await src.response()
        assert refused.status in (400, 488), refused
        # A transfer: agent 2 now sends on the agent's stream.
        transfer = src.request("INVITE", 3, body(sdp(2), metadata(AGENT1, AGENT2)))
        await src.send(transfer)
        answer, first_bytes = await src.response()
        assert answer.status == 200 and media_ports(answer.body) == ports
        assert origin(answer.body)[1] == origin(ok.body)[1]  # the same SDP session
        await src.send(transfer)  # a retransmission gets the very same answer
        _, again = await src.response()
        assert again == first_bytes
        await src.send(src.request("ACK", 3))
        # UPDATE without an offer: a refresh, 200 without a body.
        await src.send(src.request("UPDATE", 4))
        refresh, _ = await src.response()
        assert refresh.status == 200 and refresh.body == b""
        # CANCEL after the answer, and UPDATE outside any dialog: 481.
        await src.send(src.request("CANCEL", 1))
        assert (await src.response())[0].status == 481
        await src.send(src.request("UPDATE", 1, call_id="no-such-dialog@test"))
        assert (await src.response())[0].status == 481

        await src.send(src.request("BYE", 5))
        assert (await src.response())[0].status == 200
        call_id = server.dialogs[src.call_id].call_id
        events = await harness.events_after_end(call_id)
    finally:
        src.sock.close()
        server.close()
    [started] = [m for m in events if isinstance(m, events_pb2.CallStarted)]
    assert {p.aor for p in started.participants} == {
        "sip:+33600000000@pstn.example",
        AGENT1[1],
    }
    [ended] = [m for m in events if isinstance(m, events_pb2.CallEnded)]
    assert ended.reason == "bye"
    [joined] = [m for m in events if isinstance(m, events_pb2.ParticipantJoined)]
    assert joined.participant.aor == AGENT2[1]
    assert channel_name(joined.participant.channel) == "agent"
    row = await harness.call_row(call_id)
    assert row is not None and AGENT2[1] in {p["aor"] for p in row["participants"]}
    assert AGENT2[0] in row["rs_metadata"]  # the new metadata replaced the stored one


async def test_cancel_before_the_answer_gets_487_and_never_a_200(
    harness: RecorderHarness,
) -> None:
    port = free_udp_port()
    settings = harness.settings.model_copy(update={"sip_host": "127.0.0.1", "sip_port": port})
    server = SiprecServer(settings, harness.recorder)
    await server.start()
    src = Src(port, f"cancel-{port}@test")
    try:
        invite = src.request("INVITE", 1, body(sdp(1), metadata(AGENT1)))
        # Back to back: the CANCEL arrives while the recording is still being set up
        # (RTP ports, policy lookup in PostgreSQL).
        await asyncio.to_thread(src.sock.sendto, invite, ("127.0.0.1", port))
        await src.send(src.request("CANCEL", 1))
        answers: list[SipResponse] = []

        def answered(method: str) -> bool:
            return any(a.cseq[1] == method for a in answers)

        async with asyncio.timeout(30):  # a loaded machine can be slow to answer
            while not (answered("INVITE") and answered("CANCEL")):
                answers.append((await src.response())[0])
        # Anything else the server would send for this INVITE comes now: a late 200.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                while True:
                    answers.append((await src.response())[0])
    finally:
        src.sock.close()
        server.close()
    by_method = {(a.cseq[1], a.status) for a in answers}
    if ("CANCEL", 481) in by_method:  # the 200 won the race: a CANCEL after it is 481
        assert ("INVITE", 200) in by_method and ("INVITE", 487) not in by_method
    else:
        assert ("CANCEL", 200) in by_method and ("INVITE", 487) in by_method, by_method
        assert ("INVITE", 200) not in by_method, by_method  # never both answers
