"""Wiring of the transcriber: audio segments in, partial and final transcript segments out;
stored recordings in, post-call (version 2) finals out; the Transcripts gRPC API."""

from __future__ import annotations

import asyncio
import logging
import os

from callscope.v1 import transcripts_pb2, transcripts_pb2_grpc
from callscope_core.access import AccessGate
from callscope_core.runtime import ServiceRuntime
from callscope_core.service import sleep_or_stop
from callscope_core.settings import CoreSettings
from callscope_core.storage import open_object_store
from callscope_core.topics import AUDIO_SEGMENTS, CALL_EVENTS, RETENTION_COMMANDS

from .consumer import HoldingConsumer
from .engine import WhisperEngine
from .grpc_api import TranscriptsService
from .live import LiveTranscriber
from .models import resolve_model
from .postcall import PostCallTranscriber
from .purge import purge_handler
from .settings import TranscriberSettings
from .store import TranscriptStore

log = logging.getLogger(__name__)

LIVE_GROUP = "callscope-transcriber"
POSTCALL_GROUP = "callscope-transcriber-postcall"


async def load_engine(settings: TranscriberSettings, model: str, beam_size: int) -> WhisperEngine:
    engine = await asyncio.to_thread(
        WhisperEngine,
        resolve_model(model, settings.models_dir),
        device=settings.device,
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        beam_size=beam_size,
        languages=settings.languages,
        chinese_script=settings.chinese_script,
    )
    await asyncio.to_thread(engine.warm_up)
    return engine


async def run(core: CoreSettings, settings: TranscriberSettings, stop: asyncio.Event) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    async with ServiceRuntime(
        "transcriber",
        core,
        grpc_port=settings.grpc_port,
        grpc_services=[transcripts_pb2.DESCRIPTOR.services_by_name["Transcripts"].full_name],
        migrations_package="callscope_transcriber",
    ) as rt:
        store = TranscriptStore(rt.db)
        access = AccessGate(settings.retention_target)
        assert rt.grpc is not None
        transcripts_pb2_grpc.add_TranscriptsServicer_to_server(
            TranscriptsService(store, access, settings.chinese_script), rt.grpc.server
        )
        live_engine = await load_engine(settings, settings.live_model, settings.beam_size)
        live = LiveTranscriber(
            live_engine, store, rt.producer, settings, postcall_available=settings.postcall_enabled
        )
        await live.republish_unpublished()
        consumer = HoldingConsumer(
            core,
            "transcriber",
            LIVE_GROUP,
            [AUDIO_SEGMENTS],
            live.on_event,
            dead_letters=rt.producer,
            hold=live.hold_offset,
        )
        rt.consumers.append(consumer)
        live.on_released = consumer.commit_released

        async def commit_released(stop: asyncio.Event) -> None:
            # Holds also end without a new fetch (a channel goes idle, a call is deferred).
            while not await sleep_or_stop(stop, 1.0):
                await consumer.commit_released()

        if settings.postcall_enabled:
            postcall_engine = (
                live_engine
                if settings.postcall_model == settings.live_model
                else await load_engine(
                    settings, settings.postcall_model, settings.postcall_beam_size
                )
            )
            postcall = PostCallTranscriber(
                postcall_engine,
                settings.postcall_beam_size,
                live,
                open_object_store(core),
                min_silence_ms=settings.min_silence_ms,
            )
            rt.add_consumer(POSTCALL_GROUP, [CALL_EVENTS], postcall.on_event)
        rt.add_consumer(
            "callscope-transcriber-retention",
            [RETENTION_COMMANDS],
            purge_handler(rt.db, rt.producer),
        )
        try:
            await rt.serve(stop, background=[live.work, live.flush_idle, commit_released])
        finally:
            live.close()
            await access.close()
