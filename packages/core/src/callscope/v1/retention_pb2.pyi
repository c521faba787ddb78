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

class PurposeWindow(_message.Message):
    __slots__ = ("purpose", "expires_at", "active", "data_kinds")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    DATA_KINDS_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    expires_at: _timestamp_pb2.Timestamp
    active: bool
    data_kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, purpose: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ..., data_kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class DataItem(_message.Message):
    __slots__ = ("data_kind", "service", "expires_at", "state")
    DATA_KIND_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    data_kind: str
    service: str
    expires_at: _timestamp_pb2.Timestamp
    state: str
    def __init__(self, data_kind: _Optional[str] = ..., service: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[str] = ...) -> None: ...

class RecordingRetention(_message.Message):
    __slots__ = ("call_id", "object_key", "purposes", "expires_at", "on_hold", "windows", "state", "policy_version", "hold_ids", "lock_until", "items", "tenant", "queue")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ON_HOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOLD_IDS_FIELD_NUMBER: _ClassVar[int]
    LOCK_UNTIL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    object_key: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    on_hold: bool
    windows: _containers.RepeatedCompositeFieldContainer[PurposeWindow]
    state: str
    policy_version: int
    hold_ids: _containers.RepeatedScalarFieldContainer[str]
    lock_until: _timestamp_pb2.Timestamp
    items: _containers.RepeatedCompositeFieldContainer[DataItem]
    tenant: str
    queue: str
    def __init__(self, call_id: _Optional[str] = ..., object_key: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., on_hold: _Optional[bool] = ..., windows: _Optional[_Iterable[_Union[PurposeWindow, _Mapping]]] = ..., state: _Optional[str] = ..., policy_version: _Optional[int] = ..., hold_ids: _Optional[_Iterable[str]] = ..., lock_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., items: _Optional[_Iterable[_Union[DataItem, _Mapping]]] = ..., tenant: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class PlaceLegalHoldRequest(_message.Message):
    __slots__ = ("call_id", "customer", "reason", "placed_by", "agent_id", "range_from", "range_to", "tenant")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PLACED_BY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RANGE_FROM_FIELD_NUMBER: _ClassVar[int]
    RANGE_TO_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    customer: str
    reason: str
    placed_by: str
    agent_id: str
    range_from: _timestamp_pb2.Timestamp
    range_to: _timestamp_pb2.Timestamp
    tenant: str
    def __init__(self, call_id: _Optional[str] = ..., customer: _Optional[str] = ..., reason: _Optional[str] = ..., placed_by: _Optional[str] = ..., agent_id: _Optional[str] = ..., range_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., range_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant: _Optional[str] = ...) -> None: ...

class LegalHold(_message.Message):
    __slots__ = ("hold_id", "reason", "scope", "subject", "placed_by", "placed_at", "released_at", "released_by", "release_reason", "calls_covered", "in_flight_call_ids", "range_from", "range_to", "tenant")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PLACED_BY_FIELD_NUMBER: _ClassVar[int]
    PLACED_AT_FIELD_NUMBER: _ClassVar[int]
    RELEASED_AT_FIELD_NUMBER: _ClassVar[int]
    RELEASED_BY_FIELD_NUMBER: _ClassVar[int]
    RELEASE_REASON_FIELD_NUMBER: _ClassVar[int]
    CALLS_COVERED_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FROM_FIELD_NUMBER: _ClassVar[int]
    RANGE_TO_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    reason: str
    scope: str
    subject: str
    placed_by: str
    placed_at: _timestamp_pb2.Timestamp
    released_at: _timestamp_pb2.Timestamp
    released_by: str
    release_reason: str
    calls_covered: int
    in_flight_call_ids: _containers.RepeatedScalarFieldContainer[str]
    range_from: _timestamp_pb2.Timestamp
    range_to: _timestamp_pb2.Timestamp
    tenant: str
    def __init__(self, hold_id: _Optional[str] = ..., reason: _Optional[str] = ..., scope: _Optional[str] = ..., subject: _Optional[str] = ..., placed_by: _Optional[str] = ..., placed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., released_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., released_by: _Optional[str] = ..., release_reason: _Optional[str] = ..., calls_covered: _Optional[int] = ..., in_flight_call_ids: _Optional[_Iterable[str]] = ..., range_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., range_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant: _Optional[str] = ...) -> None: ...

class ReleaseLegalHoldRequest(_message.Message):
    __slots__ = ("hold_id", "released_by", "reason")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    released_by: str
    reason: str
    def __init__(self, hold_id: _Optional[str] = ..., released_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListLegalHoldsRequest(_message.Message):
    __slots__ = ("include_released",)
    INCLUDE_RELEASED_FIELD_NUMBER: _ClassVar[int]
    include_released: bool
    def __init__(self, include_released: _Optional[bool] = ...) -> None: ...

class ListLegalHoldsResponse(_message.Message):
    __slots__ = ("holds",)
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    holds: _containers.RepeatedCompositeFieldContainer[LegalHold]
    def __init__(self, holds: _Optional[_Iterable[_Union[LegalHold, _Mapping]]] = ...) -> None: ...

class EraseSubjectRequest(_message.Message):
    __slots__ = ("customer", "requested_by", "reason")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    customer: str
    requested_by: str
    reason: str
    def __init__(self, customer: _Optional[str] = ..., requested_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ServiceConfirmation(_message.Message):
    __slots__ = ("service", "status", "confirmed_at", "objects_deleted", "rows_deleted", "content_sha256", "detail", "data_kinds")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_AT_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    ROWS_DELETED_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DATA_KINDS_FIELD_NUMBER: _ClassVar[int]
    service: str
    status: str
    confirmed_at: _timestamp_pb2.Timestamp
    objects_deleted: int
    rows_deleted: int
    content_sha256: str
    detail: str
    data_kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service: _Optional[str] = ..., status: _Optional[str] = ..., confirmed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., objects_deleted: _Optional[int] = ..., rows_deleted: _Optional[int] = ..., content_sha256: _Optional[str] = ..., detail: _Optional[str] = ..., data_kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class KeptData(_message.Message):
    __slots__ = ("data_kind", "reason", "legal_basis", "kept_until")
    DATA_KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    KEPT_UNTIL_FIELD_NUMBER: _ClassVar[int]
    data_kind: str
    reason: str
    legal_basis: str
    kept_until: _timestamp_pb2.Timestamp
    def __init__(self, data_kind: _Optional[str] = ..., reason: _Optional[str] = ..., legal_basis: _Optional[str] = ..., kept_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ErasureCall(_message.Message):
    __slots__ = ("call_id", "erased_kinds", "kept", "confirmations", "recording_sha256")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_KINDS_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATIONS_FIELD_NUMBER: _ClassVar[int]
    RECORDING_SHA256_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    erased_kinds: _containers.RepeatedScalarFieldContainer[str]
    kept: _containers.RepeatedCompositeFieldContainer[KeptData]
    confirmations: _containers.RepeatedCompositeFieldContainer[ServiceConfirmation]
    recording_sha256: str
    def __init__(self, call_id: _Optional[str] = ..., erased_kinds: _Optional[_Iterable[str]] = ..., kept: _Optional[_Iterable[_Union[KeptData, _Mapping]]] = ..., confirmations: _Optional[_Iterable[_Union[ServiceConfirmation, _Mapping]]] = ..., recording_sha256: _Optional[str] = ...) -> None: ...

class ErasureReport(_message.Message):
    __slots__ = ("request_id", "erased_call_ids", "kept_call_ids", "status", "complete", "calls", "subject_hash", "requested_by", "requested_at", "completed_at", "report_json", "report_sha256", "audit_seq", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    KEPT_CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    REPORT_SHA256_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    erased_call_ids: _containers.RepeatedScalarFieldContainer[str]
    kept_call_ids: _containers.RepeatedScalarFieldContainer[str]
    status: str
    complete: bool
    calls: _containers.RepeatedCompositeFieldContainer[ErasureCall]
    subject_hash: str
    requested_by: str
    requested_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    report_json: str
    report_sha256: str
    audit_seq: int
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., erased_call_ids: _Optional[_Iterable[str]] = ..., kept_call_ids: _Optional[_Iterable[str]] = ..., status: _Optional[str] = ..., complete: _Optional[bool] = ..., calls: _Optional[_Iterable[_Union[ErasureCall, _Mapping]]] = ..., subject_hash: _Optional[str] = ..., requested_by: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., report_json: _Optional[str] = ..., report_sha256: _Optional[str] = ..., audit_seq: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GetErasureReportRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class PlanPurgeRequest(_message.Message):
    __slots__ = ("as_of", "limit")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    limit: int
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class PlannedItem(_message.Message):
    __slots__ = ("call_id", "data_kinds", "expires_at", "tenant", "queue")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_KINDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    data_kinds: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    tenant: str
    queue: str
    def __init__(self, call_id: _Optional[str] = ..., data_kinds: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class KeptItem(_message.Message):
    __slots__ = ("call_id", "data_kind", "reason")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    data_kind: str
    reason: str
    def __init__(self, call_id: _Optional[str] = ..., data_kind: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PurgePlan(_message.Message):
    __slots__ = ("as_of", "calls", "items_by_kind", "held_items", "locked_items", "in_flight_items", "sample", "kept_sample", "policy_version")
    class ItemsByKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_BY_KIND_FIELD_NUMBER: _ClassVar[int]
    HELD_ITEMS_FIELD_NUMBER: _ClassVar[int]
    LOCKED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    KEPT_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    calls: int
    items_by_kind: _containers.ScalarMap[str, int]
    held_items: int
    locked_items: int
    in_flight_items: int
    sample: _containers.RepeatedCompositeFieldContainer[PlannedItem]
    kept_sample: _containers.RepeatedCompositeFieldContainer[KeptItem]
    policy_version: int
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., calls: _Optional[int] = ..., items_by_kind: _Optional[_Mapping[str, int]] = ..., held_items: _Optional[int] = ..., locked_items: _Optional[int] = ..., in_flight_items: _Optional[int] = ..., sample: _Optional[_Iterable[_Union[PlannedItem, _Mapping]]] = ..., kept_sample: _Optional[_Iterable[_Union[KeptItem, _Mapping]]] = ..., policy_version: _Optional[int] = ...) -> None: ...

class RunPurgeRequest(_message.Message):
    __slots__ = ("requested_by",)
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    requested_by: str
    def __init__(self, requested_by: _Optional[str] = ...) -> None: ...

class PurgeRunStatus(_message.Message):
    __slots__ = ("request_id", "kind", "status", "calls", "items", "items_confirmed", "items_refused", "started_at", "finished_at", "pending_by_service")
    class PendingByServiceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    ITEMS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PENDING_BY_SERVICE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: str
    status: str
    calls: int
    items: int
    items_confirmed: int
    items_refused: int
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    pending_by_service: _containers.ScalarMap[str, int]
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., calls: _Optional[int] = ..., items: _Optional[int] = ..., items_confirmed: _Optional[int] = ..., items_refused: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pending_by_service: _Optional[_Mapping[str, int]] = ...) -> None: ...

class GetPurgeRunRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class PolicyDocument(_message.Message):
    __slots__ = ("version", "document_json", "created_at", "created_by", "comment")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    version: int
    document_json: str
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    comment: str
    def __init__(self, version: _Optional[int] = ..., document_json: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ApplyPolicyRequest(_message.Message):
    __slots__ = ("document", "applied_by", "comment", "dry_run")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    APPLIED_BY_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    document: str
    applied_by: str
    comment: str
    dry_run: bool
    def __init__(self, document: _Optional[str] = ..., applied_by: _Optional[str] = ..., comment: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class PolicyChangeReport(_message.Message):
    __slots__ = ("from_version", "to_version", "applied", "recordings", "expiry_earlier", "expiry_later", "expiry_unchanged", "due_now", "warnings", "sample_call_ids", "summary")
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    RECORDINGS_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_EARLIER_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_LATER_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    DUE_NOW_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    from_version: int
    to_version: int
    applied: bool
    recordings: int
    expiry_earlier: int
    expiry_later: int
    expiry_unchanged: int
    due_now: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    sample_call_ids: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    def __init__(self, from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., applied: _Optional[bool] = ..., recordings: _Optional[int] = ..., expiry_earlier: _Optional[int] = ..., expiry_later: _Optional[int] = ..., expiry_unchanged: _Optional[int] = ..., due_now: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ..., sample_call_ids: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ...) -> None: ...

class CheckAccessRequest(_message.Message):
    __slots__ = ("call_id", "purpose", "actor", "resource", "action")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    purpose: str
    actor: str
    resource: str
    action: str
    def __init__(self, call_id: _Optional[str] = ..., purpose: _Optional[str] = ..., actor: _Optional[str] = ..., resource: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class AccessDecision(_message.Message):
    __slots__ = ("allowed", "reason", "purpose_expires_at", "audit_seq")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SEQ_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    reason: str
    purpose_expires_at: _timestamp_pb2.Timestamp
    audit_seq: int
    def __init__(self, allowed: _Optional[bool] = ..., reason: _Optional[str] = ..., purpose_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., audit_seq: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("seq", "at", "actor", "action", "subject", "details_json", "prev_hash", "hash")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    actor: str
    action: str
    subject: str
    details_json: str
    prev_hash: str
    hash: str
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., subject: _Optional[str] = ..., details_json: _Optional[str] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("after_seq", "limit", "subject", "action")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    limit: int
    subject: str
    action: str
    def __init__(self, after_seq: _Optional[int] = ..., limit: _Optional[int] = ..., subject: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...

class VerifyAuditRequest(_message.Message):
    __slots__ = ("anchor_seq", "anchor_hash")
    ANCHOR_SEQ_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_HASH_FIELD_NUMBER: _ClassVar[int]
    anchor_seq: int
    anchor_hash: str
    def __init__(self, anchor_seq: _Optional[int] = ..., anchor_hash: _Optional[str] = ...) -> None: ...

class AuditVerification(_message.Message):
    __slots__ = ("ok", "entries", "head_seq", "head_hash", "problems")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ok: _Optional[bool] = ..., entries: _Optional[int] = ..., head_seq: _Optional[int] = ..., head_hash: _Optional[str] = ..., problems: _Optional[_Iterable[str]] = ...) -> None: ...
