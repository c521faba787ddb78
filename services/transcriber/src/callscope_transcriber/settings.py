"""Transcriber's own settings (CALLSCOPE_TRANSCRIBER_*); shared ones come from CoreSettings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from callscope_core.chinese import ChineseScript


class TranscriberSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_TRANSCRIBER_", extra="ignore")

    grpc_port: int = Field(50052, ge=0, le=65535)
    # Retention's gRPC address: the Transcripts API asks its CheckAccess (fails closed).
    retention_target: str = "127.0.0.1:50054"
    models_dir: Path = Path(".callscope/models")
    # A known model name installed under models_dir, or a path to a CTranslate2 directory.
    # Live: partials and finals while the call goes on (whisper-base, or whisper-tiny.en for
    # English-only sites); greedy decoding keeps it fast.
    live_model: str = "whisper-base"
    beam_size: int = Field(1, ge=1, le=10)  # live beam size
    # Post-call: the whole stored recording again, after RecordingStored, as version 2.
    postcall_enabled: bool = True
    postcall_model: str = "whisper-base"  # the same as live_model shares one loaded model
    postcall_beam_size: int = Field(5, ge=1, le=10)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1, le=64)
    # A PARTIAL for the utterance being spoken each time this much more of it was heard.
    partial_interval_ms: int = Field(1000, ge=200, le=10_000)
    partials_enabled: bool = True
    # Back-pressure on the live backlog, measured as the estimated decode time of the finals
    # waiting for the model (queued finals x running mean decode time): partials stop above
    # skip and resume below resume; above defer, the newest calls are left to the post-call
    # path (without post-call, consumption waits instead: the broker keeps the audio).
    backlog_skip_partials_ms: int = Field(2_000, ge=0)
    backlog_resume_partials_ms: int = Field(500, ge=0)
    backlog_defer_ms: int = Field(15_000, ge=0)
    # A deferred call still in progress comes back live once the backlog is below this (0:
    # never), at most one call per backlog_resume_interval_s.
    backlog_resume_calls_ms: int = Field(500, ge=0)
    backlog_resume_interval_s: float = Field(10.0, ge=0)
    # Language detection is restricted to these (Whisper alone is poor on short utterances).
    languages: list[str] = ["en", "fr", "ru", "zh"]
    # Script of Chinese transcripts: Whisper writes Mandarin in Simplified or Traditional
    # characters unpredictably; keyword lists and search queries need one.
    chinese_script: ChineseScript = "simplified"
    min_silence_ms: int = Field(600, ge=100, le=5000)
    # A call whose audio stops without a last segment is flushed after this long.
    idle_flush_s: float = Field(120.0, gt=0)
