from callscope.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchCallRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class CallUpdate(_message.Message):
    __slots__ = ("transcript", "analysis", "alert", "summary")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    transcript: _events_pb2.TranscriptSegment
    analysis: _events_pb2.UtteranceAnalysis
    alert: _events_pb2.SupervisorAlert
    summary: _events_pb2.CallSummary
    def __init__(self, transcript: _Optional[_Union[_events_pb2.TranscriptSegment, _Mapping]] = ..., analysis: _Optional[_Union[_events_pb2.UtteranceAnalysis, _Mapping]] = ..., alert: _Optional[_Union[_events_pb2.SupervisorAlert, _Mapping]] = ..., summary: _Optional[_Union[_events_pb2.CallSummary, _Mapping]] = ...) -> None: ...

class WatchFloorRequest(_message.Message):
    __slots__ = ("queue", "team")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    queue: str
    team: str
    def __init__(self, queue: _Optional[str] = ..., team: _Optional[str] = ...) -> None: ...

class FloorUpdate(_message.Message):
    __slots__ = ("call_started", "call_ended", "alert")
    CALL_STARTED_FIELD_NUMBER: _ClassVar[int]
    CALL_ENDED_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    call_started: _events_pb2.CallStarted
    call_ended: _events_pb2.CallEnded
    alert: _events_pb2.SupervisorAlert
    def __init__(self, call_started: _Optional[_Union[_events_pb2.CallStarted, _Mapping]] = ..., call_ended: _Optional[_Union[_events_pb2.CallEnded, _Mapping]] = ..., alert: _Optional[_Union[_events_pb2.SupervisorAlert, _Mapping]] = ...) -> None: ...

class GetCallAnalysisRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class CallAnalysis(_message.Message):
    __slots__ = ("call_id", "utterances", "alerts", "summary")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    utterances: _containers.RepeatedCompositeFieldContainer[_events_pb2.UtteranceAnalysis]
    alerts: _containers.RepeatedCompositeFieldContainer[_events_pb2.SupervisorAlert]
    summary: _events_pb2.CallSummary
    def __init__(self, call_id: _Optional[str] = ..., utterances: _Optional[_Iterable[_Union[_events_pb2.UtteranceAnalysis, _Mapping]]] = ..., alerts: _Optional[_Iterable[_Union[_events_pb2.SupervisorAlert, _Mapping]]] = ..., summary: _Optional[_Union[_events_pb2.CallSummary, _Mapping]] = ...) -> None: ...

class AckAlertRequest(_message.Message):
    __slots__ = ("alert_id", "acknowledged_by")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    acknowledged_by: str
    def __init__(self, alert_id: _Optional[str] = ..., acknowledged_by: _Optional[str] = ...) -> None: ...

class AckAlertResponse(_message.Message):
    __slots__ = ("alert_id", "acknowledged")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    acknowledged: bool
    def __init__(self, alert_id: _Optional[str] = ..., acknowledged: _Optional[bool] = ...) -> None: ...
