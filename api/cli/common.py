"""Helpers shared by the CLI commands."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from search import bundled
from search.config import Settings, get_settings
from search.profiles import BUNDLED_MODEL, resolve_model

if TYPE_CHECKING:
    from search.encoder import Encoder
    from search.service import SearchService

console = Console(stderr=True)  # progress and status
out = Console()  # results


def settings() -> Settings:
    return get_settings()


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(_finite(payload), ensure_ascii=False, indent=2) + "\n")


def ensure_bundled_model(s: Settings) -> None:
    """Prepare the bundled model on first use (a no-op once prepared)."""
    resolved = resolve_model(s)
    if resolved.profile.name == BUNDLED_MODEL:
        bundled.prepare(Path(resolved.source), progress=sys.stderr.isatty())


def load_encoder() -> Encoder:
    """The configured model; jieba's dictionary (for BM25) loads beside it meanwhile."""
    import threading

    from search.encoder import Encoder

    s = settings()
    ensure_bundled_model(s)
    if s.retrieval_mode != "dense":
        from search.lexical import warm_up

        threading.Thread(target=warm_up, name="warm-jieba", daemon=True).start()
    with console.status(f"loading {resolve_model(s).profile.name}…"):
        return Encoder.from_settings(s)


def collection_service(collection: str | None) -> tuple[str, SearchService]:
    """(name, SearchService) for a command over one collection: an unknown collection
    fails before the model loads."""
    from search.service import SearchService
    from search.store import repository
    from search.store.db import open_database

    name = collection or settings().default_collection
    sessions = open_database(settings().resolved_database_url)
    with sessions() as session:
        repository.get_collection(session, name)
    return name, SearchService(settings(), load_encoder(), sessions)
