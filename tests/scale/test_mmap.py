"""With ``SEMSEARCH_INDEX_MMAP`` every index kind loads memory-mapped: its pages come from
the file (the page cache the workers of ``serve --workers N`` share), not from each
process's own memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from search import index as faiss_index
from tests.conftest import REPO

PROBE = """
import json, sys
import numpy as np
from pathlib import Path
from search import index as faiss_index

def rss():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("RssAnon", "RssFile")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) * 1024
    return out

queries = np.load(sys.argv[2])
faiss_index._faiss()  # the import itself costs memory: not the index's
before = rss()
index = faiss_index.load(Path(sys.argv[1]), mmap=True)
_, ids = faiss_index.search(index, queries, 10, nprobe=int(sys.argv[3]))
after = rss()
print(json.dumps({"anon": after["RssAnon"] - before["RssAnon"],
                  "file": after["RssFile"] - before["RssFile"], "ids": ids.tolist()}))
"""


@pytest.mark.parametrize(("threshold", "sq8"), [(10**9, False), (1, False), (10**9, True), (1, True)],
                         ids=["flat", "ivf", "flat-sq8", "ivf-sq8"])
def test_every_index_kind_is_memory_mapped(tmp_path: Path, threshold: int, sq8: bool) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40_000, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = faiss_index.build(vectors, np.arange(len(vectors)) + 7, flat_threshold=threshold,
                              sq8=sq8)
    path = tmp_path / "x.faiss"
    faiss_index.write_atomic(built.index, path)
    np.save(tmp_path / "q.npy", vectors[:20])
    _, expected = faiss_index.search(built.index, vectors[:20], 10, nprobe=built.nprobe)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # thread stacks would blur the measure
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), str(tmp_path / "q.npy"),
                          str(built.nprobe)], cwd=REPO, capture_output=True, text=True,
                         check=True, env=env)
    measured = json.loads(out.stdout)
    size = path.stat().st_size
    assert measured["ids"] == expected.tolist(), built.kind
    # The codes are mapped, not copied; IDMap2's id -> position table is rebuilt in memory.
    assert measured["file"] > 0.5 * size, (built.kind, measured["file"], size)
    assert measured["anon"] < 0.5 * size, (built.kind, measured["anon"], size)
