"""Twilio Media Streams over WebSocket: the thin adapter between a connection, the protocol
(protocol.py) and the recorder's call API. One connection is one call.

Twilio signs the WebSocket upgrade request (X-Twilio-Signature: base64 HMAC-SHA1 of the URL
with the account's auth token). With an auth token configured, a request without a valid
signature is refused with HTTP 403 before the WebSocket opens (websocket_server.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ...calls import CallHandle, CallInfo, CallRecorder
from .protocol import (
    DtmfReceived,
    MediaChunk,
    StreamStarted,
    StreamStopped,
    TwilioMediaStream,
    TwilioProtocolError,
)

log = logging.getLogger(__name__)

SOURCE = "twilio"


def twilio_signature(auth_token: str, url: str) -> str:
    """X-Twilio-Signature of a request without form parameters (a WebSocket upgrade)."""
    digest = hmac.new(auth_token.encode(), url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(auth_token: str, url: str, signature: str | None) -> bool:
    return signature is not None and hmac.compare_digest(
        twilio_signature(auth_token, url), signature
    )


class TwilioCall:
    def __init__(
        self, connection: ServerConnection, recorder: CallRecorder, max_chunk_bytes: int
    ) -> None:
        self._connection = connection
        self._recorder = recorder
        self.protocol = TwilioMediaStream(max_chunk_bytes)
        self.handle: CallHandle | None = None

    async def run(self) -> None:
        reason = "disconnected"
        try:
            async for message in self._connection:
                if isinstance(message, bytes):
                    await self._refuse("binary frames are not part of Twilio Media Streams")
                    reason = "error"
                    return
                try:
                    for effect in self.protocol.on_text(message):
                        if isinstance(effect, StreamStopped):
                            reason = effect.reason
                            return
                        await self._apply(effect)
                except (TwilioProtocolError, ValueError) as exc:
                    await self._refuse(str(exc))
                    reason = "error"
                    return
        except ConnectionClosed:
            pass
        finally:
            if self.handle is not None and not self.handle.session.ended:
                result = await self.handle.end(reason)
                log.info(
                    "twilio stream %s (%s): call %s stored, %d ms, lost ms %s",
                    self.protocol.stream_sid,
                    reason,
                    result.call_id,
                    result.duration_ms,
                    self.protocol.lost_ms,
                )

    async def _refuse(self, reason: str) -> None:
        log.warning("twilio stream %s refused: %s", self.protocol.stream_sid, reason)
        with contextlib.suppress(ConnectionClosed):
            await self._connection.close(1008, reason[:120])

    async def _apply(self, effect: StreamStarted | MediaChunk | DtmfReceived) -> None:
        if isinstance(effect, StreamStarted):
            custom = effect.custom_parameters
            self.handle = await self._recorder.open_call(
                CallInfo(
                    source=SOURCE,
                    external_call_id=effect.call_sid,
                    queue=custom.get("queue", ""),
                    language=custom.get("language", ""),
                    agent_id=custom.get("agent_id", ""),
                )
            )
            log.info(
                "twilio stream %s of call %s: recording as %s (tracks %s)",
                effect.stream_sid,
                effect.call_sid,
                self.handle.call_id,
                ",".join(effect.tracks),
            )
        elif isinstance(effect, MediaChunk):
            assert self.handle is not None
            self.handle.feed(effect.channel, effect.pcm, codec="pcm_s16le")
        elif isinstance(effect, DtmfReceived):
            log.info("twilio stream %s: DTMF %s", self.protocol.stream_sid, effect.digit)


async def serve_twilio(
    connection: ServerConnection, recorder: CallRecorder, max_chunk_bytes: int
) -> None:
    await TwilioCall(connection, recorder, max_chunk_bytes).run()
