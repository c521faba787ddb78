"""Protobuf payloads on Kafka: one message type per record, named in a content-type header."""

from __future__ import annotations

from google.protobuf import symbol_database
from google.protobuf.message import DecodeError, Message

# Importing the generated modules registers every message type in the default pool.
from callscope.v1 import (  # noqa: F401
    common_pb2,
    events_pb2,
    recorder_pb2,
    retention_pb2,
    supervisor_pb2,
)

CONTENT_TYPE_HEADER = "content-type"
_PREFIX = "application/x-protobuf; type="


class PayloadError(ValueError):
    """A record whose payload cannot be decoded: it is parked, not retried."""


def content_type_for(message: Message) -> str:
    return f"{_PREFIX}{message.DESCRIPTOR.full_name}"


def message_class(full_name: str) -> type[Message]:
    try:
        return symbol_database.Default().GetSymbol(full_name)
    except KeyError:
        raise PayloadError(f"unknown message type {full_name!r}") from None


def decode(content_type: str | None, payload: bytes | None) -> Message:
    if not content_type or not content_type.startswith(_PREFIX):
        raise PayloadError(f"missing or unsupported content-type header: {content_type!r}")
    if payload is None:
        raise PayloadError("empty record value (tombstone) where a message was expected")
    cls = message_class(content_type[len(_PREFIX) :].strip())
    message = cls()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise PayloadError(f"cannot decode {cls.DESCRIPTOR.full_name}: {exc}") from None
    return message
