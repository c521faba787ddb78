"""Wiring of the recorder: SIPREC in; recordings, call rows and events out."""

from __future__ import annotations

import asyncio
import logging

from callscope.v1 import recorder_pb2, recorder_pb2_grpc
from callscope_core.runtime import ServiceRuntime
from callscope_core.settings import CoreSettings
from callscope_core.storage import open_object_store
from callscope_core.topics import RETENTION_COMMANDS

from .calls import CallRecorder
from .grpc_api import RecorderService
from .ingest.rtp_server import RtpPortPool
from .ingest.sip.server import SiprecServer
from .purge import purge_handler
from .settings import RecorderSettings
from .storage import RecordingStore

log = logging.getLogger(__name__)


async def run(core: CoreSettings, settings: RecorderSettings, stop: asyncio.Event) -> None:
    async with ServiceRuntime(
        "recorder",
        core,
        grpc_port=settings.grpc_port,
        grpc_services=[recorder_pb2.DESCRIPTOR.services_by_name["Recorder"].full_name],
        migrations_package="callscope_recorder",
    ) as rt:
        objects = open_object_store(core)
        ensure = getattr(objects, "ensure_bucket", None)
        if ensure is not None:
            await ensure()
        store = RecordingStore(rt.db, objects, core.tenant)
        rtp = RtpPortPool(
            settings.sip_host if settings.sip_host not in ("", "::") else "0.0.0.0",
            settings.rtp_port_min,
            settings.rtp_port_max,
            settings.rtp_receive_buffer,
        )
        recorder = CallRecorder(settings, store, rt.producer, rtp)
        sip = SiprecServer(settings, recorder)
        assert rt.grpc is not None
        # GetRecording is served; StreamCall/SetRecording come with the ingest issue.
        recorder_pb2_grpc.add_RecorderServicer_to_server(
            RecorderService(rt.db, objects, settings.retention_target), rt.grpc.server
        )
        await sip.start()
        try:
            # Retention's commands: delete (or lock) this service's recordings, then confirm.
            rt.add_consumer(
                "callscope-recorder-retention",
                [RETENTION_COMMANDS],
                purge_handler(rt.db, rt.producer, objects, core),
            )
            await rt.serve(stop, background=[recorder.reap_silent_calls])
        finally:
            # Drain: refuse new calls, finish and store the ones in progress.
            sip.accepting = False
            await recorder.drain(settings.drain_timeout_s)
            sip.close()
