import datetime

from callscope.v1 import events_pb2 as _events_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchCallRequest(_message.Message):
    __slots__ = ("call_id", "requested_by", "purpose")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    requested_by: str
    purpose: str
    def __init__(self, call_id: _Optional[str] = ..., requested_by: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class CallUpdate(_message.Message):
    __slots__ = ("transcript", "analysis", "alert", "summary", "acknowledged", "call")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    transcript: _events_pb2.TranscriptSegment
    analysis: _events_pb2.UtteranceAnalysis
    alert: _events_pb2.SupervisorAlert
    summary: _events_pb2.CallSummary
    acknowledged: _events_pb2.AlertAcknowledged
    call: CallOverview
    def __init__(self, transcript: _Optional[_Union[_events_pb2.TranscriptSegment, _Mapping]] = ..., analysis: _Optional[_Union[_events_pb2.UtteranceAnalysis, _Mapping]] = ..., alert: _Optional[_Union[_events_pb2.SupervisorAlert, _Mapping]] = ..., summary: _Optional[_Union[_events_pb2.CallSummary, _Mapping]] = ..., acknowledged: _Optional[_Union[_events_pb2.AlertAcknowledged, _Mapping]] = ..., call: _Optional[_Union[CallOverview, _Mapping]] = ...) -> None: ...

class WatchFloorRequest(_message.Message):
    __slots__ = ("queue", "team", "queues", "requested_by")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    queue: str
    team: str
    queues: _containers.RepeatedScalarFieldContainer[str]
    requested_by: str
    def __init__(self, queue: _Optional[str] = ..., team: _Optional[str] = ..., queues: _Optional[_Iterable[str]] = ..., requested_by: _Optional[str] = ...) -> None: ...

class FloorUpdate(_message.Message):
    __slots__ = ("call_started", "call_ended", "alert", "acknowledged", "call")
    CALL_STARTED_FIELD_NUMBER: _ClassVar[int]
    CALL_ENDED_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    call_started: _events_pb2.CallStarted
    call_ended: _events_pb2.CallEnded
    alert: _events_pb2.SupervisorAlert
    acknowledged: _events_pb2.AlertAcknowledged
    call: CallOverview
    def __init__(self, call_started: _Optional[_Union[_events_pb2.CallStarted, _Mapping]] = ..., call_ended: _Optional[_Union[_events_pb2.CallEnded, _Mapping]] = ..., alert: _Optional[_Union[_events_pb2.SupervisorAlert, _Mapping]] = ..., acknowledged: _Optional[_Union[_events_pb2.AlertAcknowledged, _Mapping]] = ..., call: _Optional[_Union[CallOverview, _Mapping]] = ...) -> None: ...

class CallOverview(_message.Message):
    __slots__ = ("call_id", "queue", "agent_id", "customer_number", "language", "started_at", "ended_at", "duration_ms", "customer_sentiment", "categories", "open_alerts", "live")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    OPEN_ALERTS_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    queue: str
    agent_id: str
    customer_number: str
    language: str
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    duration_ms: int
    customer_sentiment: _events_pb2.Sentiment
    categories: _containers.RepeatedScalarFieldContainer[str]
    open_alerts: int
    live: bool
    def __init__(self, call_id: _Optional[str] = ..., queue: _Optional[str] = ..., agent_id: _Optional[str] = ..., customer_number: _Optional[str] = ..., language: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[int] = ..., customer_sentiment: _Optional[_Union[_events_pb2.Sentiment, _Mapping]] = ..., categories: _Optional[_Iterable[str]] = ..., open_alerts: _Optional[int] = ..., live: _Optional[bool] = ...) -> None: ...

class GetCallAnalysisRequest(_message.Message):
    __slots__ = ("call_id", "requested_by", "purpose")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    requested_by: str
    purpose: str
    def __init__(self, call_id: _Optional[str] = ..., requested_by: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class CallAnalysis(_message.Message):
    __slots__ = ("call_id", "utterances", "alerts", "summary", "call", "acknowledged_alert_ids")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_ALERT_IDS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    utterances: _containers.RepeatedCompositeFieldContainer[_events_pb2.UtteranceAnalysis]
    alerts: _containers.RepeatedCompositeFieldContainer[_events_pb2.SupervisorAlert]
    summary: _events_pb2.CallSummary
    call: CallOverview
    acknowledged_alert_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, call_id: _Optional[str] = ..., utterances: _Optional[_Iterable[_Union[_events_pb2.UtteranceAnalysis, _Mapping]]] = ..., alerts: _Optional[_Iterable[_Union[_events_pb2.SupervisorAlert, _Mapping]]] = ..., summary: _Optional[_Union[_events_pb2.CallSummary, _Mapping]] = ..., call: _Optional[_Union[CallOverview, _Mapping]] = ..., acknowledged_alert_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AckAlertRequest(_message.Message):
    __slots__ = ("alert_id", "acknowledged_by")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    acknowledged_by: str
    def __init__(self, alert_id: _Optional[str] = ..., acknowledged_by: _Optional[str] = ...) -> None: ...

class AckAlertResponse(_message.Message):
    __slots__ = ("alert_id", "acknowledged", "call_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    acknowledged: bool
    call_id: str
    def __init__(self, alert_id: _Optional[str] = ..., acknowledged: _Optional[bool] = ..., call_id: _Optional[str] = ...) -> None: ...

class SearchCallsRequest(_message.Message):
    __slots__ = ("call_ids", "agent_id", "queues", "started_from", "started_to", "category", "sentiment_label", "limit", "requested_by")
    CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    STARTED_FROM_FIELD_NUMBER: _ClassVar[int]
    STARTED_TO_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_LABEL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    call_ids: _containers.RepeatedScalarFieldContainer[str]
    agent_id: str
    queues: _containers.RepeatedScalarFieldContainer[str]
    started_from: _timestamp_pb2.Timestamp
    started_to: _timestamp_pb2.Timestamp
    category: str
    sentiment_label: str
    limit: int
    requested_by: str
    def __init__(self, call_ids: _Optional[_Iterable[str]] = ..., agent_id: _Optional[str] = ..., queues: _Optional[_Iterable[str]] = ..., started_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., category: _Optional[str] = ..., sentiment_label: _Optional[str] = ..., limit: _Optional[int] = ..., requested_by: _Optional[str] = ...) -> None: ...

class SearchCallsResponse(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[CallOverview]
    def __init__(self, calls: _Optional[_Iterable[_Union[CallOverview, _Mapping]]] = ...) -> None: ...
