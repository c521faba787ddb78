import datetime

from callscope.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PurgeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURGE_STATUS_UNSPECIFIED: _ClassVar[PurgeStatus]
    PURGE_STATUS_DELETED: _ClassVar[PurgeStatus]
    PURGE_STATUS_ALREADY_GONE: _ClassVar[PurgeStatus]
    PURGE_STATUS_REFUSED_LOCKED: _ClassVar[PurgeStatus]
    PURGE_STATUS_FAILED: _ClassVar[PurgeStatus]
PURGE_STATUS_UNSPECIFIED: PurgeStatus
PURGE_STATUS_DELETED: PurgeStatus
PURGE_STATUS_ALREADY_GONE: PurgeStatus
PURGE_STATUS_REFUSED_LOCKED: PurgeStatus
PURGE_STATUS_FAILED: PurgeStatus

class Participant(_message.Message):
    __slots__ = ("participant_id", "aor", "display_name", "channel")
    PARTICIPANT_ID_FIELD_NUMBER: _ClassVar[int]
    AOR_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    participant_id: str
    aor: str
    display_name: str
    channel: _common_pb2.Channel
    def __init__(self, participant_id: _Optional[str] = ..., aor: _Optional[str] = ..., display_name: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ...) -> None: ...

class CallStarted(_message.Message):
    __slots__ = ("meta", "call_id", "source", "queue", "language", "participants", "started_at", "external_call_id", "sample_rate", "agent_id", "recording_mode", "recording", "tenant")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDING_MODE_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    source: str
    queue: str
    language: str
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    started_at: _timestamp_pb2.Timestamp
    external_call_id: str
    sample_rate: int
    agent_id: str
    recording_mode: str
    recording: bool
    tenant: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., source: _Optional[str] = ..., queue: _Optional[str] = ..., language: _Optional[str] = ..., participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., external_call_id: _Optional[str] = ..., sample_rate: _Optional[int] = ..., agent_id: _Optional[str] = ..., recording_mode: _Optional[str] = ..., recording: _Optional[bool] = ..., tenant: _Optional[str] = ...) -> None: ...

class ParticipantJoined(_message.Message):
    __slots__ = ("meta", "call_id", "participant")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    participant: Participant
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class RecordingPaused(_message.Message):
    __slots__ = ("meta", "call_id", "at_ms", "by", "reason", "source")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    at_ms: int
    by: str
    reason: str
    source: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., at_ms: _Optional[int] = ..., by: _Optional[str] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class RecordingResumed(_message.Message):
    __slots__ = ("meta", "call_id", "at_ms", "by", "gap_ms", "source", "reason")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    GAP_MS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    at_ms: int
    by: str
    gap_ms: int
    source: str
    reason: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., at_ms: _Optional[int] = ..., by: _Optional[str] = ..., gap_ms: _Optional[int] = ..., source: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordingStarted(_message.Message):
    __slots__ = ("meta", "call_id", "at_ms", "by", "reason")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    at_ms: int
    by: str
    reason: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., at_ms: _Optional[int] = ..., by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordingStopped(_message.Message):
    __slots__ = ("meta", "call_id", "at_ms", "by", "reason")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    at_ms: int
    by: str
    reason: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., at_ms: _Optional[int] = ..., by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ConsentRecorded(_message.Message):
    __slots__ = ("meta", "call_id", "announcement_played", "customer_opted_out", "decision", "at_ms", "source")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCEMENT_PLAYED_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    announcement_played: bool
    customer_opted_out: bool
    decision: str
    at_ms: int
    source: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., announcement_played: _Optional[bool] = ..., customer_opted_out: _Optional[bool] = ..., decision: _Optional[str] = ..., at_ms: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...

