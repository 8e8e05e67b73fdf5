from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _datasets_dir() -> Path:
    env = os.environ.get("SEMSEARCH_DATASETS_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "datasets")


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = _datasets_dir()
    if not path.is_dir():
        raise RuntimeError(f"evaluation sets not found at {path}; set SEMSEARCH_DATASETS_DIR")
    return path
