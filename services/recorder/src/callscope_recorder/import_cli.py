"""`callscope import FILE_OR_DIR...`: batch import of recorded calls (importer.py), with a
progress bar, talking to the running recorder over gRPC."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .importer import ImportResult, find_audio_files, import_file, probe

TARGET_ENV = "CALLSCOPE_RECORDER_TARGET"
DEFAULT_STACK_DIR = Path(os.environ.get("CALLSCOPE_HOME", ".callscope"))


def recorder_target(explicit: str | None, stack_dir: Path) -> str:
    """--recorder, else $CALLSCOPE_RECORDER_TARGET, else the local stack's recorder."""
    if explicit:
        return explicit
    if os.environ.get(TARGET_ENV):
        return os.environ[TARGET_ENV]
    from callscope_core import stack as local_stack

    state = local_stack.status(stack_dir)
    if state.get("state") != "ready":
        raise typer.BadParameter(
            f"no recorder address: pass --recorder HOST:PORT, set {TARGET_ENV}, or start the "
            "local stack (`callscope stack up`)"
        )
    return f"127.0.0.1:{state['endpoints']['grpc']['recorder']}"


def import_command(
    paths: list[Path] = typer.Argument(..., help="Audio files or directories (WAV, FLAC, MP3)."),
    language: str = typer.Option("", "--language", help="BCP-47 language of the calls."),
    agent_channel: str = typer.Option(
        "right", "--agent-channel", help="Side of a stereo file the agent is on: left|right."
    ),
    mono_channel: str = typer.Option(
        "customer", "--mono-channel", help="Channel a mono file is recorded as: customer|agent."
    ),
    queue: str = typer.Option("", "--queue", help="Queue the calls are filed under."),
    recorder: str | None = typer.Option(
        None, "--recorder", help=f"Recorder gRPC address (default: ${TARGET_ENV} or the stack)."
    ),
    directory: Path = typer.Option(DEFAULT_STACK_DIR, "--dir", help="Local stack dir."),
) -> None:
    """Import recorded calls into the pipeline (stored, transcribed, analysed like a finished
    call). Files already imported (same content) are skipped, so a cut-off run can be re-run."""
    if agent_channel not in ("left", "right"):
        raise typer.BadParameter("--agent-channel must be left or right")
    if mono_channel not in ("customer", "agent"):
        raise typer.BadParameter("--mono-channel must be customer or agent")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"not found: {', '.join(missing)}")
    files = find_audio_files(paths)
    if not files:
        typer.echo("no audio files (.wav, .flac, .mp3) found")
        raise typer.Exit(1)
    target = recorder_target(recorder, directory)
    results = asyncio.run(_import_all(files, target, language, queue, agent_channel, mono_channel))
    counts = {s: sum(r.status == s for r in results) for s in ("imported", "skipped", "failed")}
    typer.echo(
        f"{counts['imported']} imported, {counts['skipped']} skipped (already imported), "
        f"{counts['failed']} failed"
    )
    if counts["failed"]:
        raise typer.Exit(1)


async def _import_all(
    files: list[Path],
    target: str,
    language: str,
    queue: str,
    agent_channel: str,
    mono_channel: str,
) -> list[ImportResult]:
    import grpc

    from callscope.v1 import recorder_pb2_grpc

    console = Console(stderr=True)
    results: list[ImportResult] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        overall = progress.add_task("files", total=len(files))
        async with grpc.aio.insecure_channel(
            target, options=[("grpc.max_send_message_length", 4 << 20)]
        ) as channel:
            stub = recorder_pb2_grpc.RecorderStub(channel)
            for path in files:
                try:
                    seconds = round(probe(path).duration_s, 1)
                except ValueError:
                    seconds = None
                task = progress.add_task(path.name[:40], total=seconds or None)
                result = await import_file(
                    stub,
                    path,
                    language=language,
                    queue=queue,
                    agent_channel=agent_channel,
                    mono_channel=mono_channel,
                    on_progress=lambda s, task=task: progress.advance(task, s),
                )
                progress.update(task, completed=seconds or 0, visible=False)
                progress.advance(overall)
                results.append(result)
                line = f"{result.status:8} {path}"
                if result.call_id:
                    line += f"  call {result.call_id}"
                if result.object_key:
                    line += f"  {result.object_key}"
                if result.reason and result.status != "skipped":
                    line += f"  ({result.reason})"
                progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
    return results