class CallEnded(_message.Message):
    __slots__ = ("meta", "call_id", "ended_at", "duration_ms", "reason", "last_segment_seq", "segments_per_channel")
    class SegmentsPerChannelEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_SEGMENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_PER_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    ended_at: _timestamp_pb2.Timestamp
    duration_ms: int
    reason: str
    last_segment_seq: int
    segments_per_channel: _containers.ScalarMap[str, int]
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[int] = ..., reason: _Optional[str] = ..., last_segment_seq: _Optional[int] = ..., segments_per_channel: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RecordingStored(_message.Message):
    __slots__ = ("meta", "call_id", "object_key", "bucket", "content_type", "size_bytes", "duration_ms", "channels", "sample_rate", "sha256", "queue", "tenant", "purposes", "gaps", "encryption", "proof_only", "lost_packets")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
    PROOF_ONLY_FIELD_NUMBER: _ClassVar[int]
    LOST_PACKETS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    object_key: str
    bucket: str
    content_type: str
    size_bytes: int
    duration_ms: int
    channels: int
    sample_rate: int
    sha256: str
    queue: str
    tenant: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    gaps: _containers.RepeatedCompositeFieldContainer[RecordingGap]
    encryption: str
    proof_only: bool
    lost_packets: int
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., object_key: _Optional[str] = ..., bucket: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., duration_ms: _Optional[int] = ..., channels: _Optional[int] = ..., sample_rate: _Optional[int] = ..., sha256: _Optional[str] = ..., queue: _Optional[str] = ..., tenant: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., gaps: _Optional[_Iterable[_Union[RecordingGap, _Mapping]]] = ..., encryption: _Optional[str] = ..., proof_only: _Optional[bool] = ..., lost_packets: _Optional[int] = ...) -> None: ...

class RecordingGap(_message.Message):
    __slots__ = ("start_ms", "duration_ms", "reason")
    START_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    start_ms: int
    duration_ms: int
    reason: str
    def __init__(self, start_ms: _Optional[int] = ..., duration_ms: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class AudioSegment(_message.Message):
    __slots__ = ("meta", "call_id", "channel", "seq", "start_ms", "duration_ms", "codec", "sample_rate", "audio", "last", "language", "rms_dbfs")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    RMS_DBFS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    channel: _common_pb2.Channel
    seq: int
    start_ms: int
    duration_ms: int
    codec: str
    sample_rate: int
    audio: bytes
    last: bool
    language: str
    rms_dbfs: float
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., seq: _Optional[int] = ..., start_ms: _Optional[int] = ..., duration_ms: _Optional[int] = ..., codec: _Optional[str] = ..., sample_rate: _Optional[int] = ..., audio: _Optional[bytes] = ..., last: _Optional[bool] = ..., language: _Optional[str] = ..., rms_dbfs: _Optional[float] = ...) -> None: ...

class Word(_message.Message):
    __slots__ = ("text", "start_ms", "end_ms", "probability")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    text: str
    start_ms: int
    end_ms: int
    probability: float
    def __init__(self, text: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., probability: _Optional[float] = ...) -> None: ...

class TranscriptSegment(_message.Message):
    __slots__ = ("meta", "call_id", "channel", "utterance_no", "version", "kind", "text", "words", "language", "confidence", "start_ms", "end_ms", "rms_dbfs")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[TranscriptSegment.Kind]
        KIND_PARTIAL: _ClassVar[TranscriptSegment.Kind]
        KIND_FINAL: _ClassVar[TranscriptSegment.Kind]
    KIND_UNSPECIFIED: TranscriptSegment.Kind
    KIND_PARTIAL: TranscriptSegment.Kind
    KIND_FINAL: TranscriptSegment.Kind
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_NO_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    RMS_DBFS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    channel: _common_pb2.Channel
    utterance_no: int
    version: int
    kind: TranscriptSegment.Kind
    text: str
    words: _containers.RepeatedCompositeFieldContainer[Word]
    language: str
    confidence: float
    start_ms: int
    end_ms: int
    rms_dbfs: float
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., utterance_no: _Optional[int] = ..., version: _Optional[int] = ..., kind: _Optional[_Union[TranscriptSegment.Kind, str]] = ..., text: _Optional[str] = ..., words: _Optional[_Iterable[_Union[Word, _Mapping]]] = ..., language: _Optional[str] = ..., confidence: _Optional[float] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., rms_dbfs: _Optional[float] = ...) -> None: ...

class TranscriptionDegraded(_message.Message):
    __slots__ = ("meta", "call_id", "level", "reason", "backlog_ms")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_MS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    level: str
    reason: str
    backlog_ms: int
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., level: _Optional[str] = ..., reason: _Optional[str] = ..., backlog_ms: _Optional[int] = ...) -> None: ...

