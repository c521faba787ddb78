import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetRecordingRetentionRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class RecordingRetention(_message.Message):
    __slots__ = ("call_id", "object_key", "purposes", "expires_at", "on_hold")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ON_HOLD_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    object_key: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    on_hold: bool
    def __init__(self, call_id: _Optional[str] = ..., object_key: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., on_hold: _Optional[bool] = ...) -> None: ...

class PlaceLegalHoldRequest(_message.Message):
    __slots__ = ("call_id", "customer", "reason", "placed_by")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PLACED_BY_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    customer: str
    reason: str
    placed_by: str
    def __init__(self, call_id: _Optional[str] = ..., customer: _Optional[str] = ..., reason: _Optional[str] = ..., placed_by: _Optional[str] = ...) -> None: ...

class LegalHold(_message.Message):
    __slots__ = ("hold_id", "reason")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    reason: str
    def __init__(self, hold_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseSubjectRequest(_message.Message):
    __slots__ = ("customer", "requested_by")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    customer: str
    requested_by: str
    def __init__(self, customer: _Optional[str] = ..., requested_by: _Optional[str] = ...) -> None: ...

class ErasureReport(_message.Message):
    __slots__ = ("request_id", "erased_call_ids", "kept_call_ids")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    KEPT_CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    erased_call_ids: _containers.RepeatedScalarFieldContainer[str]
    kept_call_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., erased_call_ids: _Optional[_Iterable[str]] = ..., kept_call_ids: _Optional[_Iterable[str]] = ...) -> None: ...
