"""The gateway's floor: changes applied in order, and each event shown only to who may see it."""

from __future__ import annotations

from callscope.v1 import common_pb2, events_pb2, supervisor_pb2
from callscope_console.domain.access import ConsoleUser
from callscope_console.domain.floor import FloorState

BEA = ConsoleUser("bea", "supervisor", frozenset({"billing"}))
ADA = ConsoleUser("ada", "admin", frozenset())


def started(call_id: str, queue: str) -> supervisor_pb2.FloorUpdate:
    return supervisor_pb2.FloorUpdate(
        call_started=events_pb2.CallStarted(
            call_id=call_id,
            queue=queue,
            agent_id="agent-1001",
            participants=[
                events_pb2.Participant(
                    aor="sip:+33612345678@x", channel=common_pb2.CHANNEL_CUSTOMER
                )
            ],
        )
    )


def alert(alert_id: str, call_id: str, queue: str, severity: int) -> supervisor_pb2.FloorUpdate:
    return supervisor_pb2.FloorUpdate(
        alert=events_pb2.SupervisorAlert(
            alert_id=alert_id, call_id=call_id, queue=queue, kind="human_request", severity=severity
        )
    )


def test_calls_come_and_go_and_alerts_stay_until_acknowledged() -> None:
    floor = FloorState()
    [event] = floor.apply(started("c1", "billing"))
    assert event.name == "call" and event.data["customer"] == "+33•••••••78"
    assert "33612345678" not in str(event.data)
    overview = supervisor_pb2.CallOverview(
        call_id="c1", queue="billing", live=True, categories=["billing_dispute"]
    )
    overview.customer_sentiment.label = "negative"
    overview.customer_sentiment.score = -0.6
    [event] = floor.apply(supervisor_pb2.FloorUpdate(call=overview))
    assert event.data["sentiment"] == {"score": -0.6, "label": "negative"}
    assert event.data["customer"] == "+33•••••••78"  # kept from CallStarted
    floor.apply(alert("a1", "c1", "billing", events_pb2.SupervisorAlert.SEVERITY_CRITICAL))
    assert floor.alert_queue("a1") == "billing"
    [ended] = floor.apply(supervisor_pb2.FloorUpdate(call_ended=events_pb2.CallEnded(call_id="c1")))
    assert ended.name == "call_ended" and ended.queue == "billing"
    assert floor.calls == {} and "a1" in floor.alerts
    ack = events_pb2.AlertAcknowledged(alert_id="a1", call_id="c1", acknowledged_by="bea")
    [event] = floor.apply(supervisor_pb2.FloorUpdate(acknowledged=ack))
    assert event.name == "acknowledged" and event.queue == "billing"  # from the known alert
    assert floor.alerts == {}


def test_a_call_overview_that_is_not_live_ends_the_call() -> None:
    floor = FloorState()
    floor.apply(started("c1", "billing"))
    overview = supervisor_pb2.CallOverview(call_id="c1", queue="billing", live=False)
    [event] = floor.apply(supervisor_pb2.FloorUpdate(call=overview))
    assert event.name == "call_ended" and floor.calls == {}


def test_events_are_filtered_by_queue_and_severity() -> None:
    floor = FloorState()
    [own] = floor.apply(started("c1", "billing"))
    [other] = floor.apply(started("c2", "support"))
    assert own.visible_to(BEA, ["billing"], "info")
    assert not other.visible_to(BEA, ["billing"], "info")
    assert not other.visible_to(BEA, None, "info")  # never, whatever the filter says
    assert other.visible_to(ADA, None, "info") and not other.visible_to(ADA, ["billing"], "info")
    [warning] = floor.apply(
        alert("a", "c1", "billing", events_pb2.SupervisorAlert.SEVERITY_WARNING)
    )
    assert warning.visible_to(BEA, ["billing"], "warning")
    assert not warning.visible_to(BEA, ["billing"], "critical")
    names = [e.name for e in floor.snapshot()]
    assert names == ["call", "call", "alert"]
