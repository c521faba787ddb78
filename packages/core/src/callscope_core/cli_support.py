"""What every `callscope` sub-command that talks to a running service shares: finding the
local stack's endpoints, calling a gRPC method with refusals turned into clear errors and
distinct exit codes, and naming who acts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import typer
from google.protobuf.message import Message

# Exit codes per refusal, so scripts can tell them apart.
EXIT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: 2,
    grpc.StatusCode.UNAVAILABLE: 3,
    grpc.StatusCode.DEADLINE_EXCEEDED: 3,
    grpc.StatusCode.NOT_FOUND: 4,
    grpc.StatusCode.ALREADY_EXISTS: 5,
    grpc.StatusCode.FAILED_PRECONDITION: 6,
}

T = TypeVar("T", bound=Message)


def stack_endpoint(*keys: str) -> Any | None:
    """endpoints[keys...] of the local stack ($CALLSCOPE_HOME/stack.json), or None."""
    home = Path(os.environ.get("CALLSCOPE_HOME", ".callscope"))
    try:
        value: Any = json.loads((home / "stack.json").read_text())["endpoints"]
        for key in keys:
            value = value[key]
        return value
    except (OSError, ValueError, KeyError, TypeError):
        return None


def grpc_target(target: str | None, service: str, default: str) -> str:
    """--target when given, else the local stack's gRPC port of ``service``, else ``default``."""
    if target:
        return target
    port = stack_endpoint("grpc", service)
    return f"127.0.0.1:{port}" if port is not None else default


def call_or_exit(method: Callable[..., T], request: Message, *, service: str, timeout: float) -> T:
    """Call a unary gRPC method; a refusal prints its reason and exits with its code."""
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        details = exc.details()  # type: ignore[attr-defined]
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            details = f"{service} unreachable ({details}); is the stack up?"
        typer.echo(f"error: {details} [{code.name}]", err=True)
        raise typer.Exit(EXIT_CODES.get(code, 1)) from None


def actor_or_exit(by: str | None) -> str:
    """Who acts: --by (or CALLSCOPE_ACTOR), else $USER; exit 2 when neither is known."""
    actor = by or os.environ.get("USER", "")
    if not actor:
        typer.echo("error: say who you are with --by (or CALLSCOPE_ACTOR)", err=True)
        raise typer.Exit(2)
    return actor
