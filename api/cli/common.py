"""Helpers shared by the CLI commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from search import bundled
from search.config import Settings, get_settings
from search.profiles import BUNDLED_MODEL, resolve_model

console = Console(stderr=True)  # progress and status
out = Console()  # results


def settings() -> Settings:
    return get_settings()


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def ensure_bundled_model(s: Settings) -> None:
    """Prepare the bundled model on first use (a no-op once prepared)."""
    resolved = resolve_model(s)
    if resolved.profile.name == BUNDLED_MODEL:
        bundled.prepare(Path(resolved.source), progress=sys.stderr.isatty())


def load_encoder():  # type: ignore[no-untyped-def]
    from search.encoder import Encoder

    s = settings()
    ensure_bundled_model(s)
    with console.status(f"loading {resolve_model(s).profile.name}…"):
        return Encoder.from_settings(s)
