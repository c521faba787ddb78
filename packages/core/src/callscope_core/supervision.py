"""Shared by every reader of the Supervisor API's call stream (the analyzer replaying stored
state against live updates, the console resuming a browser's stream)."""

from __future__ import annotations

from callscope.v1 import events_pb2, supervisor_pb2


def call_update_key(update: supervisor_pb2.CallUpdate) -> tuple[object, ...] | None:
    """The natural key of a CallUpdate that must be delivered once; None for updates that may
    repeat (partials, which the next partial or the final replaces anyway, overviews)."""
    kind = update.WhichOneof("update")
    if kind == "transcript" and update.transcript.kind == events_pb2.TranscriptSegment.KIND_FINAL:
        t = update.transcript
        return ("final", t.channel, t.utterance_no, t.version)
    if kind == "analysis":
        a = update.analysis
        return ("analysis", a.channel, a.utterance_no, a.version)
    if kind == "alert":
        return ("alert", update.alert.alert_id)
    if kind == "acknowledged":
        return ("acknowledged", update.acknowledged.alert_id)
    return None
