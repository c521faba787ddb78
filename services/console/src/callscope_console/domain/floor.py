"""The floor as the gateway keeps it: live calls and open alerts, from one upstream WatchFloor.

Each change is turned into page events tagged with the queue they belong to, so the gateway
can hand every browser only the events of the queues its user may see."""

from __future__ import annotations

from dataclasses import dataclass, field

from callscope.v1 import supervisor_pb2

from .access import ConsoleUser
from .views import (
    SEVERITY_RANK,
    View,
    acknowledged_view,
    alert_view,
    overview_view,
    started_view,
)


@dataclass(frozen=True)
class FloorEvent:
    name: str  # call | call_ended | alert | acknowledged
    queue: str
    data: View

    def visible_to(self, user: ConsoleUser, queues: list[str] | None, min_severity: str) -> bool:
        if not user.sees_queue(self.queue):
            return False
        if queues is not None and self.queue not in queues:
            return False
        if self.name == "alert":
            return SEVERITY_RANK.get(self.data["severity"], 0) >= SEVERITY_RANK[min_severity]
        return True


@dataclass
class FloorState:
    calls: dict[str, View] = field(default_factory=dict)
    alerts: dict[str, View] = field(default_factory=dict)

    def clear(self) -> None:
        self.calls.clear()
        self.alerts.clear()

    def snapshot(self) -> list[FloorEvent]:
        """The current floor as events a new page applies in order."""
        events = [FloorEvent("call", c["queue"], c) for c in self.calls.values()]
        events += [FloorEvent("alert", a["queue"], a) for a in self.alerts.values()]
        return events

    def apply(self, update: supervisor_pb2.FloorUpdate) -> list[FloorEvent]:
        kind = update.WhichOneof("update")
        if kind == "call_started":
            view = started_view(update.call_started)
            return [self._upsert_call(view)]
        if kind == "call":
            view = overview_view(update.call)
            if not view["live"]:
                return self._end_call(view["call_id"])
            return [self._upsert_call(view)]
        if kind == "call_ended":
            return self._end_call(update.call_ended.call_id)
        if kind == "alert":
            view = alert_view(update.alert)
            if not view["queue"]:
                view["queue"] = self.calls.get(view["call_id"], {}).get("queue", "")
            self.alerts[view["alert_id"]] = view
            return [FloorEvent("alert", view["queue"], view)]
        if kind == "acknowledged":
            view = acknowledged_view(update.acknowledged)
            known = self.alerts.pop(view["alert_id"], None)
            if not view["queue"] and known:
                view["queue"] = known["queue"]
            return [FloorEvent("acknowledged", view["queue"], view)]
        return []

    def alert_queue(self, alert_id: str) -> str | None:
        alert = self.alerts.get(alert_id)
        return alert["queue"] if alert else None

    def _upsert_call(self, view: View) -> FloorEvent:
        known = self.calls.get(view["call_id"])
        if known:
            # A CallOverview may lack what CallStarted gave (e.g. the number): keep it.
            view = {**known, **{k: v for k, v in view.items() if v not in ("", None, [])}}
        self.calls[view["call_id"]] = view
        return FloorEvent("call", view["queue"], view)

    def _end_call(self, call_id: str) -> list[FloorEvent]:
        known = self.calls.pop(call_id, None)
        queue = known["queue"] if known else ""
        return [FloorEvent("call_ended", queue, {"call_id": call_id, "queue": queue})]
