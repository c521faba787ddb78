"""Transcriber's own settings (CALLSCOPE_TRANSCRIBER_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TranscriberSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_TRANSCRIBER_", extra="ignore")

    grpc_port: int = Field(50052, ge=0, le=65535)
    # Retention's gRPC address: the Transcripts API asks its CheckAccess (fails closed).
    retention_target: str = "127.0.0.1:50054"
    models_dir: Path = Path(".callscope/models")
    # A known model name installed under models_dir, or a path to a CTranslate2 directory.
    live_model: str = "whisper-base"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1, le=64)
    beam_size: int = Field(1, ge=1, le=10)
    # Language detection is restricted to these (Whisper alone is poor on short utterances).
    languages: list[str] = ["en", "fr", "ru", "zh"]
    min_silence_ms: int = Field(600, ge=100, le=5000)
    # A call whose audio stops without a last segment is flushed after this long.
    idle_flush_s: float = Field(120.0, gt=0)