class Sentiment(_message.Message):
    __slots__ = ("score", "label", "confidence")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    score: float
    label: str
    confidence: float
    def __init__(self, score: _Optional[float] = ..., label: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class UtteranceAnalysis(_message.Message):
    __slots__ = ("meta", "call_id", "channel", "utterance_no", "version", "sentiment", "categories", "keywords", "text", "start_ms", "end_ms", "language")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_NO_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    channel: _common_pb2.Channel
    utterance_no: int
    version: int
    sentiment: Sentiment
    categories: _containers.RepeatedScalarFieldContainer[str]
    keywords: _containers.RepeatedScalarFieldContainer[str]
    text: str
    start_ms: int
    end_ms: int
    language: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., utterance_no: _Optional[int] = ..., version: _Optional[int] = ..., sentiment: _Optional[_Union[Sentiment, _Mapping]] = ..., categories: _Optional[_Iterable[str]] = ..., keywords: _Optional[_Iterable[str]] = ..., text: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., language: _Optional[str] = ...) -> None: ...

class AlertEvidence(_message.Message):
    __slots__ = ("channel", "utterance_no", "text", "at_ms")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_NO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    channel: _common_pb2.Channel
    utterance_no: int
    text: str
    at_ms: int
    def __init__(self, channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., utterance_no: _Optional[int] = ..., text: _Optional[str] = ..., at_ms: _Optional[int] = ...) -> None: ...

class SupervisorAlert(_message.Message):
    __slots__ = ("meta", "alert_id", "call_id", "kind", "severity", "agent", "queue", "reason", "evidence", "at_ms", "raised_at", "rule_version")
    class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SEVERITY_UNSPECIFIED: _ClassVar[SupervisorAlert.Severity]
        SEVERITY_INFO: _ClassVar[SupervisorAlert.Severity]
        SEVERITY_WARNING: _ClassVar[SupervisorAlert.Severity]
        SEVERITY_CRITICAL: _ClassVar[SupervisorAlert.Severity]
    SEVERITY_UNSPECIFIED: SupervisorAlert.Severity
    SEVERITY_INFO: SupervisorAlert.Severity
    SEVERITY_WARNING: SupervisorAlert.Severity
    SEVERITY_CRITICAL: SupervisorAlert.Severity
    META_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    RULE_VERSION_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    alert_id: str
    call_id: str
    kind: str
    severity: SupervisorAlert.Severity
    agent: str
    queue: str
    reason: str
    evidence: _containers.RepeatedCompositeFieldContainer[AlertEvidence]
    at_ms: int
    raised_at: _timestamp_pb2.Timestamp
    rule_version: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., alert_id: _Optional[str] = ..., call_id: _Optional[str] = ..., kind: _Optional[str] = ..., severity: _Optional[_Union[SupervisorAlert.Severity, str]] = ..., agent: _Optional[str] = ..., queue: _Optional[str] = ..., reason: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[AlertEvidence, _Mapping]]] = ..., at_ms: _Optional[int] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rule_version: _Optional[str] = ...) -> None: ...

class AlertAcknowledged(_message.Message):
    __slots__ = ("meta", "alert_id", "call_id", "queue", "acknowledged_by", "acknowledged_at")
    META_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    alert_id: str
    call_id: str
    queue: str
    acknowledged_by: str
    acknowledged_at: _timestamp_pb2.Timestamp
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., alert_id: _Optional[str] = ..., call_id: _Optional[str] = ..., queue: _Optional[str] = ..., acknowledged_by: _Optional[str] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CallSummary(_message.Message):
    __slots__ = ("meta", "call_id", "customer_sentiment", "sentiment_by_quarter", "categories", "agent_talk_ms", "customer_talk_ms", "silence_ms", "overtalk_ms", "qa_score", "alert_ids")
    META_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_BY_QUARTER_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    AGENT_TALK_MS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_TALK_MS_FIELD_NUMBER: _ClassVar[int]
    SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    OVERTALK_MS_FIELD_NUMBER: _ClassVar[int]
    QA_SCORE_FIELD_NUMBER: _ClassVar[int]
    ALERT_IDS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    call_id: str
    customer_sentiment: Sentiment
    sentiment_by_quarter: _containers.RepeatedScalarFieldContainer[float]
    categories: _containers.RepeatedScalarFieldContainer[str]
    agent_talk_ms: int
    customer_talk_ms: int
    silence_ms: int
    overtalk_ms: int
    qa_score: float
    alert_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., call_id: _Optional[str] = ..., customer_sentiment: _Optional[_Union[Sentiment, _Mapping]] = ..., sentiment_by_quarter: _Optional[_Iterable[float]] = ..., categories: _Optional[_Iterable[str]] = ..., agent_talk_ms: _Optional[int] = ..., customer_talk_ms: _Optional[int] = ..., silence_ms: _Optional[int] = ..., overtalk_ms: _Optional[int] = ..., qa_score: _Optional[float] = ..., alert_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PurgeCall(_message.Message):
    __slots__ = ("meta", "request_id", "call_id", "reason", "data_kinds")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DATA_KINDS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    request_id: str
    call_id: str
    reason: str
    data_kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., request_id: _Optional[str] = ..., call_id: _Optional[str] = ..., reason: _Optional[str] = ..., data_kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class CallPurged(_message.Message):
    __slots__ = ("meta", "request_id", "call_id", "service", "objects_deleted", "rows_deleted", "status", "detail", "data_kinds", "content_sha256", "purged_at", "batch_id")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    ROWS_DELETED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DATA_KINDS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    PURGED_AT_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    request_id: str
    call_id: str
    service: str
    objects_deleted: int
    rows_deleted: int
    status: PurgeStatus
    detail: str
    data_kinds: _containers.RepeatedScalarFieldContainer[str]
    content_sha256: str
    purged_at: _timestamp_pb2.Timestamp
    batch_id: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., request_id: _Optional[str] = ..., call_id: _Optional[str] = ..., service: _Optional[str] = ..., objects_deleted: _Optional[int] = ..., rows_deleted: _Optional[int] = ..., status: _Optional[_Union[PurgeStatus, str]] = ..., detail: _Optional[str] = ..., data_kinds: _Optional[_Iterable[str]] = ..., content_sha256: _Optional[str] = ..., purged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., batch_id: _Optional[str] = ...) -> None: ...

