"""FAISS index: build, tune, save atomically, load, search. The only module importing faiss.

Vectors are L2-normalised and searched by inner product, so scores are cosines.
Below ``flat_threshold`` vectors we use exact ``Flat`` search: IVF under-trains on small
sets (FAISS wants at least 39 training points per centroid) and exact search is fast
there anyway. Above it, ``IVF{K},Flat`` (or ``SQ8``) with K about 4·sqrt(N), and nprobe
chosen at build time as the smallest that reaches recall@10 >= 0.98 against exact search
on a sample of the data itself.
"""
from __future__ import annotations

import errno
import hashlib
import math
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .errors import IndexCorruptError, StorageFullError

MIN_POINTS_PER_CENTROID = 39
TARGET_RECALL = 0.98
_RECALL_SAMPLE = 1000


@lru_cache(maxsize=1)
def _faiss() -> ModuleType:
    import faiss

    global _BATCH_THREADS
    _BATCH_THREADS = faiss.omp_get_max_threads()  # OMP_NUM_THREADS, or every core
    return faiss


# A search of a few vectors (a user's question; the densities of a few candidates) runs
# on the calling thread alone: a team of OpenMP threads would finish no sooner, then
# spin and compete with the encoder's and the other requests' threads (on two cores a
# hybrid search took four times as long). Larger batches get every core.
_SERIAL_QUERIES = 32
_BATCH_THREADS = 1
_omp = threading.local()  # the team size this thread last gave OpenMP (a setting per thread)


@dataclass
class BuiltIndex:
    index: Any
    kind: str  # factory string, e.g. "IDMap2,Flat" or "IVF1264,Flat"
    nlist: int
    nprobe: int
    recall_at_10: float | None


def _check(vectors: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    assert vectors.ndim == 2 and ids.shape == (vectors.shape[0],), (vectors.shape, ids.shape)
    return vectors, ids


def choose_nlist(n: int) -> int:
    """About 4·sqrt(N) lists, but never fewer than 39 training points per list."""
    return max(1, min(int(4 * math.sqrt(n)), n // MIN_POINTS_PER_CENTROID))


def factory_string(n: int, *, flat_threshold: int, sq8: bool) -> tuple[str, int]:
    codec = "SQ8" if sq8 else "Flat"
    if n < flat_threshold or choose_nlist(n) < 2:
        return f"IDMap2,{codec}", 0
    nlist = choose_nlist(n)
    return f"IVF{nlist},{codec}", nlist


def gpu_available() -> bool:
    faiss = _faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build(vectors: np.ndarray, ids: np.ndarray, *, flat_threshold: int = 50_000,
          sq8: bool = False, use_gpu: bool | None = None) -> BuiltIndex:
    """Build an index over ``vectors`` with external ``ids`` (passage ids)."""
    faiss = _faiss()
    vectors, ids = _check(vectors, ids)
    dim = vectors.shape[1]
    kind, nlist = factory_string(len(vectors), flat_threshold=flat_threshold, sq8=sq8)
    index = faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
    use_gpu = gpu_available() if use_gpu is None else use_gpu
    if use_gpu and nlist:
        # Train and add on the GPU (k-means dominates build time), save from the CPU.
        resources = faiss.StandardGpuResources()
        gpu_index = faiss.index_cpu_to_gpu(resources, 0, index)
        gpu_index.train(vectors)
        gpu_index.add_with_ids(vectors, ids)
        index = faiss.index_gpu_to_cpu(gpu_index)
    else:
        if not index.is_trained:
            index.train(vectors)
        index.add_with_ids(vectors, ids)
    if not nlist:
        return BuiltIndex(index, kind, 0, 0, None)
    nprobe, recall = tune_nprobe(index, vectors, ids, nlist)
    return BuiltIndex(index, kind, nlist, nprobe, recall)


def tune_nprobe(index: Any, vectors: np.ndarray, ids: np.ndarray, nlist: int,
                k: int = 10) -> tuple[int, float]:
    """Smallest power-of-two nprobe reaching TARGET_RECALL@k against exact search."""
    faiss = _faiss()
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(len(vectors), size=min(_RECALL_SAMPLE, len(vectors)),
                                replace=False)]
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, positions = exact.search(sample, k)
    truth = np.where(positions >= 0, ids[positions], -1)
    nprobe = 1
    while True:
        _, found = index.search(sample, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
        recall = recall_at_k(found, truth)
        if recall >= TARGET_RECALL or nprobe >= nlist:
            return nprobe, recall
        nprobe = min(nprobe * 2, nlist)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t[t >= 0])) for f, t in zip(found, truth))
    return hits / max(1, int((truth >= 0).sum()))


