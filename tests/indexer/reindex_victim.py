"""Runs a reindex with the fake encoder and, on request, stops dead in the middle of it.

Usage: python -m tests.indexer.reindex_victim DATA_DIR SOURCE [encode|write]
With a stage, it touches DATA_DIR/paused when it reaches that stage and then sleeps
until the test kills it with SIGKILL.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console

import faiss
from indexer.reindex import reindex
from search.config import Settings
from search.store.db import open_database
from tests.conftest import FakeEncoder


def pause(data_dir: Path) -> None:
    (data_dir / "paused").touch()
    while True:
        time.sleep(60)


def main() -> None:
    data_dir, source = Path(sys.argv[1]), Path(sys.argv[2])
    stage = sys.argv[3] if len(sys.argv) > 3 else None
    encoder = FakeEncoder()
    if stage == "encode":  # the second chunk of passages never finishes
        original = encoder.encode
        encoder.encode = lambda texts, kind="query": (  # type: ignore[method-assign]
            pause(data_dir) if encoder.calls else original(texts, kind))
    if stage == "write":  # half the file is on disk when we die
        original_write = faiss.write_index

        def write_half(index, path):
            original_write(index, path)
            Path(path).write_bytes(Path(path).read_bytes()[: Path(path).stat().st_size // 2])
            pause(data_dir)

        faiss.write_index = write_half
    settings = Settings(data_dir=data_dir, _env_file=None)
    sessions = open_database(settings.resolved_database_url)
    report = reindex(settings, sessions, encoder, source, "default", full=True,
                     console=Console(stderr=True))
    print(json.dumps({"encoded": report.encoded, "build": report.build.build_id if report.build else None}))


if __name__ == "__main__":
    main()
