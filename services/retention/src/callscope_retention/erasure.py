"""GDPR erasure requests (Art. 17) and their proof reports.

`erase(customer)` finds every call of the person, erases every data kind that no legal hold
and no legal obligation keeps, ends every other purpose's use of what is kept, and returns a
report of what was erased and what was kept and why (Art. 17(3)). The report becomes proof
once every service has confirmed: it is then sealed (canonical JSON, sha256) and the seal is
written to the hash-chained audit log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from callscope_core.purge import KIND_SERVICE

from .auditlog import AuditLog
from .domain.audit import canonical_json, timestamp
from .domain.erasure import CallData, decide
from .domain.subjects import SubjectError, customer_key, subject_hash
from .errors import InvalidRequestError, NotFoundError
from .holds import HoldService
from .policies import PolicyStore
from .purging import OPEN, Item, PurgeService

log = logging.getLogger(__name__)


@dataclass
class ErasureView:
    request_id: str
    subject_hash: str
    requested_by: str
    reason: str
    requested_at: datetime
    completed_at: datetime | None
    complete: bool
    calls: list[dict[str, Any]] = field(default_factory=list)
    report_json: str = ""
    report_sha256: str = ""
    audit_seq: int = 0

    @property
    def erased_call_ids(self) -> list[str]:
        return [c["call_id"] for c in self.calls if not c["kept"]]

    @property
    def kept_call_ids(self) -> list[str]:
        return [c["call_id"] for c in self.calls if c["kept"]]


class ErasureService:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        audit: AuditLog,
        policies: PolicyStore,
        holds: HoldService,
        purge: PurgeService,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._audit = audit
        self._policies = policies
        self._holds = holds
        self._purge = purge
        self._clock = clock
        purge.on_request_complete = self._on_request_complete

    async def erase(self, customer: str, requested_by: str, reason: str = "") -> ErasureView:
        if not requested_by.strip():
            raise InvalidRequestError("an erasure request needs who requests it (requested_by)")
        try:
            key = customer_key(customer)
        except SubjectError as exc:
            raise InvalidRequestError(str(exc)) from None
        hashed = subject_hash(key)
        now = self._clock()
        request_id = str(uuid.uuid4())
        items: list[Item] = []
        async with self._pool.connection() as conn, conn.transaction():
            policy = await self._policies.active(conn)
            cur = await conn.execute(
                "SELECT DISTINCT call_id FROM retention.call_parties"
                " WHERE party_key = ANY(%s) AND role <> 'agent' ORDER BY call_id",
                ([key, hashed],),
            )
            call_ids = [r["call_id"] for r in await cur.fetchall()]
            if not call_ids:
                raise NotFoundError(
                    f"unknown customer {customer!r} (normalized {key!r}): no call of this"
                    " person is known; nothing erased"
                )
            facts = await self._facts(conn, call_ids)
            held = await self._holds.active_for(conn, call_ids)
            decisions = []
            for call_id in call_ids:
                if call_id not in facts:
                    decisions.append((call_id, None))
                    continue
                states, windows = facts[call_id]
                data = CallData(call_id, states, windows, held.get(call_id, []))
                decisions.append((call_id, decide(data, policy, now)))
            await conn.execute(
                "INSERT INTO retention.purge_runs (request_id, kind, requested_by, started_at,"
                " claimed) VALUES (%s, 'erasure', %s, %s, true)",
                (request_id, requested_by, now),
            )
            await conn.execute(
                "INSERT INTO retention.erasures (request_id, subject_hash, requested_by, reason,"
                " requested_at) VALUES (%s, %s, %s, %s, %s)",
                (request_id, hashed, requested_by, reason, now),
            )
            for call_id, decision in decisions:
                if decision is None:
                    kept = [
                        {
                            "data_kind": "*",
                            "reason": "the call is not stored yet (in progress, or its"
                            " recording failed): erase again once it is stored",
                            "legal_basis": "",
                            "kept_until": None,
                        }
                    ]
                    erase_kinds: list[str] = []
                    already: list[str] = []
                else:
                    kept = [
                        {
                            "data_kind": k.data_kind,
                            "reason": k.reason,
                            "legal_basis": k.legal_basis,
                            "kept_until": timestamp(k.until) if k.until else None,
                        }
                        for k in decision.kept
                    ]
                    erase_kinds, already = decision.erase, decision.already
                    items += [Item(call_id, KIND_SERVICE[kind], (kind,)) for kind in erase_kinds]
                await conn.execute(
                    "INSERT INTO retention.erasure_calls (request_id, call_id, erase_kinds,"
                    " already_kinds, kept) VALUES (%s, %s, %s, %s, %s)",
                    (request_id, call_id, erase_kinds, already, canonical_json(kept)),
                )
            planned = self._purge.plan_batches(items)
            if planned:
                await self._purge.claim(conn, request_id, planned, now)
            # The person objected: every use that is not a legal obligation ends now.
            await conn.execute(
                "UPDATE retention.purpose_windows SET ended_at = %s"
                " WHERE call_id = ANY(%s) AND ended_at IS NULL AND NOT (purpose = ANY(%s))",
                (now, call_ids, sorted(policy.obligation_purposes())),
            )
            await self._audit.append(
                conn,
                at=now,
                actor=requested_by,
                action="erasure.request",
                subject=f"erasure:{request_id}",
                details={
                    "subject": hashed,
                    "reason": reason,
                    "calls": len(call_ids),
                    "items_to_erase": len(items),
                    "calls_with_kept_data": sum(1 for _, d in decisions if d is None or d.kept),
                },
            )
            if not items:
                await self._purge.maybe_complete(conn, request_id, now)
        if planned:
            await self._purge.publish(request_id, planned, reason="erasure")
        log.info(
            "erasure %s: %d call(s), %d item(s) sent for deletion",
            request_id,
            len(call_ids),
            len(items),
        )
        return await self.report(request_id)

    async def _facts(
        self, conn: AsyncConnection, call_ids: list[str]
    ) -> dict[str, tuple[dict[str, str], dict[str, datetime]]]:
        cur = await conn.execute(
            """
            SELECT r.call_id,
                   (SELECT jsonb_object_agg(d.data_kind, d.state) FROM retention.data_items d
                     WHERE d.call_id = r.call_id) AS states
            FROM retention.recordings r WHERE r.call_id = ANY(%s)
            """,
            (call_ids,),
        )
        facts = {r["call_id"]: (r["states"] or {}, {}) for r in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT call_id, purpose, expires_at FROM retention.purpose_windows"
            " WHERE call_id = ANY(%s) AND ended_at IS NULL",
            (call_ids,),
        )
        for row in await cur.fetchall():
            if row["call_id"] in facts:
                facts[row["call_id"]][1][row["purpose"]] = row["expires_at"]
        return facts

    # -- the report ------------------------------------------------------------------------
    async def report(self, request_id: str) -> ErasureView:
        async with self._pool.connection() as conn:
            view = await self._build(conn, request_id)
        if view.complete and not view.report_sha256:
            async with self._pool.connection() as conn, conn.transaction():
                await self._seal(conn, request_id, self._clock())
            async with self._pool.connection() as conn:
                view = await self._build(conn, request_id)
        return view

    async def _on_request_complete(
        self, conn: AsyncConnection, request_id: str, kind: str, now: datetime
    ) -> None:
        if kind == "erasure":
            await self._seal(conn, request_id, now)

    async def _seal(self, conn: AsyncConnection, request_id: str, now: datetime) -> None:
        cur = await conn.execute(
            "SELECT report_sha256 FROM retention.erasures WHERE request_id = %s FOR UPDATE",
            (request_id,),
        )
        row = await cur.fetchone()
        if row is None or row["report_sha256"]:
            return
        view = await self._build(conn, request_id)
        if not view.complete:
            return
        document = _proof_document(view, now)
        text = canonical_json(document)
        digest = hashlib.sha256(text.encode()).hexdigest()
        entry = await self._audit.append(
            conn,
            at=now,
            actor="retention",
            action="erasure.complete",
            subject=f"erasure:{request_id}",
            details={
                "report_sha256": digest,
                "subject": view.subject_hash,
                "erased_calls": len(view.erased_call_ids),
                "calls_with_kept_data": len(view.kept_call_ids),
            },
        )
        await conn.execute(
            "UPDATE retention.erasures SET completed_at = %s, report_json = %s,"
            " report_sha256 = %s, audit_seq = %s WHERE request_id = %s",
            (now, text, digest, entry.seq, request_id),
        )
        log.info("erasure %s complete; proof report sha256 %s", request_id, digest)

    async def _build(self, conn: AsyncConnection, request_id: str) -> ErasureView:
        cur = await conn.execute(
            "SELECT * FROM retention.erasures WHERE request_id = %s", (request_id,)
        )
        erasure = await cur.fetchone()
        if erasure is None:
            raise NotFoundError(f"no erasure request {request_id!r}")
        cur = await conn.execute(
            """
            SELECT e.*, r.sha256 AS recording_sha256
            FROM retention.erasure_calls e LEFT JOIN retention.recordings r USING (call_id)
            WHERE e.request_id = %s ORDER BY e.call_id
            """,
            (request_id,),
        )
        calls = await cur.fetchall()
        cur = await conn.execute(
            "SELECT * FROM retention.purge_items WHERE request_id = %s", (request_id,)
        )
        own: dict[tuple[str, str], dict] = {
            (r["call_id"], r["service"]): r for r in await cur.fetchall()
        }
        # Data purged before the request (an earlier run or erasure): its own confirmation.
        earlier_keys = [(c["call_id"], KIND_SERVICE[k]) for c in calls for k in c["already_kinds"]]
        earlier: dict[tuple[str, str], dict] = {}
        if earlier_keys:
            cur = await conn.execute(
                """
                SELECT DISTINCT ON (p.call_id, p.service) p.*
                FROM retention.purge_items p
                JOIN unnest(%s::text[], %s::text[]) AS t(call_id, service)
                  ON p.call_id = t.call_id AND p.service = t.service
                WHERE p.request_id <> %s AND p.status NOT IN ('cancelled')
                ORDER BY p.call_id, p.service,
                         (p.status IN ('deleted', 'already_gone')) DESC, p.confirmed_at DESC
                """,
                ([k[0] for k in earlier_keys], [k[1] for k in earlier_keys], request_id),
            )
            earlier = {(r["call_id"], r["service"]): r for r in await cur.fetchall()}
        view = ErasureView(
            request_id,
            erasure["subject_hash"],
            erasure["requested_by"],
            erasure["reason"],
            erasure["requested_at"],
            erasure["completed_at"],
            complete=True,
            report_json=erasure["report_json"] or "",
            report_sha256=erasure["report_sha256"] or "",
            audit_seq=erasure["audit_seq"] or 0,
        )
        for call in calls:
            kept = json.loads(call["kept"])
            erased: list[str] = []
            confirmations = []
            for kind in [*call["erase_kinds"], *call["already_kinds"]]:
                service = KIND_SERVICE[kind]
                item = own.get((call["call_id"], service)) or earlier.get(
                    (call["call_id"], service)
                )
                if item is None:
                    confirmations.append(
                        {"service": service, "status": "pending", "data_kinds": [kind]}
                    )
                    view.complete = False
                    erased.append(kind)
                    continue
                confirmation = {
                    "service": service,
                    "status": item["status"],
                    "confirmed_at": timestamp(item["confirmed_at"])
                    if item["confirmed_at"]
                    else None,
                    "objects_deleted": item["objects_deleted"],
                    "rows_deleted": item["rows_deleted"],
                    "content_sha256": item["content_sha256"],
                    "detail": item["detail"],
                    "data_kinds": [kind],
                    "request_id": item["request_id"],
                }
                confirmations.append(confirmation)
                if item["status"] in OPEN:
                    view.complete = False
                    erased.append(kind)
                elif item["status"] in ("deleted", "already_gone"):
                    erased.append(kind)
                else:
                    kept.append(
                        {
                            "data_kind": kind,
                            "reason": f"{service} did not delete it: {item['detail']}",
                            "legal_basis": "Object Lock retention / legal hold in the object"
                            " store (GDPR Art. 17(3)(b)/(e))"
                            if item["status"] == "refused_locked"
                            else "",
                            "kept_until": None,
                        }
                    )
            view.calls.append(
                {
                    "call_id": call["call_id"],
                    "erased_kinds": sorted(erased),
                    "kept": kept,
                    "confirmations": confirmations,
                    "recording_sha256": call["recording_sha256"] or "",
                }
            )
        return view


def _proof_document(view: ErasureView, now: datetime) -> dict[str, Any]:
    services = sorted({c["service"] for call in view.calls for c in call["confirmations"]})
    return {
        "kind": "callscope.erasure-proof/v1",
        "request_id": view.request_id,
        "subject": view.subject_hash,
        "requested_by": view.requested_by,
        "reason": view.reason,
        "requested_at": timestamp(view.requested_at),
        "completed_at": timestamp(now),
        "services_confirmed": services,
        "calls": view.calls,
        "complete": True,
    }
