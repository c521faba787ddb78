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

class CallMetadata(_message.Message):
    __slots__ = ("call_id", "queue", "language", "agent_id", "customer_number", "tenant", "external_call_id")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    queue: str
    language: str
    agent_id: str
    customer_number: str
    tenant: str
    external_call_id: str
    def __init__(self, call_id: _Optional[str] = ..., queue: _Optional[str] = ..., language: _Optional[str] = ..., agent_id: _Optional[str] = ..., customer_number: _Optional[str] = ..., tenant: _Optional[str] = ..., external_call_id: _Optional[str] = ...) -> None: ...

class AudioFrame(_message.Message):
    __slots__ = ("channel", "codec", "sample_rate", "audio")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    channel: _common_pb2.Channel
    codec: str
    sample_rate: int
    audio: bytes
    def __init__(self, channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., codec: _Optional[str] = ..., sample_rate: _Optional[int] = ..., audio: _Optional[bytes] = ...) -> None: ...

class StreamCallRequest(_message.Message):
    __slots__ = ("metadata", "frame")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    metadata: CallMetadata
    frame: AudioFrame
    def __init__(self, metadata: _Optional[_Union[CallMetadata, _Mapping]] = ..., frame: _Optional[_Union[AudioFrame, _Mapping]] = ...) -> None: ...

class StreamCallResponse(_message.Message):
    __slots__ = ("call_id", "object_key")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    object_key: str
    def __init__(self, call_id: _Optional[str] = ..., object_key: _Optional[str] = ...) -> None: ...

class SetRecordingRequest(_message.Message):
    __slots__ = ("call_id", "action", "reason", "requested_by")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTION_UNSPECIFIED: _ClassVar[SetRecordingRequest.Action]
        ACTION_START: _ClassVar[SetRecordingRequest.Action]
        ACTION_PAUSE: _ClassVar[SetRecordingRequest.Action]
        ACTION_RESUME: _ClassVar[SetRecordingRequest.Action]
        ACTION_STOP: _ClassVar[SetRecordingRequest.Action]
    ACTION_UNSPECIFIED: SetRecordingRequest.Action
    ACTION_START: SetRecordingRequest.Action
    ACTION_PAUSE: SetRecordingRequest.Action
    ACTION_RESUME: SetRecordingRequest.Action
    ACTION_STOP: SetRecordingRequest.Action
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    action: SetRecordingRequest.Action
    reason: str
    requested_by: str
    def __init__(self, call_id: _Optional[str] = ..., action: _Optional[_Union[SetRecordingRequest.Action, str]] = ..., reason: _Optional[str] = ..., requested_by: _Optional[str] = ...) -> None: ...

class SetRecordingResponse(_message.Message):
    __slots__ = ("call_id", "state")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    state: str
    def __init__(self, call_id: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...

class GetRecordingRequest(_message.Message):
    __slots__ = ("call_id", "requested_by", "purpose", "ttl_seconds")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    requested_by: str
    purpose: str
    ttl_seconds: int
    def __init__(self, call_id: _Optional[str] = ..., requested_by: _Optional[str] = ..., purpose: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class GetRecordingResponse(_message.Message):
    __slots__ = ("url", "expires_at_unix")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    url: str
    expires_at_unix: int
    def __init__(self, url: _Optional[str] = ..., expires_at_unix: _Optional[int] = ...) -> None: ...

class RecordingPolicy(_message.Message):
    __slots__ = ("tenant", "queue", "mode", "percentage", "opt_out_decision", "purposes", "updated_by", "updated_at", "version", "proof_retention_days")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[RecordingPolicy.Mode]
        MODE_ALL: _ClassVar[RecordingPolicy.Mode]
        MODE_PERCENTAGE: _ClassVar[RecordingPolicy.Mode]
        MODE_ON_DEMAND: _ClassVar[RecordingPolicy.Mode]
    MODE_UNSPECIFIED: RecordingPolicy.Mode
    MODE_ALL: RecordingPolicy.Mode
    MODE_PERCENTAGE: RecordingPolicy.Mode
    MODE_ON_DEMAND: RecordingPolicy.Mode
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    OPT_OUT_DECISION_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROOF_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    queue: str
    mode: RecordingPolicy.Mode
    percentage: float
    opt_out_decision: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    updated_by: str
    updated_at: _timestamp_pb2.Timestamp
    version: int
    proof_retention_days: int
    def __init__(self, tenant: _Optional[str] = ..., queue: _Optional[str] = ..., mode: _Optional[_Union[RecordingPolicy.Mode, str]] = ..., percentage: _Optional[float] = ..., opt_out_decision: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., updated_by: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., proof_retention_days: _Optional[int] = ...) -> None: ...

class GetRecordingPolicyRequest(_message.Message):
    __slots__ = ("tenant", "queue")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    queue: str
    def __init__(self, tenant: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class SetRecordingPolicyRequest(_message.Message):
    __slots__ = ("policy", "requested_by")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    policy: RecordingPolicy
    requested_by: str
    def __init__(self, policy: _Optional[_Union[RecordingPolicy, _Mapping]] = ..., requested_by: _Optional[str] = ...) -> None: ...

class ListRecordingPoliciesRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListRecordingPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[RecordingPolicy]
    def __init__(self, policies: _Optional[_Iterable[_Union[RecordingPolicy, _Mapping]]] = ...) -> None: ...
