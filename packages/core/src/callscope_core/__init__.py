"""Callscope shared core: the plumbing every service uses, written once.

settings (pydantic-settings), Kafka producer/consumer with protobuf payloads and W3C trace
context, object storage (filesystem and S3), PostgreSQL pool and migrations, tracing,
logging, gRPC server scaffolding and graceful shutdown.
"""

__version__ = "0.1.0"
