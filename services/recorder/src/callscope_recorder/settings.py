"""Recorder's own settings (CALLSCOPE_RECORDER_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecorderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_RECORDER_", extra="ignore")

    grpc_port: int = Field(50051, ge=0, le=65535)
    sip_host: str = "0.0.0.0"
    sip_port: int = Field(5060, ge=1, le=65535)
    # Address written into SDP answers; must be reachable by the SBC (the node IP with
    # hostNetwork). Defaults to sip_host, or 127.0.0.1 when that is a wildcard.
    advertised_ip: str | None = None
    rtp_port_min: int = Field(20000, ge=1024, le=65535)
    rtp_port_max: int = Field(29999, ge=1024, le=65535)
    rtp_receive_buffer: int = Field(1 << 20, ge=65536)
    # batched: every stream socket read every rtp_drain_ms by the compiled receiver (epoll +
    # recvmmsg; several times the calls per core). per-packet: a callback per datagram (the
    # fallback when the compiled receiver is not built). Packets wait up to rtp_drain_ms in
    # the socket: keep it well under jitter_ms and the buffer big enough to hold that long.
    rtp_receiver: Literal["batched", "per-packet"] = "batched"
    rtp_drain_ms: int = Field(100, ge=1, le=200)
    # Which SIPREC participant is the agent (regex on the AOR in rs-metadata).
    agent_aor_pattern: str = r"agent|@callcenter\.|@cc\."
    segment_ms: int = Field(1000, ge=100, le=5000)
    jitter_ms: int = Field(200, ge=0, le=2000)
    # A call with no RTP and no BYE for this long is ended (reason "timeout").
    media_timeout_s: float = Field(60.0, gt=0)
    # On SIGTERM: refuse new calls (503) and wait this long for live calls to end by themselves.
    # Keep it below the pod's terminationGracePeriodSeconds.
    drain_timeout_s: float = Field(1700.0, ge=0)
    default_queue: str = ""
    # The retention service (host:port), asked before any recording is served.
    retention_target: str = "127.0.0.1:50054"
    # Durable spool: audio is journaled here as it is placed, so a crash loses nothing; a
    # restart finishes and stores every call left in it (CallEnded reason "recovered").
    spool_dir: Path = Path(".callscope/spool")
    # Journal writes reach the page cache within spool_flush_ms (that survives a crash of
    # the process). spool_fsync also syncs the spool's filesystem every spool_sync_interval_ms
    # (one syncfs for all calls), so a power cut loses at most that much.
    spool_fsync: bool = True
    spool_sync_interval_ms: int = Field(1000, ge=50, le=60000)
    # How often a live call's journal is written out (and fsynced).
    spool_flush_ms: int = Field(500, ge=10, le=10000)
    # Start a new segment file after this many bytes.
    spool_segment_bytes: int = Field(8 << 20, ge=4096)
    # DTMF (RFC 4733 telephone-events on SIPREC RTP) keyed by the agent to pause and resume
    # the recording; empty disables. Digits of one sequence within dtmf_max_gap_ms.
    dtmf_pause_digits: str = "*1"
    dtmf_resume_digits: str = "*2"
    dtmf_max_gap_ms: int = Field(3000, ge=100, le=60000)
    # Which channels' digits count (the agent keys them; a customer's IVR digits must not).
    dtmf_channels: tuple[str, ...] = ("agent",)
    # Recordings kept for proof only go to this bucket, created with S3 Object Lock.
    proof_bucket: str = "callscope-proof"
    user_agent: str = "Callscope-Recorder/0.1"
    # Media streams over WebSocket: Genesys AudioHook on /audiohook, Twilio Media Streams on
    # /twilio. Port 0 turns the listener off.
    websocket_host: str = "0.0.0.0"
    websocket_port: int = Field(8765, ge=0, le=65535)
    # AudioHook clients must send one of these (comma-separated) as X-API-KEY; with none
    # configured every AudioHook connection is refused (401).
    audiohook_api_keys: str = ""
    # Client secrets (API_KEY=BASE64_SECRET, comma-separated) of the AudioHook integrations
    # that have one: their upgrade requests must carry a valid signature (RFC 9421,
    # HMAC-SHA256) at most audiohook_signature_max_age_s old, each nonce used once.
    audiohook_client_secrets: str = ""
    audiohook_signature_max_age_s: int = Field(10, ge=1, le=300)
    # Twilio auth token: when set, an upgrade without a valid X-Twilio-Signature is refused
    # (403). The signature covers the URL Twilio was given: websocket_public_url + path.
    twilio_auth_token: str = ""
    websocket_public_url: str = ""
    # Largest WebSocket message and gRPC StreamCall audio frame accepted; larger ones are
    # refused with the reason (one second of 48 kHz PCM16 is 96000 bytes).
    max_media_frame_bytes: int = Field(96000, ge=1024, le=1 << 20)

    @model_validator(mode="after")
    def _check_ports(self) -> RecorderSettings:
        if self.rtp_port_max - self.rtp_port_min < 4:
            raise ValueError("RTP port range must hold at least two streams (min..max)")
        return self

    @model_validator(mode="after")
    def _check_dtmf(self) -> RecorderSettings:
        from .domain.dtmf import DtmfSequenceMatcher

        DtmfSequenceMatcher(self.dtmf_pause_digits, self.dtmf_resume_digits)  # raises if bad
        unknown = set(self.dtmf_channels) - {"agent", "customer"}
        if unknown:
            raise ValueError(f"dtmf_channels: unknown channel(s) {sorted(unknown)}")
        return self

    @model_validator(mode="after")
    def _check_audiohook_secrets(self) -> RecorderSettings:
        from .ingest.audiohook.signature import parse_client_secrets

        unknown = set(parse_client_secrets(self.audiohook_client_secrets)) - set(
            self.audiohook_keys
        )  # raises ClientSecretError (a ValueError) naming a bad entry
        if unknown:
            raise ValueError(
                f"audiohook_client_secrets: {len(unknown)} key(s) not in audiohook_api_keys"
            )
        return self

    @property
    def audiohook_secrets(self) -> dict[str, bytes]:
        from .ingest.audiohook.signature import parse_client_secrets

        return parse_client_secrets(self.audiohook_client_secrets)

    @property
    def audiohook_keys(self) -> list[str]:
        return [key.strip() for key in self.audiohook_api_keys.split(",") if key.strip()]

    @property
    def sdp_ip(self) -> str:
        if self.advertised_ip:
            return self.advertised_ip
        return "127.0.0.1" if self.sip_host in ("0.0.0.0", "::", "") else self.sip_host
