"""Encodings of the fixed evaluation sets, kept between test runs on one machine.

The calibration tests score some 80,000 sentences of ../shared/datasets at fp32, which
takes minutes on two cores; the sentences never change, so their vectors are encoded
once per machine and read back afterwards. The cache is keyed by everything that could
change a vector: the prepared model's stamp, the precision, torch's version, and the
exact text fed to the model (normalised, prefix included). It lives outside the checkout
(``SEMSEARCH_TEST_CACHE``, default ``~/.cache/semsearch/test-embeddings.sqlite``;
``off`` turns it off), so that a fresh clone on the same machine reuses it. Only the
dataset tests use it: the tests of the encoder itself always encode.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from search.encoder import EncodeResult


def cache_path() -> Path | None:
    setting = os.environ.get("SEMSEARCH_TEST_CACHE", "")
    if setting.lower() == "off":
        return None
    return Path(setting) if setting else Path.home() / ".cache" / "semsearch" / "test-embeddings.sqlite"


class CachedEncoder:
    """The real encoder, with vectors of texts seen before read from a SQLite file."""

    def __init__(self, encoder, path: Path) -> None:
        import torch

        self.inner = encoder
        stamp = Path(encoder.resolved.source) / "semsearch-bundle.json"
        model = stamp.read_bytes() if stamp.exists() else encoder.resolved.source.encode()
        self.space = hashlib.sha256(model + f"|{encoder.precision}|{torch.__version__}".encode()).hexdigest()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (space TEXT, hash TEXT, vector BLOB, "
                        "PRIMARY KEY (space, hash))")

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # profile, model_id, dim, …

    def encode(self, texts: Sequence[str], kind: str = "query") -> EncodeResult:
        from search.text import normalize

        prefix, t2s = self.inner.profile.prefix(kind), self.inner.profile.traditional_to_simplified
        keys = [hashlib.sha256((prefix + normalize(t, traditional_to_simplified=t2s)).encode("utf-8"))
                .hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(f"SELECT hash, vector FROM vectors WHERE space = ? AND hash IN "
                                   f"({','.join('?' * len(chunk))})", [self.space, *chunk])
            found.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            fresh = self.inner.encode([texts[i] for i in missing], kind).vectors
            with self.db:
                self.db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                                    [(self.space, keys[i], v.tobytes()) for i, v in zip(missing, fresh)])
            found.update((keys[i], v) for i, v in zip(missing, fresh))
        vectors = np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.inner.dim), np.float32)
        return EncodeResult(vectors, [False] * len(keys), [0] * len(keys))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, "query").vectors