def search(index: Any, queries: np.ndarray, k: int, *, nprobe: int = 0,
           allowed: np.ndarray | None = None,
           excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids), missing slots as id -1.

    ``nprobe`` and the id filters travel in per-call search parameters, so concurrent
    searches never mutate the shared index. With an ``allowed`` list every list is
    probed: a filter must be exact, and a filtered IVF probe could miss its members.
    """
    faiss = _faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    keep: list[Any] = []  # SWIG selectors must outlive the search call
    selector = None
    if allowed is not None:
        if excluded is not None and len(excluded):
            allowed = np.setdiff1d(allowed, excluded)
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        nprobe = getattr(index, "nlist", 0) or nprobe
    elif excluded is not None and len(excluded):
        inner = faiss.IDSelectorBatch(np.ascontiguousarray(excluded, dtype=np.int64))
        keep.append(inner)
        selector = faiss.IDSelectorNot(inner)
    if nprobe:
        params = faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
    else:
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
    if index.ntotal == 0:
        n = len(queries)
        return np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)
    # per calling thread: concurrent requests each set their own, and only when it
    # changes (the call is not free: a tenth of a small search's time)
    threads = 1 if len(queries) <= _SERIAL_QUERIES else _BATCH_THREADS
    if getattr(_omp, "threads", None) != threads:
        faiss.omp_set_num_threads(threads)
        _omp.threads = threads
    return index.search(queries, k, params=params)


def new_flat(dim: int) -> Any:
    """An empty exact index with external ids, for small online additions."""
    faiss = _faiss()
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def add(index: Any, vectors: np.ndarray, ids: np.ndarray) -> None:
    vectors, ids = _check(vectors, ids)
    index.add_with_ids(vectors, ids)


def allow_reconstruct(index: Any) -> None:
    """Let :func:`reconstruct` find an IVF index's vectors by id: IVF keeps no id ->
    list map unless asked (a hash table, as passage ids are not 0..n-1). Reads only the
    ids, so a memory-mapped index stays untouched. IDMap2 indexes need nothing."""
    faiss = _faiss()
    if not hasattr(index, "id_map") and index.ntotal:
        faiss.extract_index_ivf(index).set_direct_map_type(faiss.DirectMap.Hashtable)


def reconstruct(index: Any, ids: np.ndarray) -> np.ndarray:
    """The stored vectors of ``ids``, which the index must hold (SQ8 decodes its codes,
    so they are what its searches score)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if not len(ids):
        return np.zeros((0, index.d), np.float32)
    return index.reconstruct_batch(ids)


def write_atomic(index: Any, path: Path, shown: str | None = None) -> str:
    """Write through ``.tmp`` + fsync + ``os.replace``; returns the file's sha256.

    The file is made read-only: a build file never changes once written (a new build is
    a new file). A full disk removes the partial ``.tmp`` and raises
    :class:`StorageFullError` naming ``shown`` (the path as messages show it).
    """
    faiss = _faiss()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        digest = sha256_file(tmp)
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc)
        if full:
            raise StorageFullError(f"no space left on device while writing "
                                   f"{shown or path.name}; nothing was changed") from exc
        raise
    return digest


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(path: Path, *, mmap: bool = False, shown: str | None = None) -> Any:
    """Read an index file into memory, or map it (``mmap``).

    Mapped pages are shared by the workers of ``serve --workers N`` through the page
    cache, but a mapped file truncated underneath kills the process (SIGBUS), so
    mapping is opt-in. ``IO_FLAG_MMAP_IFC`` (FAISS >= 1.9) maps flat codes and IVF lists
    alike; the older ``IO_FLAG_MMAP`` maps only IVF lists. Never both: FAISS then
    refuses IVF files.
    """
    faiss = _faiss()
    shown = shown or path.name
    if not path.exists():
        raise IndexCorruptError(f"index file {shown} is missing")
    flags = 0
    if mmap:
        flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) or faiss.IO_FLAG_MMAP
    try:
        return faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise IndexCorruptError(f"index file {shown} cannot be read: {first}") from exc


def ids_of(index: Any) -> np.ndarray:
    """The external ids an index holds, sorted (IDMap2 and IVF indexes)."""
    faiss = _faiss()
    if hasattr(index, "id_map"):
        ids = faiss.vector_to_array(index.id_map)
    else:
        ivf = faiss.extract_index_ivf(index)
        lists = ivf.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(lists.nlist) if lists.list_size(i)]
        ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return np.sort(ids.astype(np.int64, copy=False))