class PurgeTarget(_message.Message):
    __slots__ = ("call_id", "data_kinds")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_KINDS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    data_kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, call_id: _Optional[str] = ..., data_kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class PurgeCalls(_message.Message):
    __slots__ = ("meta", "request_id", "batch_id", "reason", "targets")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    request_id: str
    batch_id: str
    reason: str
    targets: _containers.RepeatedCompositeFieldContainer[PurgeTarget]
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., request_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., reason: _Optional[str] = ..., targets: _Optional[_Iterable[_Union[PurgeTarget, _Mapping]]] = ...) -> None: ...

class CallsPurged(_message.Message):
    __slots__ = ("meta", "request_id", "batch_id", "service", "results")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    request_id: str
    batch_id: str
    service: str
    results: _containers.RepeatedCompositeFieldContainer[CallPurged]
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., request_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., service: _Optional[str] = ..., results: _Optional[_Iterable[_Union[CallPurged, _Mapping]]] = ...) -> None: ...

class ProtectRecording(_message.Message):
    __slots__ = ("meta", "request_id", "call_id", "retain_until", "legal_hold", "reason")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    LEGAL_HOLD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    request_id: str
    call_id: str
    retain_until: _timestamp_pb2.Timestamp
    legal_hold: bool
    reason: str
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., request_id: _Optional[str] = ..., call_id: _Optional[str] = ..., retain_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., legal_hold: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordingProtected(_message.Message):
    __slots__ = ("meta", "request_id", "call_id", "service", "lock_supported", "retain_until", "legal_hold", "detail", "found")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    LOCK_SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    LEGAL_HOLD_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    request_id: str
    call_id: str
    service: str
    lock_supported: bool
    retain_until: _timestamp_pb2.Timestamp
    legal_hold: bool
    detail: str
    found: bool
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., request_id: _Optional[str] = ..., call_id: _Optional[str] = ..., service: _Optional[str] = ..., lock_supported: _Optional[bool] = ..., retain_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., legal_hold: _Optional[bool] = ..., detail: _Optional[str] = ..., found: _Optional[bool] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("meta", "source_topic", "source_partition", "source_offset", "consumer_group", "error", "key", "value", "headers")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PARTITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_GROUP_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    meta: _common_pb2.EventMeta
    source_topic: str
    source_partition: int
    source_offset: int
    consumer_group: str
    error: str
    key: bytes
    value: bytes
    headers: _containers.ScalarMap[str, str]
    def __init__(self, meta: _Optional[_Union[_common_pb2.EventMeta, _Mapping]] = ..., source_topic: _Optional[str] = ..., source_partition: _Optional[int] = ..., source_offset: _Optional[int] = ..., consumer_group: _Optional[str] = ..., error: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., headers: _Optional[_Mapping[str, str]] = ...) -> None: ...
