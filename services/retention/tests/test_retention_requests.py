"""Bad input gets a clear refusal and deletes nothing; policy changes are reported before they
apply and then recomputed for existing data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callscope_retention.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
)
from callscope_retention.holds import HoldRequest

from .conftest import T0

pytestmark = pytest.mark.integration

NEW_POLICY = """
rules:
  - tenant: "*"
    queue: "*"
    periods_days: {proof: 1825, quality: 90, analytics: 365, live_assist: 1}
    default_purposes: [quality, analytics]
  - tenant: default
    queue: sales
    periods_days: {proof: 3650, quality: 183, analytics: 365}
    default_purposes: [proof, quality]
"""


async def audit_count(world) -> int:  # type: ignore[no-untyped-def]
    return len(await world.engine.audit.entries(limit=10_000))


async def test_bad_requests_are_refused_clearly_and_delete_nothing(world) -> None:  # type: ignore[no-untyped-def]
    engine = world.engine
    await world.call("k1", customer="sip:+33612000001@pstn.example", agent="sip:agent-1@cc.example")
    before = await audit_count(world)
    with pytest.raises(NotFoundError, match=r"unknown customer '\+33 6 99'.*nothing erased"):
        await engine.erasure.erase("+33 6 99", "dpo")
    with pytest.raises(InvalidRequestError, match="phone number, a SIP address"):
        await engine.erasure.erase("  ", "dpo")
    with pytest.raises(InvalidRequestError, match="requested_by"):
        await engine.erasure.erase("+33612000001", "")
    with pytest.raises(NotFoundError, match="unknown call 'zzz'"):
        await engine.place_hold(HoldRequest(reason="r", placed_by="legal", call_id="zzz"))
    with pytest.raises(NotFoundError, match="unknown customer"):
        await engine.place_hold(HoldRequest(reason="r", placed_by="legal", customer="+4400"))
    with pytest.raises(InvalidRequestError, match="needs a reason"):
        await engine.place_hold(HoldRequest(reason=" ", placed_by="legal", call_id="k1"))
    with pytest.raises(InvalidRequestError, match="exactly one of"):
        await engine.place_hold(
            HoldRequest(reason="r", placed_by="legal", call_id="k1", agent_id="agent-1")
        )
    with pytest.raises(InvalidRequestError, match="empty date range"):
        await engine.place_hold(
            HoldRequest(reason="r", placed_by="legal", range_from=T0, range_to=T0)
        )
    first = await engine.place_hold(
        HoldRequest(reason="case 1", placed_by="legal", customer="tel:+33-6-12-00-00-01")
    )
    with pytest.raises(ConflictError, match=f"conflicting hold: hold {first.hold_id}"):
        await engine.place_hold(
            HoldRequest(reason="case 2", placed_by="other", customer="+33612000001")
        )
    # Holds of other scopes on the same data are not conflicts: each has its own release.
    by_agent = await engine.place_hold(
        HoldRequest(reason="agent audit", placed_by="legal", agent_id="sip:agent-1@cc.example")
    )
    by_range = await engine.place_hold(
        HoldRequest(
            reason="incident week",
            placed_by="legal",
            range_from=T0 - timedelta(days=1),
            range_to=T0 + timedelta(days=6),
        )
    )
    assert by_agent.calls_covered == by_range.calls_covered == 1
    await engine.release_hold(first.hold_id, "legal", "done")
    with pytest.raises(PreconditionError, match="already released"):
        await engine.release_hold(first.hold_id, "legal", "again")
    with pytest.raises(NotFoundError, match="no legal hold"):
        await engine.release_hold("nope", "legal", "x")
    with pytest.raises(InvalidRequestError, match="unknown resource"):
        await engine.access.check("k1", "quality", "me", "audio", "")
    assert not (await engine.access.check("k1", "marketing", "me", "", "")).allowed
    assert not (await engine.access.check("nope", "quality", "me", "", "")).allowed
    # Impossible policies.
    for document, message in (
        (
            "rules: [{tenant: '*', queue: '*', periods_days: {quality: 0},"
            " default_purposes: [quality]}]",
            "must be positive",
        ),
        (
            "rules: [{tenant: '*', queue: '*', periods_days: {quality: 20000},"
            " default_purposes: [quality]}]",
            "exceeds 30 years",
        ),
        (
            "rules: [{tenant: '*', queue: '*', periods_days: {quality: '6 months'},"
            " default_purposes: [quality]}]",
            "whole number of days",
        ),
        (
            "rules: [{tenant: bank, queue: '*', periods_days: {quality: 10},"
            " default_purposes: [quality]}]",
            "catch-all rule",
        ),
        (
            "rules: [{tenant: '*', queue: '*', periods_days: {quality: 10},"
            " default_purposes: [proof]}]",
            "default purpose 'proof' has no period",
        ),
        ("purposes: {quality: {data: [audio]}}\nrules: []", "unknown data kinds"),
        (
            "rules: [{tenant: '*', queue: '*', periods_days: {quality: 10},"
            " default_purposes: [quality]}]",
            "use 'analytics' but the rule",
        ),
        ("[not, a, mapping", "not valid YAML"),
    ):
        with pytest.raises(InvalidRequestError, match=message):
            await engine.policies.apply(
                document, by="dpo", comment="", now=world.clock(), dry_run=False
            )
    # Nothing was deleted or changed, and only the holds were audited.
    assert await world.holdings("k1") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }
    assert (await engine.policies.get()).policy.version == 1
    actions = [e.action for e in await engine.audit.entries(after_seq=before, limit=100)]
    assert actions.count("hold.place") == 3 and "erasure.request" not in actions


async def test_policy_change_is_reported_then_recomputed(world) -> None:  # type: ignore[no-untyped-def]
    engine = world.engine
    await world.call("q1")  # support: quality + analytics
    await world.call("s1", queue="sales")  # defaults of v1: quality + analytics
    world.clock.at_day(100)
    change, _ = await engine.policies.apply(
        NEW_POLICY, by="dpo", comment="shorter quality", now=world.clock(), dry_run=True
    )
    # q1: quality 183 -> 90 days: its recording (quality only) becomes due now.
    assert (change.recordings, change.earlier, change.due_now) == (2, 1, 1)
    assert (await engine.policies.get()).policy.version == 1  # a dry run changes nothing
    assert (await engine.purge.plan()).calls == 0
    change, new = await engine.policies.apply(
        NEW_POLICY, by="dpo", comment="shorter quality", now=world.clock(), dry_run=False
    )
    assert new.version == 2 and change.summary().startswith("policy v1 -> v2")
    view = await engine.access.retention_of("q1")
    assert view.policy_version == 2
    assert {i["data_kind"]: i["expires_at"] for i in view.items}["recording"] == T0 + timedelta(
        days=90
    )
    plan = await engine.purge.plan()
    assert plan.items_by_kind == {"recording": 1} and plan.policy_version == 2
    assert not (await engine.access.check("q1", "quality", "me", "recording", "")).allowed
    # New recordings in sales get the sales rule's purposes and periods.
    await world.call("s2", queue="sales")
    view = await engine.access.retention_of("s2")
    assert sorted(view.purposes) == ["proof", "quality"]
    assert view.expires_at == world.clock() + timedelta(days=3650)
    entry = (await engine.audit.entries(action="policy.apply"))[0]
    assert entry.actor == "dpo" and "shorter quality" in entry.details
