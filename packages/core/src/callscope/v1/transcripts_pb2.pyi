from callscope.v1 import common_pb2 as _common_pb2
from callscope.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchTranscriptsRequest(_message.Message):
    __slots__ = ("query", "language", "call_ids", "limit", "requested_by", "purpose")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    query: str
    language: str
    call_ids: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    requested_by: str
    purpose: str
    def __init__(self, query: _Optional[str] = ..., language: _Optional[str] = ..., call_ids: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., requested_by: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class TranscriptHit(_message.Message):
    __slots__ = ("call_id", "channel", "utterance_no", "version", "text", "snippet", "language", "start_ms", "rank")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_NO_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    channel: _common_pb2.Channel
    utterance_no: int
    version: int
    text: str
    snippet: str
    language: str
    start_ms: int
    rank: float
    def __init__(self, call_id: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., utterance_no: _Optional[int] = ..., version: _Optional[int] = ..., text: _Optional[str] = ..., snippet: _Optional[str] = ..., language: _Optional[str] = ..., start_ms: _Optional[int] = ..., rank: _Optional[float] = ...) -> None: ...

class SearchTranscriptsResponse(_message.Message):
    __slots__ = ("hits", "withheld_calls")
    HITS_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_CALLS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[TranscriptHit]
    withheld_calls: int
    def __init__(self, hits: _Optional[_Iterable[_Union[TranscriptHit, _Mapping]]] = ..., withheld_calls: _Optional[int] = ...) -> None: ...

class GetTranscriptRequest(_message.Message):
    __slots__ = ("call_id", "version", "requested_by", "purpose")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    version: int
    requested_by: str
    purpose: str
    def __init__(self, call_id: _Optional[str] = ..., version: _Optional[int] = ..., requested_by: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class Transcript(_message.Message):
    __slots__ = ("call_id", "version", "segments")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    version: int
    segments: _containers.RepeatedCompositeFieldContainer[_events_pb2.TranscriptSegment]
    def __init__(self, call_id: _Optional[str] = ..., version: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[_events_pb2.TranscriptSegment, _Mapping]]] = ...) -> None: ...
