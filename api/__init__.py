"""The outer layer: HTTP API, web page and the ``semsearch`` command line."""
from __future__ import annotations

from typing import Any


def create_app(settings: Any = None) -> Any:
    """Build the FastAPI application (imported lazily so the CLI starts fast)."""
    from .app import create_app as _create_app

    return _create_app(settings)
