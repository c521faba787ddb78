"""gRPC `callscope.v1.Recorder`: GetRecording (short-lived signed URL, only for a purpose that
retention still allows; every request, granted or refused, lands in retention's audit log).

StreamCall and SetRecording come with the recorder's ingest issue and answer UNIMPLEMENTED.
"""

from __future__ import annotations

import time
from datetime import timedelta

import grpc
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import recorder_pb2, recorder_pb2_grpc
from callscope_core.access import AccessGate, AccessRequest
from callscope_core.storage import ObjectStore

DEFAULT_URL_TTL_S = 300
MAX_URL_TTL_S = 3600


class RecorderService(recorder_pb2_grpc.RecorderServicer):
    def __init__(
        self, pool: AsyncConnectionPool, objects: ObjectStore, retention_target: str
    ) -> None:
        self._pool = pool
        self._objects = objects
        self._access = AccessGate(retention_target)

    async def GetRecording(
        self, request: recorder_pb2.GetRecordingRequest, context: grpc.aio.ServicerContext
    ) -> recorder_pb2.GetRecordingResponse:
        missing = [
            name for name in ("call_id", "requested_by", "purpose") if not getattr(request, name)
        ]
        if missing:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"required: {', '.join(missing)}")
        ttl = request.ttl_seconds or DEFAULT_URL_TTL_S
        if not 0 < ttl <= MAX_URL_TTL_S:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"ttl_seconds must be 1..{MAX_URL_TTL_S}"
            )
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT object_key FROM recorder.calls WHERE call_id = %s AND state = 'stored'",
                (request.call_id,),
            )
            row = await cur.fetchone()
        if row is None or not row["object_key"]:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"no stored recording for call {request.call_id!r}"
            )
        # Fail closed: without retention's answer (and its audit entry) nothing is served.
        await self._access.abort_unless_allowed(
            context,
            AccessRequest(
                call_id=request.call_id,
                purpose=request.purpose,
                actor=request.requested_by,
                resource="recording",
                action="download",
            ),
        )
        url = await self._objects.signed_url(row["object_key"], timedelta(seconds=ttl))
        return recorder_pb2.GetRecordingResponse(url=url, expires_at_unix=int(time.time()) + ttl)
