"""The topic catalogue: a public API. Names, keys, partitions and message types live here once.

docs/asyncapi.yaml documents the same catalogue; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int
    messages: tuple[str, ...]
    description: str


CALL_EVENTS = Topic(
    "callscope.call.events",
    "call_id",
    6,
    (
        "CallStarted",
        "ParticipantJoined",
        "RecordingPaused",
        "RecordingResumed",
        "RecordingStarted",
        "RecordingStopped",
        "ConsentRecorded",
        "CallEnded",
        "RecordingStored",
    ),
    "Lifecycle of each call, as seen by the recorder.",
)
AUDIO_SEGMENTS = Topic(
    "callscope.audio.segments",
    "call_id",
    12,
    ("AudioSegment",),
    "About one second of PCM audio per message, per call and channel, in order per call.",
)
TRANSCRIPTS = Topic(
    "callscope.transcripts",
    "call_id",
    6,
    ("TranscriptSegment", "TranscriptionDegraded"),
    "Partial and final transcript segments; finals are idempotent by "
    "(call_id, channel, utterance_no, version).",
)
ANALYSIS = Topic(
    "callscope.analysis", "call_id", 6, ("UtteranceAnalysis",), "Per-utterance analysis."
)
ALERTS = Topic(
    "callscope.alerts",
    "call_id",
    3,
    ("SupervisorAlert", "AlertAcknowledged"),
    "The live feed of alerts supervisors and other systems act on.",
)
CALL_SUMMARIES = Topic(
    "callscope.call.summaries", "call_id", 3, ("CallSummary",), "One summary per call."
)
RETENTION_COMMANDS = Topic(
    "callscope.retention.commands",
    "batch_id (PurgeCalls) or call_id",
    3,
    ("PurgeCall", "PurgeCalls", "ProtectRecording"),
    "Commands from retention to the services that hold call data.",
)
RETENTION_EVENTS = Topic(
    "callscope.retention.events",
    "batch_id (CallsPurged) or call_id",
    3,
    ("CallPurged", "CallsPurged", "RecordingProtected"),
    "Confirmations from the services that executed a retention command.",
)
DEADLETTER = Topic(
    "callscope.deadletter",
    "source key",
    1,
    ("DeadLetter",),
    "Records a consumer could not decode or process, parked with the reason.",
)

ALL_TOPICS: tuple[Topic, ...] = (
    CALL_EVENTS,
    AUDIO_SEGMENTS,
    TRANSCRIPTS,
    ANALYSIS,
    ALERTS,
    CALL_SUMMARIES,
    RETENTION_COMMANDS,
    RETENTION_EVENTS,
    DEADLETTER,
)
