"""Wiring of the retention service: registers every stored recording with its purposes."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from callscope.v1 import events_pb2, retention_pb2, retention_pb2_grpc
from callscope_core.kafka import ConsumedEvent
from callscope_core.runtime import ServiceRuntime
from callscope_core.settings import CoreSettings
from callscope_core.topics import CALL_EVENTS

from .domain.policy import RetentionPolicy
from .settings import RetentionSettings
from .store import RecordingRegistry

log = logging.getLogger(__name__)


async def run(core: CoreSettings, settings: RetentionSettings, stop: asyncio.Event) -> None:
    policy = RetentionPolicy.from_days(settings.policy_version, settings.periods_days)
    policy.windows(settings.default_purposes, datetime.now(UTC))  # fail fast on a bad default

    async with ServiceRuntime(
        "retention",
        core,
        grpc_port=settings.grpc_port,
        grpc_services=[retention_pb2.DESCRIPTOR.services_by_name["Retention"].full_name],
        migrations_package="callscope_retention",
    ) as rt:
        registry = RecordingRegistry(rt.db, policy, settings.default_purposes)

        async def on_call_event(event: ConsumedEvent) -> None:
            if isinstance(event.message, events_pb2.RecordingStored):
                await registry.register(event.message)

        assert rt.grpc is not None
        # Holds, erasure and audit come with the retention issue: UNIMPLEMENTED until then.
        retention_pb2_grpc.add_RetentionServicer_to_server(
            retention_pb2_grpc.RetentionServicer(), rt.grpc.server
        )
        rt.add_consumer("callscope-retention", [CALL_EVENTS], on_call_event)
        await rt.serve(stop)
