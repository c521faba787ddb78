"""Retention's own settings (CALLSCOPE_RETENTION_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain.cron import CronError, CronSchedule


class RetentionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_RETENTION_", extra="ignore")

    grpc_port: int = Field(50054, ge=0, le=65535)
    # The first policy version (written once to retention.policy_versions when there is none;
    # later versions come from `callscope retention policy apply`).
    # Purposes given to a recording when nothing more specific is known.
    default_purposes: list[str] = ["quality", "analytics"]
    policy_version: int = Field(1, ge=1)
    periods_days: dict[str, int] = {
        "proof": 1825,
        "quality": 183,
        "analytics": 365,
        "live_assist": 1,
    }
    # When purge runs start: cron (minute hour day month weekday, UTC) or "@every 30s".
    purge_schedule: str = "*/15 * * * *"
    # Calls per PurgeCalls command (one batch is one transaction in each service).
    purge_batch_size: int = Field(500, ge=1, le=5000)
    # Data items one run hands out at most; the rest waits for the next run.
    purge_max_per_run: int = Field(100_000, ge=1)
    # A command no service confirmed within this long is sent again.
    purge_retry_after_s: float = Field(300.0, gt=0)
    # How often the scheduler looks at the clock, resends and reconciles Object Lock.
    maintenance_interval_s: float = Field(5.0, gt=0)

    @field_validator("purge_schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        try:
            CronSchedule.parse(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value
