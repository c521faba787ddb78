"""Errors the retention API turns into clear gRPC statuses (and the CLI into messages)."""

from __future__ import annotations


class RetentionError(Exception):
    """Base: a request retention refuses, with a message meant for the caller."""


class NotFoundError(RetentionError):
    pass


class ConflictError(RetentionError):
    pass


class InvalidRequestError(RetentionError):
    pass


class PreconditionError(RetentionError):
    pass
