"""gRPC `callscope.v1.Recorder`: GetRecording (short-lived signed URL, only for a purpose that
retention still allows; every request, granted or refused, lands in retention's audit log),
SetRecording (start/pause/resume/stop a live call, for the agent desktop), and the recording
policies (Get/Set/ListRecordingPolicies).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import recorder_pb2, recorder_pb2_grpc
from callscope_core.access import AccessGate, AccessRequest
from callscope_core.storage import ObjectStore

from .domain.call import RecordingStateError
from .domain.policy import MODES, PolicyError, RecordingPolicy
from .ingest.grpc_stream import MAX_FRAME_BYTES, StreamCallIngest

if TYPE_CHECKING:
    from .calls import CallRecorder
    from .policy_store import PolicyStore

DEFAULT_URL_TTL_S = 300
MAX_URL_TTL_S = 3600

_ACTIONS = {
    recorder_pb2.SetRecordingRequest.ACTION_START: "start",
    recorder_pb2.SetRecordingRequest.ACTION_PAUSE: "pause",
    recorder_pb2.SetRecordingRequest.ACTION_RESUME: "resume",
    recorder_pb2.SetRecordingRequest.ACTION_STOP: "stop",
}
_MODE_VALUES = {
    "all": recorder_pb2.RecordingPolicy.MODE_ALL,
    "percentage": recorder_pb2.RecordingPolicy.MODE_PERCENTAGE,
    "on_demand": recorder_pb2.RecordingPolicy.MODE_ON_DEMAND,
}
_MODE_NAMES = {value: name for name, value in _MODE_VALUES.items()}
assert set(_MODE_VALUES) == set(MODES)


def policy_message(policy: RecordingPolicy) -> recorder_pb2.RecordingPolicy:
    message = recorder_pb2.RecordingPolicy(
        tenant=policy.tenant,
        queue=policy.queue,
        mode=_MODE_VALUES[policy.mode],
        percentage=policy.percentage,
        opt_out_decision=policy.opt_out_decision,
        purposes=list(policy.purposes),
        updated_by=policy.updated_by,
        version=policy.version,
        proof_retention_days=policy.proof_retention_days,
    )
    if policy.updated_at is not None:
        message.updated_at.FromDatetime(policy.updated_at)
    return message


def policy_from_message(
    message: recorder_pb2.RecordingPolicy, current_proof_retention_days: int = 365
) -> RecordingPolicy:
    """The policy a Set asks for; `proof_retention_days` 0 (unset) keeps the current one."""
    if message.mode not in _MODE_NAMES:
        raise PolicyError("mode is required: MODE_ALL, MODE_PERCENTAGE or MODE_ON_DEMAND")
    return RecordingPolicy(
        tenant=message.tenant,
        queue=message.queue,
        mode=_MODE_NAMES[message.mode],
        percentage=message.percentage if message.mode == message.MODE_PERCENTAGE else 100.0,
        opt_out_decision=message.opt_out_decision or "stop",
        purposes=tuple(message.purposes) or ("quality", "analytics"),
        proof_retention_days=message.proof_retention_days or current_proof_retention_days,
    )


class RecorderService(recorder_pb2_grpc.RecorderServicer):
    def __init__(
        self,
        pool: AsyncConnectionPool,
        objects: ObjectStore,
        retention_target: str,
        *,
        recorder: CallRecorder | None = None,
        policies: PolicyStore | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._pool = pool
        self._objects = objects
        self._access = AccessGate(retention_target)
        self._recorder = recorder
        self._policies = policies
        self._stream_call = (
            StreamCallIngest(recorder, pool, max_frame_bytes) if recorder is not None else None
        )

    # -- StreamCall (softphones, media forks, file import): ingest/grpc_stream.py ----------
    async def StreamCall(
        self,
        request_iterator: AsyncIterator[recorder_pb2.StreamCallRequest],
        context: grpc.aio.ServicerContext,
    ) -> recorder_pb2.StreamCallResponse:
        if self._stream_call is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no live calls on this server")
        assert self._stream_call is not None
        return await self._stream_call(request_iterator, context)

    # -- SetRecording ---------------------------------------------------------------------
    async def SetRecording(
        self, request: recorder_pb2.SetRecordingRequest, context: grpc.aio.ServicerContext
    ) -> recorder_pb2.SetRecordingResponse:
        if self._recorder is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no live calls on this server")
        assert self._recorder is not None
        if not request.call_id or not request.requested_by:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "required: call_id, requested_by")
        action = _ACTIONS.get(request.action)
        if action is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "action must be START, PAUSE, RESUME or STOP"
            )
        assert action is not None
        try:
            state = await self._recorder.set_recording(
                request.call_id, action, request.reason, request.requested_by, "api"
            )
        except KeyError:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"call {request.call_id!r} is not live on this recorder"
            )
        except RecordingStateError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return recorder_pb2.SetRecordingResponse(call_id=request.call_id, state=state)

    # -- recording policies ---------------------------------------------------------------
    async def _policy_store(self, context: grpc.aio.ServicerContext) -> PolicyStore:
        if self._policies is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "recording policies not served")
        assert self._policies is not None
        return self._policies

    async def GetRecordingPolicy(
        self, request: recorder_pb2.GetRecordingPolicyRequest, context: grpc.aio.ServicerContext
    ) -> recorder_pb2.RecordingPolicy:
        store = await self._policy_store(context)
        if not request.tenant:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "required: tenant")
        policies = await store.list(request.tenant)
        from .domain.policy import policy_for

        return policy_message(policy_for(policies, request.tenant, request.queue))

    async def SetRecordingPolicy(
        self, request: recorder_pb2.SetRecordingPolicyRequest, context: grpc.aio.ServicerContext
    ) -> recorder_pb2.RecordingPolicy:
        store = await self._policy_store(context)
        if not request.requested_by:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "required: requested_by")
        try:
            # A Set without proof_retention_days keeps what the policy had.
            current = {(p.tenant, p.queue): p for p in await store.list(request.policy.tenant)}
            known = current.get((request.policy.tenant, request.policy.queue))
            policy = policy_from_message(
                request.policy, known.proof_retention_days if known else 365
            )
            saved = await store.set(policy, request.requested_by)
        except PolicyError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return policy_message(saved)

    async def ListRecordingPolicies(
        self,
        request: recorder_pb2.ListRecordingPoliciesRequest,
        context: grpc.aio.ServicerContext,
    ) -> recorder_pb2.ListRecordingPoliciesResponse:
        store = await self._policy_store(context)
        policies = await store.list(request.tenant)
        return recorder_pb2.ListRecordingPoliciesResponse(
            policies=[policy_message(p) for p in policies]
        )

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
