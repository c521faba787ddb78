"""Fixtures for end-to-end tests: the whole local stack, started once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from callscope_core import stack as local_stack

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    directory = tmp_path_factory.mktemp("stack")
    os.environ.setdefault("CALLSCOPE_TRANSCRIBER_MODELS_DIR", str(REPO / ".callscope" / "models"))
    try:
        state = local_stack.up(directory, timeout=300)
    except local_stack.StackError:
        for log in sorted((directory / "logs").glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        raise
    yield state
    local_stack.down(directory)
