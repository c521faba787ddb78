"""Genesys AudioHook over WebSocket: the thin adapter between a connection, the protocol state
machine (protocol.py) and the recorder's call API.

Authentication: the client sends X-API-KEY on the upgrade request; a key that is not one of
the configured ones is refused with HTTP 401 before any WebSocket is opened (see
websocket_server.py). Each connection is one call; whatever goes wrong with it (a protocol
violation, a lost connection) ends that call only, and what was recorded is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ...calls import CallHandle, CallInfo, CallParticipant, CallRecorder
from .protocol import (
    MAX_FRAME_BYTES,
    SAMPLE_RATE,
    AudioDiscarded,
    AudioHookProtocolError,
    AudioHookSession,
    AudioReceived,
    CallOpened,
    ClientError,
    CloseRequested,
    Effect,
    LanguageChanged,
    StreamPaused,
    StreamResumed,
)

log = logging.getLogger(__name__)

SOURCE = "audiohook"


class AudioHookCall:
    """One AudioHook session feeding one recorded call."""

    def __init__(
        self, connection: ServerConnection, recorder: CallRecorder, max_frame_bytes: int
    ) -> None:
        self._connection = connection
        self._recorder = recorder
        headers = connection.request.headers if connection.request else {}
        self.protocol = AudioHookSession(
            headers.get("Audiohook-Session-Id"), max_frame_bytes=max_frame_bytes
        )
        # The organization the (possibly signed) upgrade request named: `open` must match it.
        self._organization_id = headers.get("Audiohook-Organization-Id") or ""
        self.handle: CallHandle | None = None
        # Where the next audio goes on the call's 8 kHz timeline: audio received plus the
        # gaps (pauses, discarded stretches) the client told us about.
        self.position = 0
        self._paused_at: float | None = None

    async def run(self) -> None:
        reason = "disconnected"
        try:
            async for message in self._connection:
                try:
                    if isinstance(message, bytes):
                        step = self.protocol.on_audio(message)
                    else:
                        step = self.protocol.on_text(message)
                    for effect in step.effects:
                        if isinstance(effect, CloseRequested):
                            await self._close(effect.reason)
                            return
                        await self._apply(effect)
                except AudioHookProtocolError as exc:
                    await self._refuse(exc.info)
                    reason = "error"
                    return
                except ValueError as exc:  # the call refused the audio (e.g. a bad channel)
                    await self._refuse(str(exc))
                    reason = "error"
                    return
                for reply in step.replies:
                    await self._send(reply)
        except ConnectionClosed:
            pass
        finally:
            # The client went away (or was refused) without close: keep what was recorded.
            if self.handle is not None and not self.handle.session.ended:
                log.warning(
                    "audiohook session %s ended without close (%s); storing what was recorded",
                    self.protocol.session_id,
                    reason,
                )
                await self.handle.end(reason)

    async def _send(self, message: dict[str, Any]) -> None:
        await self._connection.send(json.dumps(message))

    async def _refuse(self, info: str) -> None:
        log.warning("audiohook session %s refused: %s", self.protocol.session_id, info)
        with contextlib.suppress(ConnectionClosed):
            await self._send(self.protocol.disconnect_message(info))
            await self._connection.close(1008, info[:120])

    async def _close(self, reason: str) -> None:
        """close -> flush and store the call -> closed (the client waits for it)."""
        if self.handle is not None and not self.handle.session.ended:
            if self._paused_at is not None:
                self._end_pause()
            result = await self.handle.end(reason or "end")
            log.info(
                "audiohook session %s closed: call %s stored (%d ms)",
                self.protocol.session_id,
                result.call_id,
                result.duration_ms,
            )
        await self._send(self.protocol.closed_message())

    async def _apply(self, effect: Effect) -> None:
        if isinstance(effect, CallOpened):
            if self._organization_id and effect.organization_id != self._organization_id:
                raise AudioHookProtocolError(
                    "open: organizationId does not match the Audiohook-Organization-Id header"
                )
            self.handle = await self._recorder.open_call(self._call_info(effect))
            return
        handle = self.handle
        assert handle is not None  # the protocol allows nothing else before open
        if isinstance(effect, AudioReceived):
            position = self.position
            for channel, pcm in effect.pcm_by_channel.items():
                handle.feed(channel, pcm, codec="pcm_s16le", position=position)
            self.position += len(next(iter(effect.pcm_by_channel.values()))) // 2
        elif isinstance(effect, StreamPaused):
            self._paused_at = asyncio.get_running_loop().time()
            await handle.pause(
                by="audiohook-client", reason="paused", source=SOURCE, position=self.position
            )
        elif isinstance(effect, StreamResumed):
            self._end_pause()
            await handle.resume(
                by="audiohook-client", reason="resumed", source=SOURCE, position=self.position
            )
        elif isinstance(effect, AudioDiscarded):
            handle.mark_gap(None, effect.duration_ms, "discarded", position=self.position)
            self.position += effect.duration_ms * SAMPLE_RATE // 1000
        elif isinstance(effect, LanguageChanged):
            # Segments from now on carry the new language (the transcriber follows it).
            handle.session.language = effect.language
        elif isinstance(effect, ClientError):
            log.warning(
                "audiohook session %s: client error %s: %s",
                self.protocol.session_id,
                effect.code,
                effect.message,
            )

    def _end_pause(self) -> None:
        """The paused time is real time of the call: the timeline moves on by it."""
        if self._paused_at is None:
            return
        elapsed = asyncio.get_running_loop().time() - self._paused_at
        self.position += round(elapsed * SAMPLE_RATE)
        self._paused_at = None

    def _call_info(self, opened: CallOpened) -> CallInfo:
        participants = []
        if opened.customer_number:
            participants.append(
                CallParticipant("customer", f"tel:{opened.customer_number}", "", "customer")
            )
        return CallInfo(
            source=SOURCE,
            external_call_id=opened.conversation_id or opened.session_id,
            queue=opened.queue,
            language=opened.language,
            participants=participants,
        )


async def serve_audiohook(
    connection: ServerConnection, recorder: CallRecorder, max_frame_bytes: int
) -> None:
    # A real client sends ~0.1-0.2 s per frame; the protocol's bound is tighter than the
    # transport's (which also covers JSON messages).
    await AudioHookCall(connection, recorder, min(max_frame_bytes, MAX_FRAME_BYTES)).run()
