"""Use limitation shared by every API that serves call content (recordings, transcripts,
analysis): ask retention's `CheckAccess` first. Retention decides from the data's purposes and
writes the decision, allowed or refused, to its hash-chained audit log.

Fail closed: when retention cannot answer, nothing is served.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from callscope.v1 import retention_pb2, retention_pb2_grpc


class AccessDenied(Exception):
    """Retention refused: the purpose is unknown, expired, or not one of the data's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccessUnavailable(Exception):
    """Retention could not be asked, so access cannot be confirmed (and is refused)."""


@dataclass(frozen=True)
class AccessRequest:
    call_id: str
    purpose: str
    actor: str
    resource: str  # recording | transcript | analysis
    action: str  # listen | download | view


class AccessGate:
    """A client of `Retention.CheckAccess` with one long-lived channel."""

    def __init__(self, retention_target: str, timeout_s: float = 5.0) -> None:
        self._target = retention_target
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> retention_pb2_grpc.RetentionStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._target)
        return retention_pb2_grpc.RetentionStub(self._channel)

    async def check(self, request: AccessRequest) -> retention_pb2.AccessDecision:
        """Return the decision when allowed; raise AccessDenied or AccessUnavailable."""
        if not request.actor:
            raise AccessDenied("requested_by is required: every access is audited by name")
        if not request.purpose:
            raise AccessDenied("purpose is required (e.g. quality, analytics, live-assist)")
        try:
            decision = await self._stub().CheckAccess(
                retention_pb2.CheckAccessRequest(
                    call_id=request.call_id,
                    purpose=request.purpose,
                    actor=request.actor,
                    resource=request.resource,
                    action=request.action,
                ),
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            raise AccessUnavailable(f"retention cannot confirm access: {exc.details()}") from exc
        if not decision.allowed:
            raise AccessDenied(decision.reason)
        return decision

    async def abort_unless_allowed(
        self, context: grpc.aio.ServicerContext, request: AccessRequest
    ) -> retention_pb2.AccessDecision:
        """For gRPC servicers: PERMISSION_DENIED or UNAVAILABLE instead of the content."""
        try:
            return await self.check(request)
        except AccessDenied as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, exc.reason)
        except AccessUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        raise AssertionError("context.abort raises")  # pragma: no cover

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
