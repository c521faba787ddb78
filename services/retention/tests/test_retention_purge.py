"""Purge runs are idempotent and resumable: a crash mid-run, lost commands, lost or repeated
confirmations and commands for data already gone never delete anything twice or by mistake."""

from __future__ import annotations

import pytest

from callscope.v1 import events_pb2
from callscope_core.purge import ALREADY_GONE, DELETED
from callscope_core.topics import RETENTION_COMMANDS
from callscope_retention.holds import HoldRequest

pytestmark = pytest.mark.integration


async def open_items(world) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, count(*) AS n FROM retention.purge_items GROUP BY status"
        )
        return {r["status"]: r["n"] for r in await cur.fetchall()}


async def test_crash_between_commit_and_publish_resumes(world) -> None:  # type: ignore[no-untyped-def]
    for n in range(120):
        await world.call(f"c{n:03}", purposes=("quality",))
    world.clock.at_day(200)
    world.bus.fail_publishes = 1  # the broker is gone when the first batch goes out
    with pytest.raises(ConnectionError):
        await world.engine.purge.run()
    assert await open_items(world) == {"pending": 150}  # 50 calls x 3 services, committed
    assert await world.holdings("c000") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }
    # The restarted service: the scheduler resends what never left, then runs again.
    assert (await world.engine.maintain())["resent"] == 150
    status = await world.engine.purge.run()
    await world.bus.pump()
    assert status.calls == 70  # the rest
    assert await open_items(world) == {"deleted": 360}
    for call_id in ("c000", "c077", "c119"):
        assert await world.holdings(call_id) == {
            "recorder": 0,
            "transcriber": 0,
            "analyzer": 0,
            "object": 0,
        }


async def test_lost_confirmations_are_retried_and_repeats_change_nothing(world) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        await world.call(f"r{n}", purposes=("quality",))
    world.clock.at_day(200)
    status = await world.engine.purge.run()
    # The transcriber's confirmation is lost (crash before its commit reached retention).
    await world.bus.pump(
        drop=lambda t, m: isinstance(m, events_pb2.CallsPurged) and m.service == "transcriber"
    )
    run = await world.engine.purge.status(status.request_id)
    assert run.status == "running" and run.pending_by_service == {"transcriber": 3}
    assert (await world.engine.maintain())["resent"] == 0  # not yet: retry_after is 60 s
    world.clock.advance(seconds=61)
    assert (await world.engine.maintain())["resent"] == 3
    commands = [m for _, _, m in world.bus.outbox if isinstance(m, events_pb2.PurgeCalls)]
    assert [sorted(t.data_kinds) for t in commands[0].targets] == [["transcript"]] * 3
    recorder, transcriber, _ = world.bus.command_handlers
    await world.bus.pump()
    # The transcriber had already deleted: it answers from its log, deleting nothing again.
    assert transcriber.replayed == 3 and recorder.replayed == 0
    run = await world.engine.purge.status(status.request_id)
    assert run.status == "complete" and run.items_confirmed == 9
    # A repeated command and a repeated confirmation change nothing.
    original = next(
        m
        for t, _, m in world.bus.delivered
        if t == RETENTION_COMMANDS.name and isinstance(m, events_pb2.PurgeCalls)
    )
    await world.bus.deliver(RETENTION_COMMANDS.name, original.batch_id, original)
    replies = [m for _, _, m in world.bus.outbox]
    assert all(r.results[0].status == DELETED for r in replies)  # the logged outcome
    await world.bus.pump()
    assert (await world.engine.purge.status(status.request_id)).items_confirmed == 9


async def test_purge_command_for_data_already_gone_is_clear_and_harmless(world) -> None:  # type: ignore[no-untyped-def]
    await world.call("g1", purposes=("quality",))
    await world.call("g2", purposes=("quality",))
    world.clock.at_day(200)
    first = await world.engine.purge.run()
    await world.bus.pump()
    # Someone sends a purge for g1 again (and for a call no service ever had).
    command = events_pb2.PurgeCalls(
        request_id="manual-1",
        batch_id="manual-1",
        targets=[events_pb2.PurgeTarget(call_id="g1"), events_pb2.PurgeTarget(call_id="nope")],
    )
    await world.bus.deliver(RETENTION_COMMANDS.name, "manual-1", command)
    replies = {m.service: m for _, _, m in world.bus.outbox}
    world.bus.outbox.clear()
    assert set(replies) == {"recorder", "transcriber", "analyzer"}
    for reply in replies.values():
        by_call = {r.call_id: r for r in reply.results}
        assert by_call["g1"].status == ALREADY_GONE
        assert f"already purged by request {first.request_id}" in by_call["g1"].detail
        assert by_call["nope"].status == ALREADY_GONE
        assert "nothing deleted" in by_call["nope"].detail
    # Unknown request: retention ignores the confirmations; nothing else was touched.
    await world.engine.purge.confirmed(replies["recorder"])
    single = events_pb2.PurgeCall(request_id="manual-2", call_id="g2", data_kinds=["recording"])
    await world.bus.deliver(RETENTION_COMMANDS.name, "g2", single)
    [(_, _, reply)] = world.bus.outbox
    assert isinstance(reply, events_pb2.CallPurged) and reply.status == ALREADY_GONE


async def test_hold_placed_while_a_purge_is_pending_takes_it_back(world) -> None:  # type: ignore[no-untyped-def]
    await world.call("h1", purposes=("quality",), customer="sip:+33699999999@pstn.example")
    world.clock.at_day(200)
    world.bus.fail_publishes = 1
    with pytest.raises(ConnectionError):
        await world.engine.purge.run()
    hold = await world.engine.place_hold(
        HoldRequest(reason="regulator inquiry", placed_by="legal", customer="+33699999999")
    )
    assert hold.in_flight == [] and hold.calls_covered == 1
    assert await open_items(world) == {"cancelled": 3}
    await world.engine.maintain()
    await world.bus.pump()
    await world.engine.purge.run()
    await world.bus.pump()
    assert await world.holdings("h1") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }
    # Once sent, a purge cannot be recalled: a hold placed then says so.
    await world.engine.release_hold(hold.hold_id, "legal", "closed")
    await world.engine.purge.run()
    late = await world.engine.place_hold(
        HoldRequest(reason="second look", placed_by="legal", call_id="h1")
    )
    assert late.in_flight == ["h1"]
