"""Analyzer's own settings (CALLSCOPE_ANALYZER_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyzerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_ANALYZER_", extra="ignore")

    grpc_port: int = Field(50053, ge=0, le=65535)
    # How many distinct customer utterances asking for a human raise an alert.
    human_request_threshold: int = Field(2, ge=1, le=20)
    human_request_window_s: int | None = Field(None, ge=1)
    cache_dir: Path | None = None
    # Retention's gRPC endpoint: WatchCall and GetCallAnalysis ask its CheckAccess (fail closed).
    retention_target: str = "127.0.0.1:50054"
    # How long alert-rule overrides from PostgreSQL are cached before they are read again.
    rules_reload_s: float = Field(5.0, gt=0, le=3600)
    # A call's summary waits until no final has come for summary_quiet_s after CallEnded (the
    # live transcriber lags the call), and never more than summary_max_wait_s after the end.
    summary_quiet_s: float = Field(15.0, ge=0, le=600)
    summary_max_wait_s: float = Field(120.0, gt=0, le=3600)
