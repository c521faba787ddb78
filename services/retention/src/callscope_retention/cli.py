"""`callscope retention …`: purge plans, legal holds, GDPR erasure, audit and policies.

Every command talks to the running retention service over gRPC (callscope.v1.Retention), so
the CLI needs no database credentials and every action goes through the same checks and the
same audit log as the API. Target: --target, else CALLSCOPE_RETENTION_TARGET, else the local
stack's retention port (from $CALLSCOPE_HOME/stack.json), else 127.0.0.1:50054.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from callscope.v1 import retention_pb2, retention_pb2_grpc
from callscope_core.cli_support import T, actor_or_exit, call_or_exit, grpc_target

app = typer.Typer(
    help="Retention and compliance: purge plans, legal holds, GDPR erasure, audit, policies.",
    no_args_is_help=True,
)
hold_app = typer.Typer(
    help="Legal holds: held data is never purged or erased.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained access audit log.", no_args_is_help=True)
policy_app = typer.Typer(help="Versioned retention policies.", no_args_is_help=True)
app.add_typer(hold_app, name="hold")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")

DEFAULT_TARGET = "127.0.0.1:50054"
TargetOption = typer.Option(
    None,
    "--target",
    envvar="CALLSCOPE_RETENTION_TARGET",
    help="host:port of the retention gRPC API (default: the local stack's).",
)
ByOption = typer.Option(
    None, "--by", envvar="CALLSCOPE_ACTOR", help="Who does this (recorded in the audit log)."
)
JsonOption = typer.Option(False, "--json", help="Machine-readable output.")


def resolve_target(target: str | None) -> str:
    return grpc_target(target, "retention", DEFAULT_TARGET)


@contextmanager
def _stub(target: str | None) -> Iterator[retention_pb2_grpc.RetentionStub]:
    with grpc.insecure_channel(resolve_target(target)) as channel:
        yield retention_pb2_grpc.RetentionStub(channel)


def _call(method: Callable[..., T], request: Message, timeout: float = 60.0) -> T:
    return call_or_exit(method, request, service="retention service", timeout=timeout)


def _timestamp(text: str | None, option: str) -> Timestamp | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option}: not an ISO date/time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _when(ts: Timestamp, present: bool = True) -> str:
    if not present or (ts.seconds == 0 and ts.nanos == 0):
        return "-"
    return ts.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")


def _dump(message: Message) -> None:
    typer.echo(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))


# -- purge ----------------------------------------------------------------------------------
@app.command()
def plan(
    as_of: str | None = typer.Option(None, "--as-of", help="Pretend it is this date (dry run)."),
    limit: int = typer.Option(20, help="How many calls to list."),
    as_json: bool = JsonOption,
    target: str | None = TargetOption,
) -> None:
    """Dry run: what a purge run would delete now (or --as-of), and what it must keep."""
    with _stub(target) as stub:
        result = _call(
            stub.PlanPurge,
            retention_pb2.PlanPurgeRequest(as_of=_timestamp(as_of, "--as-of"), limit=limit),
        )
    if as_json:
        _dump(result)
        return
    typer.echo(f"purge plan as of {_when(result.as_of)} (policy v{result.policy_version})")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.items_by_kind.items())) or "nothing"
    typer.echo(f"  would purge: {result.calls} call(s): {kinds}")
    typer.echo(
        f"  kept although expired: {result.held_items} under legal hold,"
        f" {result.locked_items} under Object Lock"
    )
    typer.echo(f"  in flight (awaiting a service's confirmation): {result.in_flight_items}")
    for item in result.sample:
        typer.echo(
            f"    {item.call_id}  {','.join(item.data_kinds):32} expired {_when(item.expires_at)}"
            f"  {item.tenant}/{item.queue or '-'}"
        )
    for kept in result.kept_sample:
        typer.echo(f"    kept {kept.call_id} {kept.data_kind}: {kept.reason}")


@app.command("run")
def run_purge(by: str | None = ByOption, target: str | None = TargetOption) -> None:
    """Start a purge run now (the scheduler also runs them on its schedule)."""
    with _stub(target) as stub:
        status = _call(stub.RunPurge, retention_pb2.RunPurgeRequest(requested_by=actor_or_exit(by)))
    if not status.request_id:
        typer.echo(f"nothing to purge ({status.status})")
        return
    typer.echo(
        f"purge run {status.request_id}: {status.calls} call(s), {status.items} item(s) sent;"
        f" {status.items_confirmed} confirmed so far"
    )


# -- erasure --------------------------------------------------------------------------------
def _print_report(report: retention_pb2.ErasureReport) -> None:
    state = "COMPLETE" if report.complete else "PENDING (waiting for services to confirm)"
    typer.echo(f"erasure {report.request_id}: {state}")
    typer.echo(f"  subject {report.subject_hash}, requested by {report.requested_by}")
    for call in report.calls:
        erased = ",".join(call.erased_kinds) or "nothing"
        typer.echo(f"  call {call.call_id}: erased {erased}")
        for kept in call.kept:
            until = _when(kept.kept_until, kept.HasField("kept_until"))
            typer.echo(
                f"    kept {kept.data_kind}: {kept.reason}"
                f"{f' [{kept.legal_basis}]' if kept.legal_basis else ''}"
                f"{f' until {until}' if until != '-' else ''}"
            )
        for c in call.confirmations:
            typer.echo(
                f"    {c.service:11} {c.status:14} {_when(c.confirmed_at)}"
                f"{f'  sha256 {c.content_sha256}' if c.content_sha256 else ''}"
            )
    if report.complete:
        typer.echo(f"  proof report sha256 {report.report_sha256} (audit entry {report.audit_seq})")


@app.command()
def erase(
    customer: str = typer.Option(..., "--customer", help="Phone number, SIP address or id."),
    by: str | None = ByOption,
    reason: str = typer.Option("", help="The request's reference (ticket, letter)."),
    wait: float = typer.Option(0, help="Wait up to this many seconds for the proof report."),
    out: Path | None = typer.Option(None, "--out", help="Write the proof report (JSON) here."),
    as_json: bool = JsonOption,
    target: str | None = TargetOption,
) -> None:
    """GDPR Art. 17: erase every call of a person, except what the law makes us keep."""
    with _stub(target) as stub:
        report = _call(
            stub.EraseSubject,
            retention_pb2.EraseSubjectRequest(
                customer=customer, requested_by=actor_or_exit(by), reason=reason
            ),
        )
        deadline = time.monotonic() + wait
        while not report.complete and time.monotonic() < deadline:
            time.sleep(0.5)
            report = _call(
                stub.GetErasureReport,
                retention_pb2.GetErasureReportRequest(request_id=report.request_id),
            )
    _report_out(report, out, as_json)


@app.command("erasure-report")
def erasure_report(
    request_id: str = typer.Argument(..., help="The erasure request id."),
    out: Path | None = typer.Option(None, "--out", help="Write the proof report (JSON) here."),
    as_json: bool = JsonOption,
    target: str | None = TargetOption,
) -> None:
    """The proof report of an erasure (complete once every service has confirmed)."""
    with _stub(target) as stub:
        report = _call(
            stub.GetErasureReport, retention_pb2.GetErasureReportRequest(request_id=request_id)
        )
    _report_out(report, out, as_json)


def _report_out(report: retention_pb2.ErasureReport, out: Path | None, as_json: bool) -> None:
    if as_json:
        _dump(report)
    else:
        _print_report(report)
    if out is not None:
        if not report.complete:
            typer.echo("error: the proof report is not complete yet; nothing written", err=True)
            raise typer.Exit(7)
        out.write_text(report.report_json)
        typer.echo(f"proof report written to {out}")


# -- holds ----------------------------------------------------------------------------------
def _print_hold(hold: retention_pb2.LegalHold) -> None:
    released = (
        f"  released {_when(hold.released_at)} by {hold.released_by}: {hold.release_reason}"
        if hold.HasField("released_at")
        else ""
    )
    typer.echo(
        f"{hold.hold_id}  {hold.scope:8} {hold.subject}  by {hold.placed_by}"
        f" {_when(hold.placed_at)}  ({hold.calls_covered} call(s)): {hold.reason}{released}"
    )


@hold_app.command("place")
def hold_place(
    reason: str = typer.Option(..., "--reason", help="Why (case, authority, reference)."),
    call: str = typer.Option("", "--call", help="Hold one call."),
    customer: str = typer.Option("", "--customer", help="Hold every call of a customer."),
    agent: str = typer.Option("", "--agent", help="Hold every call of an agent."),
    date_from: str | None = typer.Option(None, "--from", help="Hold calls from (ISO)."),
    date_to: str | None = typer.Option(None, "--to", help="... until (ISO, exclusive)."),
    tenant: str = typer.Option("", help="Restrict a date-range hold to a tenant."),
    by: str | None = ByOption,
    target: str | None = TargetOption,
) -> None:
    """Place a legal hold on a call, a customer, an agent or a date range."""
    with _stub(target) as stub:
        hold = _call(
            stub.PlaceLegalHold,
            retention_pb2.PlaceLegalHoldRequest(
                call_id=call,
                customer=customer,
                agent_id=agent,
                range_from=_timestamp(date_from, "--from"),
                range_to=_timestamp(date_to, "--to"),
                tenant=tenant,
                reason=reason,
                placed_by=actor_or_exit(by),
            ),
        )
    _print_hold(hold)
    if hold.in_flight_call_ids:
        typer.echo(
            f"warning: {len(hold.in_flight_call_ids)} call(s) were already being purged and"
            f" could not be held: {', '.join(hold.in_flight_call_ids[:10])}",
            err=True,
        )


@hold_app.command("release")
def hold_release(
    hold_id: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason"),
    by: str | None = ByOption,
    target: str | None = TargetOption,
) -> None:
    """Release a legal hold (the data becomes purgeable again when expired)."""
    with _stub(target) as stub:
        hold = _call(
            stub.ReleaseLegalHold,
            retention_pb2.ReleaseLegalHoldRequest(
                hold_id=hold_id, released_by=actor_or_exit(by), reason=reason
            ),
        )
    _print_hold(hold)


@hold_app.command("list")
def hold_list(
    include_released: bool = typer.Option(False, "--all", help="Released holds too."),
    as_json: bool = JsonOption,
    target: str | None = TargetOption,
) -> None:
    """Legal holds in force (or all with --all)."""
    with _stub(target) as stub:
        result = _call(
            stub.ListLegalHolds,
            retention_pb2.ListLegalHoldsRequest(include_released=include_released),
        )
    if as_json:
        _dump(result)
        return
    if not result.holds:
        typer.echo("no legal holds")
    for hold in result.holds:
        _print_hold(hold)


# -- audit ----------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(
    anchor: str | None = typer.Option(
        None, "--anchor", help="SEQ:HASH of an earlier head kept elsewhere (detects a cut tail)."
    ),
    target: str | None = TargetOption,
) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited or deleted."""
    request = retention_pb2.VerifyAuditRequest()
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or not digest:
            raise typer.BadParameter("--anchor is SEQ:HASH, as printed by a previous verify")
        request.anchor_seq, request.anchor_hash = int(seq), digest
    with _stub(target) as stub:
        result = _call(stub.VerifyAudit, request, timeout=600)
    if result.ok:
        typer.echo(
            f"audit log OK: {result.entries} entries; head {result.head_seq}:{result.head_hash}"
        )
        return
    typer.echo(f"audit log TAMPERED: {len(result.problems)} problem(s)", err=True)
    for problem in result.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    after: int = typer.Option(0, "--after", help="Entries after this sequence number."),
    limit: int = typer.Option(50),
    subject: str = typer.Option("", help="e.g. call:<id>, hold:<id>, erasure:<id>"),
    action: str = typer.Option("", help="Action prefix, e.g. access. or hold."),
    target: str | None = TargetOption,
) -> None:
    """Audit entries in order."""
    with _stub(target) as stub:
        result = _call(
            stub.ListAudit,
            retention_pb2.ListAuditRequest(
                after_seq=after, limit=limit, subject=subject, action=action
            ),
        )
    for e in result.entries:
        typer.echo(
            f"{e.seq:6} {_when(e.at)} {e.actor:20} {e.action:26} {e.subject} {e.details_json}"
        )


