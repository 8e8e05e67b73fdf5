from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Under `pytest -n N` every worker, and each server and command it starts, would run torch
# on all cores: N thread pools spinning on the same cores slow the suite by a sixth. Each
# gets its share instead (before anything imports torch; children inherit the setting).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))


def _datasets_dir() -> Path:
    env = os.environ.get("SEMSEARCH_DATASETS_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "datasets")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first, longest of all first: a worker that picked one up
    late would finish the run alone (the workers take whole files, in the order collected).
    The calibration file's minutes are those of a machine without its cached vectors."""
    def minutes(item: pytest.Item) -> float:
        marker = item.get_closest_marker("longest")
        return -float(marker.kwargs["minutes"]) if marker else 0.0

    items.sort(key=minutes)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = _datasets_dir()
    if not path.is_dir():
        raise RuntimeError(f"evaluation sets not found at {path}; set SEMSEARCH_DATASETS_DIR")
    return path


# --- a deterministic fake encoder for fast unit tests ---------------------------------
import hashlib  # noqa: E402

import numpy as np  # noqa: E402

from search.bands import Thresholds  # noqa: E402
from search.encoder import EncodeResult, validate_texts  # noqa: E402
from search.profiles import ModelProfile, ResolvedModel  # noqa: E402
from search.text import normalize  # noqa: E402


class FakeEncoder:
    """Hashes character bigrams into a fixed-size vector: texts sharing characters get
    similar vectors, so retrieval behaves sensibly without a model. Counts its calls."""

    def __init__(self, dim: int = 64, model_id: str = "fake-model",
                 question_prefix: str | None = None) -> None:
        self.dim = dim
        self.profile = ModelProfile(model_id, "mean", dim, max_length=64,
                                    thresholds=Thresholds(0.9, 0.7, 0.5),
                                    question_prefix=question_prefix)
        self.resolved = ResolvedModel("fake", self.profile, local=True)
        self.device, self.precision, self.threads = "cpu", "fp32", 1
        self.calls: list[list[str]] = []
        self.roles: list[str] = []  # the role of each call

    @property
    def model_id(self) -> str:
        return self.profile.name

    @property
    def encoded_texts(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        grams = [text[i:i + 2] for i in range(max(1, len(text) - 1))] + list(text)
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def encode(self, texts, kind="query") -> EncodeResult:
        texts = [normalize(t) for t in validate_texts(texts)]
        self.calls.append(list(texts))
        self.roles.append(kind)
        prefix = self.profile.prefix(kind)
        vectors = np.stack([self._vector(prefix + t) for t in texts]).astype(np.float32)
        return EncodeResult(vectors, [len(t) > 64 for t in texts], [len(t) + 2 for t in texts])

    def encode_queries(self, texts):
        return self.encode(texts, "query").vectors

    def encode_passages(self, texts):
        return self.encode(texts, "passage").vectors

    def count_tokens(self, texts):
        return [len(t) for t in texts]

    @property
    def passage_token_budget(self) -> int:
        return 62


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def settings(tmp_path: Path):
    """Settings over a fresh temporary data directory (SQLite file with migrations)."""
    from search.config import Settings

    return Settings(data_dir=tmp_path / "data", models_dir=REPO / "data" / "models",
                    _env_file=None)


@pytest.fixture(scope="session")
def bundled_encoder():
    """The real bundled model at fp32 (prepared on first use), shared by a session."""
    from search import bundled
    from search.config import Settings
    from search.encoder import Encoder

    s = Settings(models_dir=REPO / "data" / "models", precision="fp32", _env_file=None)
    bundled.prepare(s.resolved_models_dir / bundled.BUNDLED_NAME, progress=False)
    return Encoder.from_settings(s)


@pytest.fixture(scope="session")
def dataset_encoder(bundled_encoder):
    """The bundled model for the fixed evaluation sets: their vectors are cached on this
    machine between runs (tests/embedding_cache.py)."""
    from tests.embedding_cache import CachedEncoder, cache_path

    path = cache_path()
    return bundled_encoder if path is None else CachedEncoder(bundled_encoder, path)
