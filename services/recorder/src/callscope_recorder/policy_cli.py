"""`callscope recorder policy list|get|set`: recording policies per tenant and queue, and
`callscope recorder recording CALL_ID start|pause|resume|stop` for a live call.

Every command talks to the running recorder over gRPC (callscope.v1.Recorder), so the CLI
needs no database credentials and goes through the same validation as the API. Target:
--target, else CALLSCOPE_RECORDER_TARGET, else the local stack's recorder port (from
$CALLSCOPE_HOME/stack.json), else 127.0.0.1:50051.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from callscope.v1 import recorder_pb2, recorder_pb2_grpc
from callscope_core.cli_support import T, actor_or_exit, call_or_exit, grpc_target

app = typer.Typer(help="Recorder: recording policies and live recording control.")
policy_app = typer.Typer(
    help="Recording policy per tenant/queue: all, a percentage, or on demand.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")

DEFAULT_TARGET = "127.0.0.1:50051"
TargetOption = typer.Option(
    None,
    "--target",
    envvar="CALLSCOPE_RECORDER_TARGET",
    help="host:port of the recorder gRPC API (default: the local stack's).",
)
ByOption = typer.Option(None, "--by", envvar="CALLSCOPE_ACTOR", help="Who makes the change.")
JsonOption = typer.Option(False, "--json", help="Machine-readable output.")
MODES = {
    "all": recorder_pb2.RecordingPolicy.MODE_ALL,
    "percentage": recorder_pb2.RecordingPolicy.MODE_PERCENTAGE,
    "on_demand": recorder_pb2.RecordingPolicy.MODE_ON_DEMAND,
}
MODE_NAMES = {value: name for name, value in MODES.items()}
ACTIONS = {
    "start": recorder_pb2.SetRecordingRequest.ACTION_START,
    "pause": recorder_pb2.SetRecordingRequest.ACTION_PAUSE,
    "resume": recorder_pb2.SetRecordingRequest.ACTION_RESUME,
    "stop": recorder_pb2.SetRecordingRequest.ACTION_STOP,
}


def resolve_target(target: str | None) -> str:
    return grpc_target(target, "recorder", DEFAULT_TARGET)


@contextmanager
def _stub(target: str | None) -> Iterator[recorder_pb2_grpc.RecorderStub]:
    with grpc.insecure_channel(resolve_target(target)) as channel:
        yield recorder_pb2_grpc.RecorderStub(channel)


def _call(method: Callable[..., T], request: Message, timeout: float = 30.0) -> T:
    return call_or_exit(method, request, service="recorder", timeout=timeout)


def _line(policy: recorder_pb2.RecordingPolicy) -> str:
    mode = MODE_NAMES.get(policy.mode, "?")
    if mode == "percentage":
        mode = f"percentage {policy.percentage:g}%"
    updated = (
        policy.updated_at.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")
        if policy.HasField("updated_at")
        else "-"
    )
    return (
        f"{policy.tenant:<12} {policy.queue or '(default)':<14} {mode:<18} "
        f"opt-out={policy.opt_out_decision:<10} purposes={','.join(policy.purposes):<24} "
        f"proof-lock={policy.proof_retention_days}d "
        f"v{policy.version} {policy.updated_by or '-'} {updated}"
    )


def _dump(message: Message) -> None:
    typer.echo(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))


@policy_app.command("list")
def list_policies(
    tenant: str = typer.Option("", help="Only this tenant (default: every tenant)."),
    as_json: bool = JsonOption,
    target: str | None = TargetOption,
) -> None:
    """Every stored recording policy (a tenant without one records all calls)."""
    with _stub(target) as stub:
        reply = _call(
            stub.ListRecordingPolicies, recorder_pb2.ListRecordingPoliciesRequest(tenant=tenant)
        )
    if as_json:
        _dump(reply)
        return
    if not reply.policies:
        typer.echo("no recording policies: every call is recorded")
    for policy in reply.policies:
        typer.echo(_line(policy))


@policy_app.command("get")
def get_policy(
    tenant: str = typer.Option(..., help="Tenant."),
    queue: str = typer.Option("", help="Queue (falls back to the tenant's default)."),
    as_json: bool = JsonOption,
    target: str | None = TargetOption,
) -> None:
    """The policy in force for a queue."""
    with _stub(target) as stub:
        reply = _call(
            stub.GetRecordingPolicy,
            recorder_pb2.GetRecordingPolicyRequest(tenant=tenant, queue=queue),
        )
    if as_json:
        _dump(reply)
    else:
        typer.echo(_line(reply))


@policy_app.command("set")
def set_policy(
    tenant: str = typer.Option(..., help="Tenant."),
    mode: str = typer.Option(..., help="all | percentage | on_demand"),
    queue: str = typer.Option("", help="Queue; empty sets the tenant's default."),
    percentage: float = typer.Option(100.0, help="Share of calls recorded (mode percentage)."),
    opt_out: str = typer.Option(
        "stop", "--opt-out", help="What a customer opt-out does: stop | proof_only"
    ),
    purposes: str = typer.Option(
        "quality,analytics", help="Comma-separated: proof, quality, analytics, live-assist"
    ),
    proof_retention_days: int = typer.Option(
        0,
        "--proof-retention-days",
        help="Days proof recordings stay under Object Lock (1..36500); 0 keeps the current.",
    ),
    by: str | None = ByOption,
    as_json: bool = JsonOption,
    target: str | None = TargetOption,
) -> None:
    """Create or replace the recording policy of a tenant (or one of its queues)."""
    if mode not in MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(MODES)}")
    policy = recorder_pb2.RecordingPolicy(
        tenant=tenant,
        queue=queue,
        mode=MODES[mode],
        percentage=percentage,
        opt_out_decision=opt_out,
        purposes=[p.strip() for p in purposes.split(",") if p.strip()],
        proof_retention_days=proof_retention_days,
    )
    with _stub(target) as stub:
        reply = _call(
            stub.SetRecordingPolicy,
            recorder_pb2.SetRecordingPolicyRequest(policy=policy, requested_by=actor_or_exit(by)),
        )
    if as_json:
        _dump(reply)
    else:
        typer.echo(_line(reply))


@app.command("recording")
def set_recording(
    call_id: str = typer.Argument(..., help="The call (Callscope call id)."),
    action: str = typer.Argument(..., help="start | pause | resume | stop"),
    reason: str = typer.Option("", help="Why (kept in the event)."),
    by: str | None = ByOption,
    target: str | None = TargetOption,
) -> None:
    """Start, pause, resume or stop the recording of a live call."""
    if action not in ACTIONS:
        raise typer.BadParameter(f"action must be one of {', '.join(ACTIONS)}")
    with _stub(target) as stub:
        reply = _call(
            stub.SetRecording,
            recorder_pb2.SetRecordingRequest(
                call_id=call_id,
                action=ACTIONS[action],
                reason=reason,
                requested_by=actor_or_exit(by),
            ),
        )
    typer.echo(f"{reply.call_id}: {reply.state}")
