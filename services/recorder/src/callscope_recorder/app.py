"""Wiring of the recorder: SIPREC in; recordings, call rows and events out."""

from __future__ import annotations

import asyncio
import logging

from callscope.v1 import recorder_pb2, recorder_pb2_grpc
from callscope_core.runtime import ServiceRuntime
from callscope_core.settings import CoreSettings
from callscope_core.storage import ObjectStore, S3ObjectStore, open_object_store
from callscope_core.topics import RETENTION_COMMANDS

from .calls import CallRecorder
from .grpc_api import RecorderService
from .ingest.audiohook.signature import AudioHookSignatures
from .ingest.rtp_server import RtpPortPool
from .ingest.sip.server import SiprecServer
from .ingest.websocket_server import MediaStreamServer
from .policy_store import PolicyStore
from .purge import purge_handler
from .settings import RecorderSettings
from .spool import Spool
from .storage import RecordingStore

log = logging.getLogger(__name__)


async def open_proof_store(core: CoreSettings, settings: RecorderSettings) -> ObjectStore:
    """The bucket for proof-only recordings. On S3 it is created with Object Lock (a bucket's
    lock can only be chosen at creation), so COMPLIANCE retention can be set per object."""
    if core.object_store_backend != "s3":
        return open_object_store(core, settings.proof_bucket)
    assert core.s3_endpoint and core.s3_access_key and core.s3_secret_key
    store = S3ObjectStore(
        core.s3_endpoint,
        core.s3_access_key.get_secret_value(),
        core.s3_secret_key.get_secret_value(),
        settings.proof_bucket,
        secure=core.s3_secure,
        region=core.s3_region,
        object_lock=True,
    )
    await store.ensure_bucket()
    return store


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
        proof_objects = await open_proof_store(core, settings)
        store = RecordingStore(rt.db, objects, core.tenant, proof_objects)
        policies = PolicyStore(rt.db)
        rtp = RtpPortPool(
            settings.sip_host if settings.sip_host not in ("", "::") else "0.0.0.0",
            settings.rtp_port_min,
            settings.rtp_port_max,
            settings.rtp_receive_buffer,
            receiver=settings.rtp_receiver,
            drain_ms=settings.rtp_drain_ms,
        )
        spool = Spool(
            settings.spool_dir,
            fsync=settings.spool_fsync,
            segment_bytes=settings.spool_segment_bytes,
            sync_interval_s=settings.spool_sync_interval_ms / 1000,
        )
        recorder = CallRecorder(
            settings, store, rt.producer, rtp, policies=policies, spool=spool, tenant=core.tenant
        )
        # Calls a crashed predecessor left in the spool are finished before new ones come in.
        recovered = await recorder.recover()
        if recovered:
            log.warning("recovered %d call(s) from the spool", len(recovered))
        sip = SiprecServer(settings, recorder)
        assert rt.grpc is not None
        recorder_pb2_grpc.add_RecorderServicer_to_server(
            RecorderService(
                rt.db,
                objects,
                settings.retention_target,
                recorder=recorder,
                policies=policies,
                max_frame_bytes=settings.max_media_frame_bytes,
            ),
            rt.grpc.server,
        )
        await sip.start()
        media = MediaStreamServer(
            recorder,
            host=settings.websocket_host,
            port=settings.websocket_port,
            audiohook_api_keys=settings.audiohook_keys,
            audiohook_signatures=AudioHookSignatures(
                settings.audiohook_secrets, max_age_s=settings.audiohook_signature_max_age_s
            ),
            twilio_auth_token=settings.twilio_auth_token,
            public_url=settings.websocket_public_url,
            max_message_bytes=settings.max_media_frame_bytes,
        )
        if settings.websocket_port:
            await media.start()
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
            media.stop_accepting()
            await recorder.drain(settings.drain_timeout_s)
            await rtp.aclose()
            sip.close()
            await media.close()
