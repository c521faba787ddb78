"""Settings shared by every service, read from CALLSCOPE_* environment variables.

Each service extends `CoreSettings` with its own fields under its own prefix
(CALLSCOPE_RECORDER_*, ...). `load_settings` turns validation errors into one readable
message naming the environment variable, instead of a stack trace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(SystemExit):
    """A setting is missing or malformed; the message names the environment variable."""


class CoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers"
    )
    # ON for a real Kafka; the local Tansu broker refuses InitProducerId, so the stack sets it off.
    kafka_idempotence: bool = True
    kafka_client_id: str = "callscope"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_cafile: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # Real-time consumers: Tansu does not wake a waiting fetch, so latency ~ fetch_max_wait/2.
    kafka_fetch_max_wait_ms: int = Field(20, ge=1, le=10_000)
    # Records a producer gathers per partition into one batch while the previous request is
    # in flight. aiokafka's 16 KiB default holds one second of audio: every further segment
    # for the partition would wait for the last one's acknowledgement. Keep it under the
    # brokers' message.max.bytes (1 MiB by default in Kafka).
    kafka_producer_batch_bytes: int = Field(512 * 1024, ge=16 * 1024, le=4 * 1024 * 1024)

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres", description="libpq URI"
    )
    database_pool_max: int = Field(5, ge=1, le=100)

    object_store_backend: Literal["filesystem", "s3"] = "filesystem"
    object_store_path: Path = Path(".callscope/objects")
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str | None = None
    s3_secure: bool = True
    recordings_bucket: str = "callscope-recordings"
    # Create missing buckets with S3 Object Lock (write-once proof recordings). A bucket's lock
    # cannot be turned on later, so production should pre-create it (docs/deploy.md).
    s3_object_lock: bool = False

    tenant: str = "default"
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Local stack and tests: spans are also written as JSON lines to this file.
    trace_file: Path | None = None
    health_port: int | None = Field(None, ge=0, le=65535)
    # Prometheus scrape endpoint (HTTP, path /metrics); 0 turns it off. OTLP export of traces
    # and metrics is configured by the standard OTEL_* variables (docs/observability.md).
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            raise ValueError("needs at least one host:port")
        for server in servers:
            host, sep, port = server.rpartition(":")
            if "://" in server or not sep or not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
            if not 0 < int(port) < 65536:
                raise ValueError(f"port of {server!r} is out of range")
        return ",".join(servers)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URI (libpq format)")
        return value

    @field_validator("s3_endpoint")
    @classmethod
    def _check_s3_endpoint(cls, value: str | None) -> str | None:
        if value is not None and ("://" in value or "/" in value.strip("/")):
            raise ValueError(
                "give host[:port] only (no scheme or path); CALLSCOPE_S3_SECURE chooses https"
            )
        return value


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def describe_validation_error(cls: type[BaseSettings], exc: ValidationError) -> str:
    prefix = cls.model_config.get("env_prefix", "")
    lines = [f"invalid configuration for {cls.__name__}:"]
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        lines.append(f"  {prefix}{field.upper()}: {error['msg']} (got {error.get('input')!r})")
    return "\n".join(lines)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    try:
        return cls()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(cls, exc)) from None
