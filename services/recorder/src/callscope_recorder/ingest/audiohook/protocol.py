"""Genesys AudioHook protocol v2, server side, as a pure state machine.

The client (Genesys Cloud) opens a WebSocket and speaks JSON control messages; audio comes in
binary frames. This module turns each incoming message into replies and call effects and
checks the protocol on the way: the version, the session id, the client's `seq` (1, 2, 3 ...
without gaps), the `serverseq` it acknowledges (never one we did not send), which messages
are allowed in which state, and the size and shape of audio frames. A violation is an
AudioHookProtocolError; the adapter answers it with a `disconnect` (reason "error", the
violation as `info`) and closes the socket. Nothing here does I/O.

Media: we choose PCMU at 8 kHz with both channels when offered (frames interleave the
channels sample by sample, in the order of the chosen `channels` list), else one channel.
"external" is the customer, "internal" the agent.

Sequence of a session:
    open -> opened (chosen media) ; audio frames ; ping -> pong ;
    paused / resumed (the client paused the stream, e.g. secure pause: the time is a gap) ;
    discarded (the client dropped audio it could not send: a gap of that duration) ;
    update (new language) ; error (logged) ; close -> [flush the call] -> closed
"""

from __future__ import annotations

import audioop
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

VERSION = "2"
SAMPLE_RATE = 8000
CHANNEL_OF_AUDIOHOOK = {"external": "customer", "internal": "agent"}
# Genesys sends ~100-200 ms per frame (1.6-3.2 KB of stereo PCMU); a second of stereo audio
# is far beyond what a well-behaved client sends at once.
MAX_FRAME_BYTES = 2 * SAMPLE_RATE
MAX_MESSAGE_CHARS = 64 * 1024

_DURATION_RE = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


class AudioHookProtocolError(ValueError):
    """The client broke the protocol; `info` is what the disconnect message says."""

    def __init__(self, info: str) -> None:
        super().__init__(info)
        self.info = info


class State(Enum):
    CONNECTED = "connected"  # waiting for open
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"  # close received; only the closing handshake remains
    FAILED = "failed"


def parse_duration_ms(text: object) -> int:
    """An ISO-8601 duration as AudioHook writes positions ("PT12.34S") in milliseconds."""
    if not isinstance(text, str):
        raise AudioHookProtocolError(f"duration must be a string, not {type(text).__name__}")
    match = _DURATION_RE.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise AudioHookProtocolError(f"invalid ISO-8601 duration {text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    seconds = (
        parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )
    return round(seconds * 1000)


def format_duration(ms: int) -> str:
    return f"PT{ms / 1000:.3f}".rstrip("0").rstrip(".") + "S"


# -- effects for the adapter --------------------------------------------------------------


@dataclass(frozen=True)
class CallOpened:
    """Start recording: who, what, and which channels the frames carry."""

    session_id: str
    conversation_id: str
    organization_id: str
    language: str
    queue: str
    customer_number: str
    channels: tuple[str, ...]  # "customer"/"agent" in frame order
    custom_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioReceived:
    pcm_by_channel: dict[str, bytes]  # 16-bit little-endian PCM at 8 kHz, per channel


@dataclass(frozen=True)
class StreamPaused:
    position_ms: int


@dataclass(frozen=True)
class StreamResumed:
    position_ms: int


@dataclass(frozen=True)
class AudioDiscarded:
    start_ms: int
    duration_ms: int


@dataclass(frozen=True)
class LanguageChanged:
    language: str


@dataclass(frozen=True)
class ClientError:
    code: int | None
    message: str


@dataclass(frozen=True)
class CloseRequested:
    """Finish and store the call, then send `closed` (session.closed_message())."""

    reason: str


Effect = (
    CallOpened
    | AudioReceived
    | StreamPaused
    | StreamResumed
    | AudioDiscarded
    | LanguageChanged
    | ClientError
    | CloseRequested
)