# -- policies -------------------------------------------------------------------------------
@policy_app.command("show")
def policy_show(
    version: int = typer.Option(0, help="A past version (default: the active one)."),
    target: str | None = TargetOption,
) -> None:
    """The active policy (or a past version) as JSON."""
    with _stub(target) as stub:
        doc = _call(stub.GetPolicy, retention_pb2.GetPolicyRequest(version=version))
    typer.echo(
        f"# policy v{doc.version}, {_when(doc.created_at)} by {doc.created_by}"
        f"{f': {doc.comment}' if doc.comment else ''}"
    )
    typer.echo(doc.document_json)


def _print_change(report: retention_pb2.PolicyChangeReport) -> None:
    typer.echo(report.summary)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if report.sample_call_ids:
        typer.echo(f"  e.g. {', '.join(report.sample_call_ids[:10])}")


@policy_app.command("apply")
def policy_apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML or JSON policy."),
    comment: str = typer.Option("", help="Why this change."),
    yes: bool = typer.Option(False, "--yes", help="Apply after the report (else: dry run)."),
    by: str | None = ByOption,
    target: str | None = TargetOption,
) -> None:
    """Report what a new policy does to existing data; apply it with --yes."""
    document = file.read_text()
    actor = actor_or_exit(by)
    with _stub(target) as stub:
        request: Any = retention_pb2.ApplyPolicyRequest(
            document=document, applied_by=actor, comment=comment, dry_run=True
        )
        _print_change(_call(stub.ApplyPolicy, request, timeout=600))
        if not yes:
            typer.echo("dry run: nothing changed (apply with --yes)")
            return
        request.dry_run = False
        report = _call(stub.ApplyPolicy, request, timeout=600)
    typer.echo(f"applied: policy v{report.to_version} is active")


@app.command("show")
def show(call_id: str = typer.Argument(...), target: str | None = TargetOption) -> None:
    """Retention of one call: purposes, windows, data items, holds, Object Lock."""
    with _stub(target) as stub:
        info = _call(
            stub.GetRecordingRetention,
            retention_pb2.GetRecordingRetentionRequest(call_id=call_id),
        )
    typer.echo(
        f"call {info.call_id} ({info.tenant}/{info.queue or '-'}): {info.state},"
        f" policy v{info.policy_version}, lives until {_when(info.expires_at)}"
    )
    for w in info.windows:
        typer.echo(
            f"  purpose {w.purpose:12} {'active' if w.active else 'ENDED ':6} until"
            f" {_when(w.expires_at)} ({','.join(w.data_kinds)})"
        )
    for i in info.items:
        typer.echo(f"  {i.data_kind:11} {i.service:12} {i.state:8} expires {_when(i.expires_at)}")
    if info.hold_ids:
        typer.echo(f"  legal holds: {', '.join(info.hold_ids)}")
    if info.HasField("lock_until"):
        typer.echo(f"  Object Lock (COMPLIANCE) until {_when(info.lock_until)}")


def main() -> None:
    app()
