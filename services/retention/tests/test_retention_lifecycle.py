"""The full life of recordings under each purpose, a legal hold, an erasure with its proof
report, and the audit chain — with a clock the test controls, real PostgreSQL, the real purge
handlers of recorder, transcriber and analyzer, and an in-memory bus between them."""

from __future__ import annotations

import hashlib
import json

import psycopg
import pytest

from callscope_retention.holds import HoldRequest

pytestmark = pytest.mark.integration

CUSTOMER_X = "sip:+33 6 11 22 33 44@pstn.example"


async def check(world, call_id: str, purpose: str, resource: str = "recording"):  # type: ignore[no-untyped-def]
    return await world.engine.access.check(call_id, purpose, "qa-lead@example", resource, "")


async def run_and_settle(world) -> None:  # type: ignore[no-untyped-def]
    await world.engine.purge.run("schedule", "scheduler")
    await world.bus.pump()


async def test_full_life_under_each_purpose_hold_erasure_and_audit(world, db_url) -> None:  # type: ignore[no-untyped-def]
    engine, clock = world.engine, world.clock
    await world.call("A", purposes=("quality",))  # 6 months, everything
    await world.call("B")  # defaults: quality + analytics
    await world.call("C", purposes=("proof", "quality"))  # contract proof: 5 years
    await world.call("D", customer="sip:+33700000001@pstn.example")  # will be held
    await world.call("E", customer=CUSTOMER_X)  # the person who asks for erasure
    await world.call("F", customer="tel:+33611223344", purposes=("proof", "quality"))
    # The proof recordings asked the recorder for Object Lock; the filesystem store says it
    # has none, and retention records that rather than pretending.
    await engine.maintain()
    await world.bus.pump()
    view = await engine.access.retention_of("C")
    assert view.lock_until is None and set(view.purposes) == {"proof", "quality"}

    hold = await engine.place_hold(
        HoldRequest(reason="dispute #42 (court case)", placed_by="legal@example", call_id="D")
    )
    assert hold.calls_covered == 1

    # Day 1: nothing is due; quality use is allowed.
    clock.at_day(1)
    plan = await engine.purge.plan()
    assert plan.calls == 0 and not plan.items_by_kind
    assert (await check(world, "A", "quality")).allowed
    assert not (await check(world, "A", "analytics")).allowed  # never granted for A
    refused = await check(world, "B", "analytics", "recording")
    assert not refused.allowed and "does not cover the recording" in refused.reason

    # Day 184: quality (183 days) has ended.
    clock.at_day(184)
    late = await check(world, "B", "quality", "transcript")
    assert not late.allowed and "expired on" in late.reason
    assert (await check(world, "B", "analytics", "transcript")).allowed
    plan = await engine.purge.plan()
    assert plan.items_by_kind == {"recording": 3, "transcript": 1, "analysis": 3}
    # A (all), B (recording), C (analysis), E (recording), F (analysis); D is held.
    assert plan.calls == 5 and plan.held_items == 1
    assert plan.kept_sample[0]["call_id"] == "D" and "dispute #42" in plan.kept_sample[0]["reason"]
    await run_and_settle(world)
    assert await world.holdings("A") == {
        "recorder": 0,
        "transcriber": 0,
        "analyzer": 0,
        "object": 0,
    }
    assert await world.holdings("B") == {
        "recorder": 0,
        "transcriber": 2,
        "analyzer": 2,
        "object": 0,
    }
    assert await world.holdings("C") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 0,
        "object": 1,
    }
    assert await world.holdings("D") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }
    assert await world.item_states("A") == {
        k: "purged" for k in ("recording", "transcript", "analysis")
    }
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT call_id FROM analyzer.summaries WHERE call_id IN ('A', 'D') ORDER BY 1"
        )
        assert [r["call_id"] for r in await cur.fetchall()] == ["D"]  # A's summary is gone
    gone = await check(world, "A", "quality")
    assert not gone.allowed and "was purged on 2026-07-08" in gone.reason
    assert (await engine.purge.plan()).calls == 0  # everything due was confirmed

    # Day 200: customer X (two calls, written differently) asks for erasure.
    clock.at_day(200)
    pending = await engine.erasure.erase("+33 6 11 22 33 44", "dpo@example", "ticket GDPR-7")
    assert not pending.report_sha256  # services have not confirmed yet
    assert sorted(c["call_id"] for c in pending.calls) == ["E", "F"]
    await world.bus.pump()
    report = await engine.erasure.report(pending.request_id)
    assert report.report_sha256, "complete once every service confirmed"
    by_call = {c["call_id"]: c for c in report.calls}
    assert by_call["E"]["erased_kinds"] == ["analysis", "recording", "transcript"]
    assert by_call["E"]["kept"] == []
    kept_f = {k["data_kind"]: k for k in by_call["F"]["kept"]}
    assert set(kept_f) == {"recording", "transcript"}  # proof: a legal obligation
    assert "Art. 17(3)(b)" in kept_f["recording"]["legal_basis"]
    assert by_call["F"]["erased_kinds"] == ["analysis"]  # purged on day 184: earlier proof
    services = {c["service"] for call in report.calls for c in call["confirmations"]}
    assert services == {"recorder", "transcriber", "analyzer"}
    recorder_conf = next(c for c in by_call["E"]["confirmations"] if c["service"] == "recorder")
    assert recorder_conf["status"] == "already_gone" or recorder_conf["content_sha256"]
    document = json.loads(report.report_json)
    assert document["subject"].startswith("sha256:") and "+33611223344" not in report.report_json
    assert hashlib.sha256(report.report_json.encode()).hexdigest() == report.report_sha256
    assert await world.holdings("E") == {
        "recorder": 0,
        "transcriber": 0,
        "analyzer": 0,
        "object": 0,
    }
    assert await world.holdings("F") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 0,
        "object": 1,
    }
    # The kept proof may no longer be used for anything but proof.
    assert not (await check(world, "F", "quality")).allowed
    assert (await check(world, "F", "proof")).allowed

    # Day 366: analytics (365 days) has ended; D is still held.
    clock.at_day(366)
    await run_and_settle(world)
    assert await world.holdings("B") == {
        "recorder": 0,
        "transcriber": 0,
        "analyzer": 0,
        "object": 0,
    }
    assert await world.holdings("D") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }

    # Day 400: the hold is released; the next run purges D.
    clock.at_day(400)
    await engine.release_hold(hold.hold_id, "legal@example", "case closed")
    await run_and_settle(world)
    assert await world.holdings("D") == {
        "recorder": 0,
        "transcriber": 0,
        "analyzer": 0,
        "object": 0,
    }

    # Five years: proof ends, and C and F go.
    clock.at_day(1826)
    await run_and_settle(world)
    for call_id in "CF":
        assert await world.holdings(call_id) == {
            "recorder": 0,
            "transcriber": 0,
            "analyzer": 0,
            "object": 0,
        }
    # Retention keeps no phone number of calls that no longer exist.
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM retention.call_parties WHERE party_key NOT LIKE 'sha256:%%'"
        )
        assert (await cur.fetchone())["n"] == 0

    # The audit log holds every access, hold, erasure and purge, and its chain verifies.
    entries = await engine.audit.entries(limit=1000)
    actions = {e.action for e in entries}
    assert {
        "policy.seed",
        "hold.place",
        "hold.release",
        "erasure.request",
        "erasure.complete",
        "purge.start",
        "purge.complete",
        "access.recording.listen",
        "access.transcript.view",
    } <= actions
    sealed = next(e for e in entries if e.action == "erasure.complete")
    assert json.loads(sealed.details)["report_sha256"] == report.report_sha256
    assert (await engine.audit.verify()).ok

    # Tampering, even by someone who gets around the append-only trigger, is detected.
    head = await engine.audit.verify()
    with psycopg.connect(db_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE retention.audit_log SET actor = 'nobody' WHERE seq = 3")
        conn.execute("SET session_replication_role = replica")  # triggers off (superuser)
        conn.execute(
            "UPDATE retention.audit_log SET actor = 'someone-else' WHERE action = 'hold.place'"
        )
    result = await engine.audit.verify()
    assert not result.ok
    assert any("edited" in p for p in result.problems)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM retention.audit_log WHERE seq = 5")
        conn.execute(
            "DELETE FROM retention.audit_log WHERE seq = (SELECT max(seq) FROM retention.audit_log)"
        )
    result = await engine.audit.verify(anchor=(head.head_seq, head.head_hash))
    assert any("entry 5 missing" in p for p in result.problems)
    assert any("deleted from the end" in p for p in result.problems)
