"""Recorder's own settings (CALLSCOPE_RECORDER_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pathlib import Path

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
    spool_dir: Path = Path(".callscope/spool")
    user_agent: str = "Callscope-Recorder/0.1"

    @model_validator(mode="after")
    def _check_ports(self) -> RecorderSettings:
        if self.rtp_port_max - self.rtp_port_min < 4:
            raise ValueError("RTP port range must hold at least two streams (min..max)")
        return self

    @property
    def sdp_ip(self) -> str:
        if self.advertised_ip:
            return self.advertised_ip
        return "127.0.0.1" if self.sip_host in ("0.0.0.0", "::", "") else self.sip_host
