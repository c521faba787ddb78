"""The recorder's WebSocket listener for media streams: Genesys AudioHook on /audiohook and
Twilio Media Streams on /twilio, one port.

The upgrade request is checked before any WebSocket exists: an unknown path is a 404, a bad
AudioHook API key or, for a key with a client secret, a missing or bad request signature
(audiohook/signature.py) a 401, a bad Twilio signature a 403. Messages larger than max_message_bytes
close the connection with 1009 (websockets enforces it); each connection is one call and
runs on its own, so one misbehaving client never affects another.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Sequence
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ..calls import CallRecorder
from .audiohook.server import serve_audiohook
from .audiohook.signature import AudioHookSignatures, SignatureRefused, UpgradeRequest
from .twilio.server import serve_twilio, signature_valid

log = logging.getLogger(__name__)

AUDIOHOOK_PATH = "/audiohook"
TWILIO_PATH = "/twilio"


def _route(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/") or "/"


class MediaStreamServer:
    def __init__(
        self,
        recorder: CallRecorder,
        *,
        host: str,
        port: int,
        audiohook_api_keys: Sequence[str],
        audiohook_signatures: AudioHookSignatures | None = None,
        twilio_auth_token: str = "",
        public_url: str = "",
        max_message_bytes: int = 64 * 1024,
    ) -> None:
        self._recorder = recorder
        self._host = host
        self._port = port
        self._api_keys = [k for k in audiohook_api_keys if k]
        self._signatures = audiohook_signatures or AudioHookSignatures({})
        self._twilio_token = twilio_auth_token
        # The URL Twilio was told to connect to (signatures cover it), e.g. wss://rec.example.
        self._public_url = public_url.rstrip("/")
        self._max_message_bytes = max_message_bytes
        self.server: Server | None = None
        self.refused: dict[int, int] = {}

    @property
    def port(self) -> int:
        if self.server is None:
            return self._port
        return int(next(iter(self.server.sockets)).getsockname()[1])

    async def start(self) -> None:
        self.server = await serve(
            self._handle,
            self._host,
            self._port,
            process_request=self._check_request,
            max_size=self._max_message_bytes,
            # Genesys pings with AudioHook messages; keep the transport-level ping too.
            ping_interval=20,
            ping_timeout=20,
        )
        log.info(
            "media streams listening on ws://%s:%d (%s, %s)",
            self._host,
            self.port,
            AUDIOHOOK_PATH,
            TWILIO_PATH,
        )

    def stop_accepting(self) -> None:
        """Draining: no new connections; the calls in progress go on until they end."""
        if self.server is not None:
            self.server.close(close_connections=False)

    async def close(self) -> None:
        """Close the listener and whatever connections are left (going away, 1001)."""
        if self.server is None:
            return
        self.server.close(close_connections=False)
        await asyncio.gather(
            *(c.close(1001, "recorder shutting down") for c in list(self.server.connections)),
            return_exceptions=True,
        )
        await self.server.wait_closed()

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, reason: str) -> Response:
        self.refused[status.value] = self.refused.get(status.value, 0) + 1
        log.warning("media stream upgrade refused (%d): %s", status.value, reason)
        return connection.respond(status, reason + "\n")

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        route = _route(request.path)
        if route == AUDIOHOOK_PATH:
            key = request.headers.get("X-API-KEY", "")
            if not any(hmac.compare_digest(key, allowed) for allowed in self._api_keys):
                return self._refuse(connection, HTTPStatus.UNAUTHORIZED, "invalid X-API-KEY")
            if self._signatures.required_for(key):
                fields = request.headers
                headers = {name: ", ".join(fields.get_all(name)) for name in fields}
                try:
                    self._signatures.verify(UpgradeRequest.received(request.path, headers), key)
                except SignatureRefused as exc:
                    return self._refuse(connection, HTTPStatus.UNAUTHORIZED, str(exc))
            return None
        if route == TWILIO_PATH:
            if self._twilio_token:
                url = self._public_url + request.path
                if not signature_valid(
                    self._twilio_token, url, request.headers.get("X-Twilio-Signature")
                ):
                    return self._refuse(
                        connection, HTTPStatus.FORBIDDEN, "invalid X-Twilio-Signature"
                    )
            return None
        return self._refuse(connection, HTTPStatus.NOT_FOUND, f"no media stream at {route}")

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        route = _route(connection.request.path)
        try:
            if route == AUDIOHOOK_PATH:
                await serve_audiohook(connection, self._recorder, self._max_message_bytes)
            else:
                await serve_twilio(connection, self._recorder, self._max_message_bytes)
        except Exception:
            # One call's failure is logged and closes that connection only.
            log.exception("media stream on %s failed", route)
            await connection.close(1011, "internal error")
