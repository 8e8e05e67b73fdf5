"""Domain exceptions.

Every error a user can cause or meet is one of these; the API maps them to an HTTP
status and the JSON error shape, the CLI to a message and a non-zero exit code.
"""
from __future__ import annotations

from typing import Any


class SemsearchError(Exception):
    """Base class. ``code`` is a stable machine-readable identifier."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInputError(SemsearchError):
    """The caller sent something we cannot work with (empty text, wrong type...)."""

    code = "invalid_input"
    http_status = 422


class InputTooLargeError(InvalidInputError):
    """A request exceeds a configured size limit."""

    code = "input_too_large"
    http_status = 413


class NotFoundError(SemsearchError):
    code = "not_found"
    http_status = 404


class ConflictError(SemsearchError):
    """The request would destroy data or clash with what exists; say what to do instead."""

    code = "conflict"
    http_status = 409


class ShrinkRefusedError(InvalidInputError):
    """A reindex would delete most of a collection (an empty or truncated export?)."""

    code = "shrink_refused"
    http_status = 409


class QualityGateError(SemsearchError):
    """A new build answers the collection's hit-test set worse: it was not activated."""

    code = "quality_gate"
    http_status = 409
    exit_code = 3


class StorageFullError(SemsearchError):
    """The disk (or the database) is full: nothing was changed."""

    code = "storage_full"
    http_status = 507


class BusyError(SemsearchError):
    """The database stayed locked by another writer (a reindex) past the busy timeout."""

    code = "busy"
    http_status = 503


class ConfigError(SemsearchError):
    """Settings that cannot work together (unknown pooling, bad path...)."""

    code = "config_error"
    http_status = 500


class ModelError(SemsearchError):
    """The model cannot be loaded or prepared."""

    code = "model_error"
    http_status = 503


class SourceError(SemsearchError):
    """A reindex source file is unreadable or has invalid rows."""

    code = "source_error"
    http_status = 422


class IndexMismatchError(SemsearchError):
    """A stored index build does not match the configured model or its own record."""

    code = "index_mismatch"
    http_status = 503


class IndexCorruptError(SemsearchError):
    """An index file is missing, truncated or altered."""

    code = "index_corrupt"
    http_status = 503


class NotReadyError(SemsearchError):
    code = "not_ready"
    http_status = 503


class OverloadedError(SemsearchError):
    """The encode queue is full; the caller should retry later."""

    code = "overloaded"
    http_status = 429