@dataclass
class Step:
    """What one incoming message leads to: messages to send now, and effects to apply."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


class AudioHookSession:
    def __init__(self, session_id: str | None = None, max_frame_bytes: int = MAX_FRAME_BYTES):
        # The Audiohook-Session-Id header, when the adapter has it; else the open's id.
        self.session_id = session_id
        self.state = State.CONNECTED
        self.client_seq = 0  # last seq received from the client
        self.server_seq = 0  # last seq we sent
        self.channels: tuple[str, ...] = ()
        self.frames = 0
        self.samples = 0  # per channel, received so far
        self.dropped_while_paused = 0
        self._max_frame_bytes = max_frame_bytes

    # -- building messages ----------------------------------------------------------------
    def message(self, kind: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        self.server_seq += 1
        return {
            "version": VERSION,
            "type": kind,
            "seq": self.server_seq,
            "clientseq": self.client_seq,
            "id": self.session_id or "",
            "parameters": parameters or {},
        }

    def disconnect_message(self, info: str) -> dict[str, Any]:
        self.state = State.FAILED
        return self.message("disconnect", {"reason": "error", "info": info[:500]})

    def closed_message(self) -> dict[str, Any]:
        return self.message("closed")

    @property
    def position_ms(self) -> int:
        return self.samples * 1000 // SAMPLE_RATE

    # -- text -----------------------------------------------------------------------------
    def on_text(self, text: str) -> Step:
        if len(text) > MAX_MESSAGE_CHARS:
            raise AudioHookProtocolError(f"message of {len(text)} characters is too large")
        try:
            message = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise AudioHookProtocolError("message is not valid JSON") from None
        if not isinstance(message, dict):
            raise AudioHookProtocolError("message is not a JSON object")
        return self.on_message(message)

    def on_message(self, message: dict[str, Any]) -> Step:
        if self.state in (State.CLOSED, State.FAILED):
            raise AudioHookProtocolError(f"message after the session was {self.state.value}")
        kind = message.get("type")
        if not isinstance(kind, str) or not kind:
            raise AudioHookProtocolError("message without a type")
        if message.get("version") != VERSION:
            raise AudioHookProtocolError(f"unsupported version {message.get('version')!r}")
        self._check_session_id(message.get("id"))
        self._check_sequence(message)
        parameters = message.get("parameters", {})
        if not isinstance(parameters, dict):
            raise AudioHookProtocolError(f"{kind}: parameters must be an object")
        position = message.get("position")
        if self.state is State.CONNECTED and kind != "open":
            raise AudioHookProtocolError(f"{kind!r} before open")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return Step()  # a message type of a later protocol revision: ignored
        return handler(parameters, position)

    def _check_session_id(self, session_id: object) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise AudioHookProtocolError("message without a session id")
        if self.session_id is None:
            self.session_id = session_id
        elif session_id != self.session_id:
            raise AudioHookProtocolError(
                f"session id {session_id!r} does not match {self.session_id!r}"
            )

    def _check_sequence(self, message: dict[str, Any]) -> None:
        seq, serverseq = message.get("seq"), message.get("serverseq")
        if type(seq) is not int or type(serverseq) is not int:
            raise AudioHookProtocolError("seq and serverseq must be integers")
        if seq != self.client_seq + 1:
            raise AudioHookProtocolError(f"expected seq {self.client_seq + 1}, got {seq}")
        if not 0 <= serverseq <= self.server_seq:
            raise AudioHookProtocolError(
                f"serverseq {serverseq} acknowledges a message never sent (last {self.server_seq})"
            )
        self.client_seq = seq

    # -- handlers -------------------------------------------------------------------------
    def _on_open(self, parameters: dict[str, Any], position: object) -> Step:
        if self.state is not State.CONNECTED:
            raise AudioHookProtocolError("open in an open session")
        media = parameters.get("media")
        if not isinstance(media, list):
            raise AudioHookProtocolError("open: media must be a list")
        chosen = choose_media(media)
        if chosen is None:
            raise AudioHookProtocolError("open: no PCMU 8 kHz audio with external/internal")
        self.channels = tuple(CHANNEL_OF_AUDIOHOOK[c] for c in chosen["channels"])
        participant = parameters.get("participant") or {}
        custom = parameters.get("customConfig") or {}
        if not isinstance(participant, dict) or not isinstance(custom, dict):
            raise AudioHookProtocolError("open: participant and customConfig must be objects")
        self.state = State.OPEN
        opened = CallOpened(
            session_id=self.session_id or "",
            conversation_id=_text(parameters.get("conversationId")),
            organization_id=_text(parameters.get("organizationId")),
            language=_text(parameters.get("language")),
            queue=_text(custom.get("queue")),
            customer_number=_text(participant.get("ani")),
            channels=self.channels,
            custom_config=custom,
        )
        return Step(
            replies=[self.message("opened", {"startPaused": False, "media": [chosen]})],
            effects=[opened],
        )

    def _on_ping(self, parameters: dict[str, Any], position: object) -> Step:
        return Step(replies=[self.message("pong")])

    def _on_paused(self, parameters: dict[str, Any], position: object) -> Step:
        if self.state is State.PAUSED:
            return Step()  # a repeated "paused" (e.g. answering our resume): still paused
        self.state = State.PAUSED
        return Step(effects=[StreamPaused(self.position_ms)])

    def _on_resumed(self, parameters: dict[str, Any], position: object) -> Step:
        if self.state is not State.PAUSED:
            raise AudioHookProtocolError("resumed without paused")
        self.state = State.OPEN
        return Step(effects=[StreamResumed(self.position_ms)])

    def _on_discarded(self, parameters: dict[str, Any], position: object) -> Step:
        start = parse_duration_ms(parameters.get("start"))
        discarded = parse_duration_ms(parameters.get("discarded"))
        return Step(effects=[AudioDiscarded(start, discarded)])

    def _on_update(self, parameters: dict[str, Any], position: object) -> Step:
        language = parameters.get("language")
        if language is None:
            return Step()
        if not isinstance(language, str):
            raise AudioHookProtocolError("update: language must be a string")
        return Step(effects=[LanguageChanged(language)])

    def _on_error(self, parameters: dict[str, Any], position: object) -> Step:
        code = parameters.get("code")
        return Step(
            effects=[
                ClientError(code if type(code) is int else None, _text(parameters.get("message")))
            ]
        )

    def _on_close(self, parameters: dict[str, Any], position: object) -> Step:
        self.state = State.CLOSED
        return Step(effects=[CloseRequested(_text(parameters.get("reason")) or "end")])

    # -- binary ---------------------------------------------------------------------------
    def on_audio(self, frame: bytes) -> Step:
        if self.state in (State.CONNECTED, State.CLOSED, State.FAILED):
            raise AudioHookProtocolError(f"audio frame while the session is {self.state.value}")
        size = len(frame)
        if size > self._max_frame_bytes:
            raise AudioHookProtocolError(
                f"audio frame of {size} bytes exceeds {self._max_frame_bytes}"
            )
        width = len(self.channels)
        if size % width:
            raise AudioHookProtocolError(
                f"audio frame of {size} bytes is not whole samples of {width} channels"
            )
        if self.state is State.PAUSED:
            # Nothing said while paused may be kept, even if the client sends it anyway.
            self.dropped_while_paused += size // width
            return Step()
        self.frames += 1
        self.samples += size // width
        pcm = {
            channel: audioop.ulaw2lin(frame[i::width], 2) for i, channel in enumerate(self.channels)
        }
        return Step(effects=[AudioReceived(pcm)])


def choose_media(media: list[Any]) -> dict[str, Any] | None:
    """PCMU 8 kHz with both external and internal if offered, else with one of them."""
    best: dict[str, Any] | None = None
    for entry in media:
        if not isinstance(entry, dict):
            continue
        channels = entry.get("channels")
        if (
            entry.get("type") != "audio"
            or entry.get("format") != "PCMU"
            or entry.get("rate") != SAMPLE_RATE
            or not isinstance(channels, list)
            or not channels
            or len(set(channels)) != len(channels)
            or not all(c in CHANNEL_OF_AUDIOHOOK for c in channels)
        ):
            continue
        if len(channels) == 2:
            return {"type": "audio", "format": "PCMU", "channels": channels, "rate": SAMPLE_RATE}
        if best is None:
            best = {"type": "audio", "format": "PCMU", "channels": channels, "rate": SAMPLE_RATE}
    return best


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
