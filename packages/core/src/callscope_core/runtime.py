"""The one place a service process is wired: logging, tracing, metrics, migrations, the
database pool, the Kafka producer and consumers, the gRPC server with health, and orderly
shutdown.

    async with ServiceRuntime("analyzer", settings, grpc_port=..., grpc_services=[...]) as rt:
        rt.add_consumer("callscope-analyzer", [TRANSCRIPTS], handler)
        await rt.serve(stop)

Health turns SERVING only when every consumer has its partitions assigned, so "ready" means
"will process the next record", which tests and Kubernetes probes both rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from opentelemetry.sdk.trace import TracerProvider
from psycopg_pool import AsyncConnectionPool

from .db import migrate, open_pool
from .kafka import EventConsumer, EventProducer, Handler
from .logs import setup_logging
from .metrics import MetricsHandle, setup_metrics
from .service import GrpcServer
from .settings import CoreSettings
from .topics import Topic
from .tracing import instrument_grpc, instrument_psycopg, setup_tracing

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        settings: CoreSettings,
        *,
        grpc_port: int,
        grpc_services: Sequence[str] = (),
        migrations_package: str | None = None,
        grpc_host: str = "0.0.0.0",
    ) -> None:
        self.name = name
        self.settings = settings
        self._migrations_package = migrations_package
        self._grpc_port = grpc_port
        self._grpc_host = grpc_host
        self._grpc_services = list(grpc_services)
        self.pool: AsyncConnectionPool | None = None
        self.producer = EventProducer(settings, name)
        self.grpc: GrpcServer | None = None
        self.consumers: list[EventConsumer] = []
        self._background: list[Callable[[asyncio.Event], Awaitable[None]]] = []
        self.tracer_provider: TracerProvider | None = None
        self.metrics: MetricsHandle | None = None

    @property
    def db(self) -> AsyncConnectionPool:
        if self.pool is None:
            raise RuntimeError(f"{self.name} was started without a database")
        return self.pool

    async def __aenter__(self) -> ServiceRuntime:
        setup_logging(self.name, self.settings.log_level, self.settings.log_format)
        self.tracer_provider = setup_tracing(self.name, self.settings.trace_file)
        self.metrics = setup_metrics(
            self.name, self.settings.metrics_port, self.settings.metrics_host
        )
        instrument_grpc()  # before the server is created
        if self._migrations_package:
            await migrate(self.settings.database_url, self.name, self._migrations_package)
            instrument_psycopg()
            self.pool = await open_pool(self.settings.database_url, self.settings.database_pool_max)
        await self.producer.start()
        self.grpc = GrpcServer(self._grpc_host, self._grpc_port, self._grpc_services)
        return self

    def add_consumer(
        self, group_id: str, topics: Sequence[Topic | str], handler: Handler
    ) -> EventConsumer:
        consumer = EventConsumer(
            self.settings, self.name, group_id, topics, handler, dead_letters=self.producer
        )
        self.consumers.append(consumer)
        return consumer

    def add_background(self, job: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """A task `serve` runs beside the consumers until `stop` (e.g. a periodic gauge)."""
        self._background.append(job)

    async def serve(
        self,
        stop: asyncio.Event,
        background: Sequence[Callable[[asyncio.Event], Awaitable[None]]] = (),
        ready_timeout: float = 120.0,
    ) -> None:
        assert self.grpc is not None
        await self.grpc.start()
        for consumer in self.consumers:
            await consumer.start()
        tasks = [asyncio.create_task(c.run(stop)) for c in self.consumers]
        tasks += [asyncio.create_task(job(stop)) for job in [*self._background, *background]]
        # Consumers only get partitions while their fetch loop runs, so wait after starting it.
        await asyncio.wait_for(
            asyncio.gather(*(c.assigned.wait() for c in self.consumers)), ready_timeout
        )
        await self.grpc.set_serving()
        log.info("%s ready", self.name)
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("%s: a task failed: %r", self.name, task.exception())
                stop.set()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.grpc is not None:
            with contextlib.suppress(Exception):
                await self.grpc.stop()
        for consumer in self.consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        with contextlib.suppress(Exception):
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.metrics is not None:
            with contextlib.suppress(Exception):
                self.metrics.shutdown()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        log.info("%s stopped", self.name)
