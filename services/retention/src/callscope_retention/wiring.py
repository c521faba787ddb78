"""Retention's wiring inside a ServiceRuntime: consumers, the purge scheduler and the gRPC API.

async with ServiceRuntime("retention", core, grpc_port=settings.grpc_port,
                          grpc_services=[...Retention...],
                          migrations_package="callscope_retention") as rt:
    await serve_retention(rt, settings, stop)
"""

from __future__ import annotations

import asyncio
import logging

from callscope.v1 import retention_pb2_grpc
from callscope_core.purge import utc_now
from callscope_core.runtime import ServiceRuntime
from callscope_core.topics import CALL_EVENTS, RETENTION_EVENTS

from .domain.cron import CronSchedule
from .engine import Clock, RetentionEngine
from .grpc_api import RetentionServicer
from .scheduler import PurgeScheduler
from .settings import RetentionSettings

log = logging.getLogger(__name__)

CONSUMER_GROUP = "callscope-retention"


def build(
    rt: ServiceRuntime, settings: RetentionSettings, clock: Clock = utc_now
) -> tuple[RetentionEngine, PurgeScheduler]:
    engine = RetentionEngine(rt.db, rt.producer, settings, clock)
    scheduler = PurgeScheduler(
        engine,
        CronSchedule.parse(settings.purge_schedule),
        clock,
        interval_s=settings.maintenance_interval_s,
    )
    return engine, scheduler


async def serve_retention(
    rt: ServiceRuntime,
    settings: RetentionSettings,
    stop: asyncio.Event,
    *,
    clock: Clock = utc_now,
    consumer_group: str = CONSUMER_GROUP,
) -> None:
    """Register everything on `rt` and serve until `stop` (calls `rt.serve`; background jobs
    added to `rt` before, such as app.py's purge-backlog gauge, run alongside)."""
    engine, scheduler = build(rt, settings, clock)
    policy = await engine.start()
    log.info("retention policy v%d active", policy.version)
    assert rt.grpc is not None
    retention_pb2_grpc.add_RetentionServicer_to_server(RetentionServicer(engine), rt.grpc.server)
    # One consumer for call events (registration) and the services' confirmations.
    rt.add_consumer(consumer_group, [CALL_EVENTS, RETENTION_EVENTS], engine.on_event)
    rt.add_background(scheduler.run)
    await rt.serve(stop)
