"""Fixtures shared by the analyzer's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from callscope_core.devtools import create_database


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A database of its own, for what is global to the analyzers sharing one (rule
    overrides, the team directory)."""
    name = f"analyzer_{uuid.uuid4().hex[:10]}"
    yield create_database(postgres_url, name)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
