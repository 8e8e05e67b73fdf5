from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from search import index as faiss_index
from search.errors import IndexCorruptError
from search.vectorstore import BuildInfo, FaissCollectionIndex


def clustered(n: int, dim: int, centres: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_sets_use_exact_flat_search() -> None:
    x = clustered(2000, 32)
    built = faiss_index.build(x, np.arange(2000) + 10, flat_threshold=50_000)
    assert built.kind == "IDMap2,Flat" and built.nprobe == 0
    scores, ids = faiss_index.search(built.index, x[:3], 1)
    assert ids[:, 0].tolist() == [10, 11, 12]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)  # cosine with itself


def test_a_few_queries_run_on_the_calling_thread_and_the_setting_is_made_once(monkeypatch) -> None:
    """OpenMP's team size is set per thread: a question alone runs on its thread, a big
    batch on every core, and a search does not set again what its thread already has."""
    import faiss

    x = clustered(500, 16)
    built = faiss_index.build(x, np.arange(500), flat_threshold=50_000)
    calls: list[int] = []
    real = faiss.omp_set_num_threads
    monkeypatch.setattr(faiss, "omp_set_num_threads", lambda n: (calls.append(n), real(n)))
    monkeypatch.setattr(faiss_index, "_BATCH_THREADS", 2)

    def searches() -> list[int]:
        calls.clear()
        for batch in (1, 1, 64, 64, 1):
            faiss_index.search(built.index, x[:batch], 3)
        return list(calls)

    first = searches()
    assert first in ([1, 2, 1], [2, 1])  # the thread may already have had 1
    assert searches() == [2, 1]
    seen: list[list[int]] = []
    other = threading.Thread(target=lambda: seen.append(searches()))
    other.start()
    other.join()
    assert seen[0] in ([1, 2, 1], [2, 1])  # a thread of its own starts from its own setting


def test_nlist_is_about_four_root_n_with_enough_training_points() -> None:
    assert faiss_index.choose_nlist(1_000_000) == 4000
    assert faiss_index.choose_nlist(10_000) == 256  # 10_000 // 39 caps 400
    assert faiss_index.factory_string(1000, flat_threshold=1, sq8=True) == ("IVF25,SQ8", 25)


@pytest.mark.slow
def test_ivf_on_100k_vectors_reaches_recall_at_its_recorded_nprobe() -> None:
    n, dim = 100_000, 64
    x = clustered(n, dim, centres=2000)
    ids = np.arange(n, dtype=np.int64) * 3 + 7  # passage ids are not positions
    built = faiss_index.build(x, ids, flat_threshold=50_000)
    assert built.kind.startswith("IVF") and built.nlist == faiss_index.choose_nlist(n)
    rng = np.random.default_rng(1)
    queries = x[rng.choice(n, 500, replace=False)] + 0.05 * rng.standard_normal((500, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = faiss_index.build(x, ids, flat_threshold=10**9)
    _, truth = faiss_index.search(exact.index, queries, 10)
    _, found = faiss_index.search(built.index, queries, 10, nprobe=built.nprobe)
    recall = faiss_index.recall_at_k(found, truth)
    assert built.recall_at_10 >= 0.98 and recall >= 0.98, (built.nprobe, recall)
    assert built.nprobe < built.nlist  # the tuning found a real trade-off


def test_filters_are_exact_even_on_ivf() -> None:
    x = clustered(20_000, 32)
    ids = np.arange(20_000, dtype=np.int64)
    built = faiss_index.build(x, ids, flat_threshold=1)
    allowed = np.array([5, 17_000, 19_999], dtype=np.int64)
    _, found = faiss_index.search(built.index, x[:1], 10, nprobe=1, allowed=allowed)
    assert sorted(i for i in found[0] if i >= 0) == [5, 17_000, 19_999]


def test_concurrent_searches_with_different_nprobe_do_not_interfere() -> None:
    x = clustered(20_000, 32)
    built = faiss_index.build(x, np.arange(20_000), flat_threshold=1)
    expected = {p: faiss_index.search(built.index, x[:50], 10, nprobe=p)[1] for p in (1, 64)}
    errors: list[str] = []

    def worker(p: int) -> None:
        for _ in range(20):
            if not np.array_equal(faiss_index.search(built.index, x[:50], 10, nprobe=p)[1], expected[p]):
                errors.append(f"nprobe {p} changed")

    threads = [threading.Thread(target=worker, args=(p,)) for p in (1, 64, 1, 64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_atomic_write_then_mmap_load_round_trip(tmp_path: Path) -> None:
    x = clustered(1000, 16)
    built = faiss_index.build(x, np.arange(1000))
    path = tmp_path / "b.faiss"
    digest = faiss_index.write_atomic(built.index, path)
    assert digest == faiss_index.sha256_file(path) and not list(tmp_path.glob("*.tmp"))
    loaded = faiss_index.load(path)
    assert loaded.ntotal == 1000


def test_truncated_file_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "b.faiss"
    faiss_index.write_atomic(faiss_index.build(clustered(1000, 16), np.arange(1000)).index, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="cannot be read"):
        faiss_index.load(path)


def test_delta_and_removals_on_top_of_an_immutable_build(tmp_path: Path) -> None:
    x = clustered(1000, 16)
    path = tmp_path / "b.faiss"
    faiss_index.write_atomic(faiss_index.build(x[:900], np.arange(900)).index, path)
    store = FaissCollectionIndex(faiss_index.load(path),  # memory-mapped: never mutated
                                 BuildInfo(1, 1, "m", 16, "IDMap2,Flat", 0, 900, 0))
    store.add(np.arange(900, 1000), x[900:])
    store.remove(np.array([0, 950]))
    _, ids = store.search(x[[0, 950, 960]], 1)
    assert ids[2, 0] == 960  # found in the delta
    assert ids[0, 0] != 0 and ids[1, 0] != 950  # removed ids never come back
    assert store.size == 998
