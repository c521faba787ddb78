"""Use limitation and access audit: may this actor use this call's data for this purpose now?

Every API that serves a recording or a transcript (Recorder.GetRecording, transcript views)
asks `Retention.CheckAccess` first; the decision, allowed or refused, is written to the audit
log in the same transaction, so no listen, download or view goes unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from callscope_core.purge import DATA_KINDS, KIND_SERVICE

from .auditlog import AuditLog
from .domain.policy import RetentionPurpose
from .errors import InvalidRequestError, NotFoundError
from .policies import PolicyStore

ACTIONS = ("listen", "download", "view", "export")


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str
    purpose_expires_at: datetime | None
    audit_seq: int


@dataclass
class WindowView:
    purpose: str
    expires_at: datetime
    active: bool
    data_kinds: list[str]


@dataclass
class RetentionView:
    call_id: str
    tenant: str
    queue: str
    object_key: str
    purposes: list[str]
    expires_at: datetime
    state: str
    policy_version: int
    lock_until: datetime | None
    hold_ids: list[str]
    windows: list[WindowView] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)


class AccessService:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        audit: AuditLog,
        policies: PolicyStore,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._audit = audit
        self._policies = policies
        self._clock = clock

    async def check(
        self, call_id: str, purpose: str, actor: str, resource: str, action: str
    ) -> AccessDecision:
        if not actor.strip():
            raise InvalidRequestError("an access check needs the actor (who listens or views)")
        if not call_id.strip():
            raise InvalidRequestError("an access check needs a call id")
        resource = resource or "recording"
        if resource not in DATA_KINDS:
            raise InvalidRequestError(
                f"unknown resource {resource!r} (known: {', '.join(DATA_KINDS)})"
            )
        action = action or ("listen" if resource == "recording" else "view")
        if action not in ACTIONS:
            raise InvalidRequestError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        now = self._clock()
        async with self._pool.connection() as conn, conn.transaction():
            policy = await self._policies.active(conn)
            allowed, reason, until = await self._decide(
                conn, call_id, purpose, resource, now, policy
            )
            entry = await self._audit.append(
                conn,
                at=now,
                actor=actor,
                action=f"access.{resource}.{action}",
                subject=f"call:{call_id}",
                details={
                    "purpose": purpose,
                    "allowed": allowed,
                    **({"refused": reason} if not allowed else {}),
                },
            )
        return AccessDecision(allowed, reason, until, entry.seq)

    async def _decide(self, conn, call_id, purpose, resource, now, policy):  # type: ignore[no-untyped-def]
        # APIs and consoles spell it "live-assist"; the policy's purpose is "live_assist".
        purpose = purpose.strip().replace("-", "_")
        try:
            RetentionPurpose(purpose)
        except ValueError:
            known = ", ".join(p.value for p in RetentionPurpose)
            return False, f"unknown purpose {purpose!r} (known: {known})", None
        cur = await conn.execute(
            "SELECT d.state, d.purged_at FROM retention.data_items d"
            " WHERE d.call_id = %s AND d.data_kind = %s",
            (call_id, resource),
        )
        item = await cur.fetchone()
        if item is None:
            return await self._decide_live(conn, call_id, purpose, resource, now, policy)
        if item["state"] != "live":
            when = f" on {item['purged_at'].date()}" if item["purged_at"] else ""
            return False, f"the {resource} of call {call_id} was purged{when}", None
        cur = await conn.execute(
            "SELECT purpose, expires_at, ended_at FROM retention.purpose_windows"
            " WHERE call_id = %s",
            (call_id,),
        )
        windows = {r["purpose"]: r for r in await cur.fetchall()}
        window = windows.get(purpose)
        if window is None:
            granted = ", ".join(sorted(windows)) or "none"
            return (
                False,
                f"purpose {purpose!r} was never granted for call {call_id} (granted: {granted})",
                None,
            )
        if window["ended_at"] is not None and window["ended_at"] <= now:
            return (
                False,
                f"use for purpose {purpose!r} of call {call_id} ended on"
                f" {window['ended_at'].date()} (erasure request)",
                window["ended_at"],
            )
        if window["expires_at"] <= now:
            return (
                False,
                f"purpose {purpose!r} of call {call_id} expired on {window['expires_at'].date()}"
                f" (policy v{policy.version}); its use is no longer allowed",
                window["expires_at"],
            )
        if resource not in policy.kinds_of(purpose):
            return (
                False,
                f"purpose {purpose!r} does not cover the {resource}"
                f" (it covers: {', '.join(sorted(policy.kinds_of(purpose)))})",
                window["expires_at"],
            )
        return True, "", window["expires_at"]

    async def _decide_live(self, conn, call_id, purpose, resource, now, policy):  # type: ignore[no-untyped-def]
        """A call known from CallStarted whose recording is not stored yet is live: its
        transcript and analysis may be viewed for live assistance only, and only within the
        live_assist period of its tenant/queue counted from the start of the call."""
        cur = await conn.execute(
            "SELECT c.tenant, c.queue, coalesce(c.started_at, c.registered_at) AS started_at,"
            " EXISTS (SELECT 1 FROM retention.recordings r WHERE r.call_id = c.call_id)"
            " AS stored FROM retention.calls c WHERE c.call_id = %s",
            (call_id,),
        )
        call = await cur.fetchone()
        if call is None or call["stored"]:
            return False, f"no {resource} of call {call_id} is known to retention", None
        live = RetentionPurpose.LIVE_ASSIST.value
        if purpose != live:
            return (
                False,
                f"call {call_id} is live (no recording stored yet): only purpose {live!r}"
                f" may use its {resource} until then, not {purpose!r}",
                None,
            )
        if resource not in policy.kinds_of(live):
            return (
                False,
                f"purpose {live!r} does not cover the {resource}"
                f" (it covers: {', '.join(sorted(policy.kinds_of(live)))})",
                None,
            )
        rule = policy.rule_for(call["tenant"] or "default", call["queue"])
        period = rule.policy.periods.get(RetentionPurpose.LIVE_ASSIST)
        if period is None:
            return (
                False,
                f"policy v{policy.version} grants no {live!r} period for {rule.label()}",
                None,
            )
        expires_at = call["started_at"] + period
        if expires_at <= now:
            return (
                False,
                f"purpose {live!r} of call {call_id} expired on {expires_at.date()}"
                f" (policy v{policy.version}); its use is no longer allowed",
                expires_at,
            )
        return True, "", expires_at

    async def retention_of(self, call_id: str) -> RetentionView:
        now = self._clock()
        async with self._pool.connection() as conn:
            policy = await self._policies.active(conn)
            cur = await conn.execute(
                "SELECT * FROM retention.recordings WHERE call_id = %s", (call_id,)
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFoundError(f"no recording of call {call_id!r} is registered")
            cur = await conn.execute(
                "SELECT DISTINCT hold_id FROM retention.hold_coverage"
                " WHERE call_id = %s AND released_at IS NULL ORDER BY hold_id",
                (call_id,),
            )
            holds = [r["hold_id"] for r in await cur.fetchall()]
            cur = await conn.execute(
                "SELECT * FROM retention.purpose_windows WHERE call_id = %s ORDER BY purpose",
                (call_id,),
            )
            windows = await cur.fetchall()
            cur = await conn.execute(
                "SELECT * FROM retention.data_items WHERE call_id = %s ORDER BY data_kind",
                (call_id,),
            )
            items = await cur.fetchall()
        view = RetentionView(
            call_id,
            row["tenant"],
            row["queue"],
            row["object_key"],
            list(row["purposes"]),
            row["expires_at"],
            row["state"],
            row["policy_version"],
            row["lock_confirmed"] if row["lock_supported"] else None,
            holds,
        )
        for w in windows:
            active = w["expires_at"] > now and (w["ended_at"] is None or w["ended_at"] > now)
            view.windows.append(
                WindowView(
                    w["purpose"], w["expires_at"], active, sorted(policy.kinds_of(w["purpose"]))
                )
            )
        view.items = [
            {
                "data_kind": i["data_kind"],
                "service": KIND_SERVICE.get(i["data_kind"], i["service"]),
                "expires_at": i["expires_at"],
                "state": i["state"],
            }
            for i in items
        ]
        return view
