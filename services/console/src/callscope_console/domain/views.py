"""What the page receives: plain JSON views of the gRPC messages, customer numbers masked.

The page never sees a raw customer number nor anything the gateway did not pick here."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from callscope.v1 import common_pb2, events_pb2, supervisor_pb2

from .masking import mask_number

SEVERITIES = {
    events_pb2.SupervisorAlert.SEVERITY_INFO: "info",
    events_pb2.SupervisorAlert.SEVERITY_WARNING: "warning",
    events_pb2.SupervisorAlert.SEVERITY_CRITICAL: "critical",
}
SEVERITY_RANK = {"info": 1, "warning": 2, "critical": 3}
CHANNELS = {common_pb2.CHANNEL_CUSTOMER: "customer", common_pb2.CHANNEL_AGENT: "agent"}

View = dict[str, Any]


def _ms(stamp: Timestamp) -> int | None:
    return stamp.ToMilliseconds() if stamp.seconds or stamp.nanos else None


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


def severity_name(severity: int) -> str:
    return SEVERITIES.get(severity, "info")


def sentiment_view(sentiment: events_pb2.Sentiment) -> View | None:
    if not sentiment.label:
        return None
    return {"score": _finite(sentiment.score), "label": sentiment.label}


def overview_view(call: supervisor_pb2.CallOverview) -> View:
    return {
        "call_id": call.call_id,
        "queue": call.queue,
        "agent": call.agent_id,
        "customer": mask_number(call.customer_number),
        "language": call.language,
        "started_at_ms": _ms(call.started_at),
        "ended_at_ms": _ms(call.ended_at),
        "duration_ms": call.duration_ms,
        "sentiment": sentiment_view(call.customer_sentiment),
        "categories": list(call.categories),
        "open_alerts": call.open_alerts,
        "live": call.live,
    }


def started_view(started: events_pb2.CallStarted) -> View:
    """A call that just began (before the analyzer has an overview of it)."""
    by_channel = {p.channel: p for p in started.participants}
    customer = by_channel.get(common_pb2.CHANNEL_CUSTOMER)
    agent = by_channel.get(common_pb2.CHANNEL_AGENT)
    return {
        "call_id": started.call_id,
        "queue": started.queue,
        "agent": started.agent_id or (agent.aor if agent else ""),
        "customer": mask_number(customer.aor if customer else ""),
        "language": started.language,
        "started_at_ms": _ms(started.started_at),
        "ended_at_ms": None,
        "duration_ms": 0,
        "sentiment": None,
        "categories": [],
        "open_alerts": 0,
        "live": True,
    }


def alert_view(alert: events_pb2.SupervisorAlert) -> View:
    return {
        "alert_id": alert.alert_id,
        "call_id": alert.call_id,
        "queue": alert.queue,
        "agent": alert.agent,
        "rule": alert.kind,
        "severity": severity_name(alert.severity),
        "reason": alert.reason,
        "at_ms": alert.at_ms,
        "raised_at_ms": _ms(alert.raised_at),
        "evidence": [
            {
                "channel": CHANNELS.get(e.channel, "unknown"),
                "utterance_no": e.utterance_no,
                "text": e.text,
                "at_ms": e.at_ms,
            }
            for e in alert.evidence
        ],
    }


def acknowledged_view(ack: events_pb2.AlertAcknowledged) -> View:
    return {
        "alert_id": ack.alert_id,
        "call_id": ack.call_id,
        "queue": ack.queue,
        "by": ack.acknowledged_by,
        "at_ms": _ms(ack.acknowledged_at),
    }


def segment_view(segment: events_pb2.TranscriptSegment) -> View:
    return {
        "channel": CHANNELS.get(segment.channel, "unknown"),
        "utterance_no": segment.utterance_no,
        "version": segment.version,
        "final": segment.kind == events_pb2.TranscriptSegment.KIND_FINAL,
        "text": segment.text,
        "language": segment.language,
        "start_ms": segment.start_ms,
        "end_ms": segment.end_ms,
    }


def analysis_view(analysis: events_pb2.UtteranceAnalysis) -> View:
    return {
        "channel": CHANNELS.get(analysis.channel, "unknown"),
        "utterance_no": analysis.utterance_no,
        "version": analysis.version,
        "sentiment": sentiment_view(analysis.sentiment),
        "categories": list(analysis.categories),
        "keywords": list(analysis.keywords),
        "start_ms": analysis.start_ms,
        "end_ms": analysis.end_ms,
    }


def summary_view(summary: events_pb2.CallSummary) -> View:
    return {
        "call_id": summary.call_id,
        "sentiment": sentiment_view(summary.customer_sentiment),
        "sentiment_by_quarter": [_finite(q) for q in summary.sentiment_by_quarter],
        "categories": list(summary.categories),
        "agent_talk_ms": summary.agent_talk_ms,
        "customer_talk_ms": summary.customer_talk_ms,
        "silence_ms": summary.silence_ms,
        "overtalk_ms": summary.overtalk_ms,
        "qa_score": _finite(summary.qa_score),
        "alert_ids": list(summary.alert_ids),
    }


def call_update_event(update: supervisor_pb2.CallUpdate) -> tuple[str, View] | None:
    """(SSE event name, data) for one WatchCall update; None for kinds the page ignores."""
    kind = update.WhichOneof("update")
    if kind == "transcript":
        return "transcript", segment_view(update.transcript)
    if kind == "analysis":
        return "analysis", analysis_view(update.analysis)
    if kind == "alert":
        return "alert", alert_view(update.alert)
    if kind == "acknowledged":
        return "acknowledged", acknowledged_view(update.acknowledged)
    if kind == "summary":
        return "summary", summary_view(update.summary)
    if kind == "call":
        return "call", overview_view(update.call)
    return None
