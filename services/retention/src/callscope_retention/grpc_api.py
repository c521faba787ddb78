"""callscope.v1.Retention over gRPC: holds, erasure and its proof, purge plans and runs,
policies, use limitation (CheckAccess) and the audit log. Refusals are gRPC statuses with a
message meant for people: NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT, FAILED_PRECONDITION."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from callscope.v1 import retention_pb2, retention_pb2_grpc

from .engine import RetentionEngine
from .erasure import ErasureView
from .errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
    RetentionError,
)
from .holds import Hold, HoldRequest

log = logging.getLogger(__name__)

_CODES = {
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    ConflictError: grpc.StatusCode.ALREADY_EXISTS,
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    PreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
}

R = TypeVar("R")


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def _dt(ts: Timestamp, present: bool) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if present else None


def _refusals(
    method: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R]]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except RetentionError as exc:
            code = _CODES.get(type(exc), grpc.StatusCode.FAILED_PRECONDITION)
            await context.abort(code, str(exc))
            raise  # unreachable: abort raises

    return wrapper


def hold_message(hold: Hold) -> retention_pb2.LegalHold:
    return retention_pb2.LegalHold(
        hold_id=hold.hold_id,
        reason=hold.reason,
        scope=hold.scope,
        subject=hold.subject,
        placed_by=hold.placed_by,
        placed_at=_ts(hold.placed_at),
        released_at=_ts(hold.released_at),
        released_by=hold.released_by or "",
        release_reason=hold.release_reason or "",
        calls_covered=hold.calls_covered,
        in_flight_call_ids=hold.in_flight,
        range_from=_ts(hold.range_from),
        range_to=_ts(hold.range_to),
        tenant=hold.tenant,
    )


def erasure_message(view: ErasureView) -> retention_pb2.ErasureReport:
    report = retention_pb2.ErasureReport(
        request_id=view.request_id,
        erased_call_ids=view.erased_call_ids,
        kept_call_ids=view.kept_call_ids,
        status="complete" if view.report_sha256 else "pending",
        complete=bool(view.report_sha256),
        subject_hash=view.subject_hash,
        requested_by=view.requested_by,
        requested_at=_ts(view.requested_at),
        completed_at=_ts(view.completed_at),
        report_json=view.report_json,
        report_sha256=view.report_sha256,
        audit_seq=view.audit_seq,
        reason=view.reason,
    )
    for call in view.calls:
        out = report.calls.add(
            call_id=call["call_id"],
            erased_kinds=call["erased_kinds"],
            recording_sha256=call["recording_sha256"],
        )
        for kept in call["kept"]:
            item = out.kept.add(
                data_kind=kept["data_kind"],
                reason=kept["reason"],
                legal_basis=kept["legal_basis"],
            )
            if kept.get("kept_until"):
                item.kept_until.FromDatetime(datetime.fromisoformat(kept["kept_until"]))
        for c in call["confirmations"]:
            conf = out.confirmations.add(
                service=c["service"],
                status=c["status"],
                objects_deleted=c.get("objects_deleted", 0),
                rows_deleted=c.get("rows_deleted", 0),
                content_sha256=c.get("content_sha256", ""),
                detail=c.get("detail", ""),
                data_kinds=c.get("data_kinds", []),
            )
            if c.get("confirmed_at"):
                conf.confirmed_at.FromDatetime(datetime.fromisoformat(c["confirmed_at"]))
    return report


class RetentionServicer(retention_pb2_grpc.RetentionServicer):
    def __init__(self, engine: RetentionEngine) -> None:
        self.engine = engine

    @_refusals
    async def GetRecordingRetention(self, request, context):  # type: ignore[no-untyped-def]
        view = await self.engine.access.retention_of(request.call_id)
        return retention_pb2.RecordingRetention(
            call_id=view.call_id,
            object_key=view.object_key,
            purposes=view.purposes,
            expires_at=_ts(view.expires_at),
            on_hold=bool(view.hold_ids),
            windows=[
                retention_pb2.PurposeWindow(
                    purpose=w.purpose,
                    expires_at=_ts(w.expires_at),
                    active=w.active,
                    data_kinds=w.data_kinds,
                )
                for w in view.windows
            ],
            state=view.state,
            policy_version=view.policy_version,
            hold_ids=view.hold_ids,
            lock_until=_ts(view.lock_until),
            items=[
                retention_pb2.DataItem(
                    data_kind=i["data_kind"],
                    service=i["service"],
                    expires_at=_ts(i["expires_at"]),
                    state=i["state"],
                )
                for i in view.items
            ],
            tenant=view.tenant,
            queue=view.queue,
        )

    @_refusals
    async def PlaceLegalHold(self, request, context):  # type: ignore[no-untyped-def]
        hold = await self.engine.place_hold(
            HoldRequest(
                reason=request.reason,
                placed_by=request.placed_by,
                call_id=request.call_id,
                customer=request.customer,
                agent_id=request.agent_id,
                range_from=_dt(request.range_from, request.HasField("range_from")),
                range_to=_dt(request.range_to, request.HasField("range_to")),
                tenant=request.tenant,
            )
        )
        return hold_message(hold)

    @_refusals
    async def ReleaseLegalHold(self, request, context):  # type: ignore[no-untyped-def]
        hold = await self.engine.release_hold(request.hold_id, request.released_by, request.reason)
        return hold_message(hold)

    @_refusals
    async def ListLegalHolds(self, request, context):  # type: ignore[no-untyped-def]
        holds = await self.engine.holds.list(request.include_released)
        return retention_pb2.ListLegalHoldsResponse(holds=[hold_message(h) for h in holds])

    @_refusals
    async def EraseSubject(self, request, context):  # type: ignore[no-untyped-def]
        view = await self.engine.erasure.erase(
            request.customer, request.requested_by, request.reason
        )
        return erasure_message(view)

    @_refusals
    async def GetErasureReport(self, request, context):  # type: ignore[no-untyped-def]
        return erasure_message(await self.engine.erasure.report(request.request_id))

    @_refusals
    async def PlanPurge(self, request, context):  # type: ignore[no-untyped-def]
        plan = await self.engine.purge.plan(
            _dt(request.as_of, request.HasField("as_of")), request.limit or 20
        )
        return retention_pb2.PurgePlan(
            as_of=_ts(plan.as_of),
            calls=plan.calls,
            items_by_kind=plan.items_by_kind,
            held_items=plan.held_items,
            locked_items=plan.locked_items,
            in_flight_items=plan.in_flight_items,
            sample=[
                retention_pb2.PlannedItem(
                    call_id=s["call_id"],
                    data_kinds=s["kinds"],
                    expires_at=_ts(s["expires_at"]),
                    tenant=s["tenant"],
                    queue=s["queue"],
                )
                for s in plan.sample
            ],
            kept_sample=[
                retention_pb2.KeptItem(
                    call_id=k["call_id"], data_kind=k["data_kind"], reason=k["reason"] or ""
                )
                for k in plan.kept_sample
            ],
            policy_version=plan.policy_version,
        )

    @_refusals
    async def RunPurge(self, request, context):  # type: ignore[no-untyped-def]
        status = await self.engine.purge.run("manual", request.requested_by or "api")
        return _run_message(status)

    @_refusals
    async def GetPurgeRun(self, request, context):  # type: ignore[no-untyped-def]
        return _run_message(await self.engine.purge.status(request.request_id))

    @_refusals
    async def GetPolicy(self, request, context):  # type: ignore[no-untyped-def]
        stored = await self.engine.policies.get(request.version)
        return retention_pb2.PolicyDocument(
            version=stored.policy.version,
            document_json=json.dumps(stored.policy.to_document(), indent=2),
            created_at=_ts(stored.created_at),
            created_by=stored.created_by,
            comment=stored.comment,
        )

    @_refusals
    async def ApplyPolicy(self, request, context):  # type: ignore[no-untyped-def]
        change, new = await self.engine.policies.apply(
            request.document,
            by=request.applied_by,
            comment=request.comment,
            now=self.engine.clock(),
            dry_run=request.dry_run,
        )
        return retention_pb2.PolicyChangeReport(
            from_version=change.from_version,
            to_version=0 if request.dry_run else new.version,
            applied=not request.dry_run,
            recordings=change.recordings,
            expiry_earlier=change.earlier,
            expiry_later=change.later,
            expiry_unchanged=change.unchanged,
            due_now=change.due_now,
            warnings=change.warnings,
            sample_call_ids=[c.call_id for c in change.changes if c.old_expiry != c.new_expiry][
                :20
            ],
            summary=change.summary(),
        )

    @_refusals
    async def CheckAccess(self, request, context):  # type: ignore[no-untyped-def]
        decision = await self.engine.access.check(
            request.call_id, request.purpose, request.actor, request.resource, request.action
        )
        return retention_pb2.AccessDecision(
            allowed=decision.allowed,
            reason=decision.reason,
            purpose_expires_at=_ts(decision.purpose_expires_at),
            audit_seq=decision.audit_seq,
        )

    @_refusals
    async def ListAudit(self, request, context):  # type: ignore[no-untyped-def]
        entries = await self.engine.audit.entries(
            after_seq=request.after_seq,
            limit=request.limit or 100,
            subject=request.subject,
            action=request.action,
        )
        return retention_pb2.ListAuditResponse(
            entries=[
                retention_pb2.AuditEntry(
                    seq=e.seq,
                    at=_ts(e.at),
                    actor=e.actor,
                    action=e.action,
                    subject=e.subject,
                    details_json=e.details,
                    prev_hash=e.prev_hash,
                    hash=e.hash,
                )
                for e in entries
            ]
        )

    @_refusals
    async def VerifyAudit(self, request, context):  # type: ignore[no-untyped-def]
        anchor = (request.anchor_seq, request.anchor_hash) if request.anchor_seq else None
        result = await self.engine.audit.verify(anchor)
        return retention_pb2.AuditVerification(
            ok=result.ok,
            entries=result.entries,
            head_seq=result.head_seq,
            head_hash=result.head_hash,
            problems=result.problems,
        )


def _run_message(status: Any) -> retention_pb2.PurgeRunStatus:
    return retention_pb2.PurgeRunStatus(
        request_id=status.request_id,
        kind=status.kind,
        status=status.status,
        calls=status.calls,
        items=status.items,
        items_confirmed=status.items_confirmed,
        items_refused=status.items_refused,
        started_at=_ts(status.started_at),
        finished_at=_ts(status.finished_at),
        pending_by_service=status.pending_by_service,
    )
