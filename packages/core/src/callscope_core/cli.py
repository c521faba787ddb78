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
