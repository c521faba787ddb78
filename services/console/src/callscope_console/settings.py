"""Console settings (CALLSCOPE_CONSOLE_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_CONSOLE_", extra="ignore")

    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)
    # gRPC health (and reflection) only, like every service, for the stack and for probes.
    grpc_port: int = Field(50055, ge=0, le=65535)
    analyzer_target: str = "127.0.0.1:50053"
    transcriber_target: str = "127.0.0.1:50052"
    recorder_target: str = "127.0.0.1:50051"
    # Users: a YAML file, or the same YAML document inline (e.g. from a Kubernetes Secret).
    users_file: Path | None = None
    users: str | None = None
    playback_ttl_s: int = Field(300, ge=10, le=3600)
    cookie_secure: bool = False  # set when the console is served over HTTPS
    # How long a call feed is kept after its last browser left, so a reconnect resumes it.
    call_feed_linger_s: float = Field(120.0, ge=1.0)
    upstream_timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _users_given(self) -> ConsoleSettings:
        if self.users_file is None and not self.users:
            raise ValueError(
                "set CALLSCOPE_CONSOLE_USERS_FILE (a YAML file) or CALLSCOPE_CONSOLE_USERS"
            )
        return self
