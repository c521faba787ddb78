"""Channel names as used in SQL, object metadata and logs, mapped to the protobuf enum."""

from __future__ import annotations

from callscope.v1 import common_pb2

_BY_NAME = {"customer": common_pb2.CHANNEL_CUSTOMER, "agent": common_pb2.CHANNEL_AGENT}
_BY_VALUE = {v: k for k, v in _BY_NAME.items()}


def channel_name(value: int) -> str:
    try:
        return _BY_VALUE[value]
    except KeyError:
        raise ValueError(f"unspecified or unknown channel {value!r}") from None


def channel_value(name: str) -> int:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; expected 'agent' or 'customer'") from None
