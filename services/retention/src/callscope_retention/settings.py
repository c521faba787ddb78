"""Retention's own settings (CALLSCOPE_RETENTION_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RetentionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_RETENTION_", extra="ignore")

    grpc_port: int = Field(50054, ge=0, le=65535)
    # Purposes given to a recording when nothing more specific is known.
    default_purposes: list[str] = ["quality", "analytics"]
    policy_version: int = Field(1, ge=1)
    periods_days: dict[str, int] = {
        "proof": 1825,
        "quality": 183,
        "analytics": 365,
        "live_assist": 1,
    }
