"""FAISS index benchmark: our Flat, IVF and IVF-SQ8 builds at 100k and 1M vectors.

For each size and dimension: synthetic clustered unit vectors (1,000 gaussian centres
plus noise, normalised; fixed seeds), held-out queries from the same mixture, exact
top-10 by brute force (faiss.knn, no index copy). Then, one kind at a time (so that at
most one index lives in memory), ``search.index.build`` as the indexer calls it, timed,
with the process's peak RSS above the pre-build RSS (kernel VmHWM, reset per build;
no psutil needed); per-query latency through ``search.index.search`` at batch 1 and
batch 64, and held-out recall@10 at the nprobe the build chose.

IVF training at 1M: FAISS trains k-means on at most ``max_points_per_centroid`` (default
256) points per list, i.e. all 1M vectors for IVF4000, which takes many minutes on 2
cores at dim 1024. With ``--train-cap`` (default 39, FAISS's own minimum, at N >= 1M) we
set FAISS's own limit lower on the index the factory returns; the report says where and
extrapolates.

    .venv/bin/python bench/index.py [--quick]
"""
from __future__ import annotations

import argparse
import gc
import os
import time
from typing import Any

import numpy as np

import _common as C

K = 10
CENTRES = 1000
NOISE = 1.0  # noise norm relative to the unit centre: same-cluster cosines around 0.5
KINDS = (("Flat", 10**12, False), ("IVF", 1, False), ("IVF-SQ8", 1, True))


# --- data -----------------------------------------------------------------------------
def clustered(n: int, dim: int, seed: int, centres: np.ndarray, noise: float,
              chunk: int = 100_000) -> np.ndarray:
    """n unit vectors: a random centre plus isotropic gaussian noise, normalised in place."""
    out = np.empty((n, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        block = out[start:stop]
        rng.standard_normal(size=block.shape, dtype=np.float32, out=block)
        block *= noise / np.sqrt(dim)
        block += centres[rng.integers(0, len(centres), size=stop - start)]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def make_data(n: int, dim: int, n_queries: int,
              noise: float = NOISE) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 + dim)
    centres = rng.standard_normal((CENTRES, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return clustered(n, dim, 1, centres, noise), clustered(n_queries, dim, 2, centres, noise)


# --- FAISS hooks ----------------------------------------------------------------------
class TrainCap:
    """Set FAISS's own k-means sample limit on IVF indexes the factory makes."""

    def __init__(self) -> None:
        import faiss

        self.faiss = faiss
        self.original = faiss.index_factory
        self.cap: int | None = None
        faiss.index_factory = self._factory

    def _factory(self, *args: Any, **kwargs: Any) -> Any:
        index = self.original(*args, **kwargs)
        if self.cap:
            try:
                self.faiss.extract_index_ivf(index).cp.max_points_per_centroid = self.cap
            except RuntimeError:  # not an IVF index
                pass
        return index


class TuneTimer:
    """Time search.index.tune_nprobe inside build() (exact copy + recall sweep)."""

    def __init__(self) -> None:
        import search.index as si

        self.module, self.original, self.seconds = si, si.tune_nprobe, 0.0
        si.tune_nprobe = self._timed

    def _timed(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


# --- measurement ----------------------------------------------------------------------
def latency(index: Any, queries: np.ndarray, nprobe: int, batch: int, max_calls: int,
            budget_s: float) -> dict[str, float]:
    from search.index import search

    times: list[float] = []
    start = time.perf_counter()
    n_batches = max(1, len(queries) // batch)
    for call in range(max_calls):
        b = call % n_batches
        q = queries[b * batch:(b + 1) * batch]
        t = time.perf_counter()
        search(index, q, K, nprobe=nprobe)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    ms = np.asarray(times) * 1e3
    return {"calls": len(times), "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)), "per_query_ms": float(np.median(ms)) / batch}


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / truth.size


def one_kind(xb: np.ndarray, ids: np.ndarray, xq: np.ndarray, truth: np.ndarray,
             kind: tuple[str, int, bool], args: argparse.Namespace, tune: TuneTimer,
             limits: dict[str, Any]) -> dict[str, Any]:
    from search.index import build, search

    label, flat_threshold, sq8 = kind
    gc.collect()
    rss0 = C.rss_bytes()
    C.reset_peak_rss()
    tune.seconds = 0.0
    start = time.perf_counter()
    built = build(xb, ids, flat_threshold=flat_threshold, sq8=sq8, use_gpu=False)
    build_s = time.perf_counter() - start
    peak = C.peak_rss_bytes() - rss0
    retained = C.rss_bytes() - rss0
    C.log(f"  {label}: {built.kind} built in {build_s:.1f}s (nprobe {built.nprobe}), "
          f"peak +{peak / 2**30:.2f} GiB")
    _, found = search(built.index, xq, K, nprobe=built.nprobe)
    row = {
        "kind": label, "factory": built.kind, "nlist": built.nlist, "nprobe": built.nprobe,
        "build_s": build_s, "tune_nprobe_s": tune.seconds,
        "peak_rss_delta_gib": peak / 2**30, "retained_rss_gib": retained / 2**30,
        "recall_at_10_heldout": recall_at_k(found, truth),
        "recall_at_10_build_sample": built.recall_at_10,
        "batch1": latency(built.index, xq, built.nprobe, 1, limits["b1_calls"], limits["b1_s"]),
        "batch64": latency(built.index, xq, built.nprobe, 64, limits["b64_calls"], limits["b64_s"]),
    }
    del built, found
    gc.collect()
    return row


def one_size(n: int, dim: int, args: argparse.Namespace, cap: TrainCap,
             tune: TuneTimer, noise: float) -> list[dict[str, Any]]:
    import faiss

    from search.index import choose_nlist

    n_queries = args.queries
    C.log(f"N={n:,} dim={dim} noise={noise}: generating")
    t = time.perf_counter()
    xb, xq = make_data(n, dim, n_queries, noise)
    gen_s = time.perf_counter() - t
    ids = np.arange(n, dtype=np.int64)
    t = time.perf_counter()
    _, truth = faiss.knn(xq, xb, K, metric=faiss.METRIC_INNER_PRODUCT)
    exact_s = time.perf_counter() - t
    C.log(f"  data {gen_s:.1f}s, exact top-{K} of {n_queries} queries {exact_s:.1f}s")
    cap.cap = args.train_cap if (args.train_cap and n >= args.cap_from) else None
    nlist = choose_nlist(n)
    train_points = min(n, (cap.cap or 256) * nlist)
    big = n * dim >= 200_000_000  # Flat scans of 1M x 1024 take ~0.1-1 s per query
    limits = {"b1_calls": 30 if big else 200, "b1_s": 15.0 if big else 10.0,
              "b64_calls": 5 if big else 20, "b64_s": 30.0 if big else 15.0}
    rows = []
    for kind in KINDS:
        if kind[0] not in args.kinds:
            continue
        row = one_kind(xb, ids, xq, truth, kind, args, tune, limits)
        row.update({"n": n, "dim": dim, "noise": noise, "data_gib": xb.nbytes / 2**30,
                    "generate_s": gen_s, "exact_knn_s": exact_s, "n_queries": n_queries})
        if row["nlist"]:
            row["train_points"] = train_points
            row["train_cap_per_centroid"] = cap.cap
            row["train_points_faiss_default"] = min(n, 256 * nlist)
        rows.append(row)
    del xb, xq
    gc.collect()
    return rows


# --- report ---------------------------------------------------------------------------
def render(result: dict[str, Any]) -> str:
    rows = []
    for r in result["rows"]:
        rows.append([f"{r['n']:,}", str(r["dim"]), C.fmt(r["noise"], 1), r["factory"],
                     str(r["nprobe"] or "–"),
                     C.fmt(r["build_s"], 1), C.fmt(r["tune_nprobe_s"], 1),
                     C.fmt(r["peak_rss_delta_gib"]), C.fmt(r["retained_rss_gib"]),
                     C.fmt(r["batch1"]["median_ms"]), C.fmt(r["batch1"]["p95_ms"]),
                     C.fmt(r["batch64"]["median_ms"], 1), C.fmt(r["batch64"]["per_query_ms"], 3),
                     C.fmt(r["recall_at_10_heldout"], 4),
                     "–" if r["recall_at_10_build_sample"] is None
                     else C.fmt(r["recall_at_10_build_sample"], 4),
                     f"{r['train_points']:,}" if r.get("train_points") else "–"])
    notes = [f"## FAISS index — Flat / IVF / IVF-SQ8 ({result['env']['cpu']}, "
             f"{result['faiss_threads']} OpenMP threads, faiss {result['faiss']})", "",
             C.markdown_table(["N", "dim", "noise", "index", "nprobe", "build s", "of which tune s",
                               "peak RSS Δ GiB", "retained GiB", "b1 median ms", "b1 p95 ms",
                               "b64 ms/batch", "b64 ms/query", "recall@10 held-out",
                               "recall@10 build sample", "k-means points"], rows), "",
             f"Data: {CENTRES} gaussian centres on the unit sphere + isotropic noise of norm "
             f"{result['noise']}, normalised; queries held out from the same mixture "
             f"({result['queries']} per size; noise 1.0 gives same-cluster cosines ≈ 0.5, "
             "2.5 ≈ 0.14, i.e. weak structure); truth = exact inner-product top-10 (faiss.knn).",
             "build s = search.index.build(): train + add + nprobe tuning (the smallest power "
             "of two reaching recall@10 >= 0.98 on 1,000 database vectors; it builds an exact "
             "IndexFlatIP copy of all vectors to do so, which is in the peak RSS).",
             "Peak RSS Δ = kernel VmHWM during build minus RSS before it (the vectors "
             "themselves are already resident); retained = RSS after build minus before."]
    capped = [r for r in result["rows"] if r.get("train_cap_per_centroid")]
    if capped:
        sizes = sorted({(r["n"], r["dim"]) for r in capped})
        notes.append(
            f"k-means sample capped with FAISS's own limit cp.max_points_per_centroid="
            f"{capped[0]['train_cap_per_centroid']} (default 256) at "
            + ", ".join(f"{n:,}×{d}" for n, d in sizes)
            + f": {capped[0]['train_points']:,} training points instead of "
            f"{capped[0]['train_points_faiss_default']:,}. Training cost is linear in points "
            "(10 k-means iterations), so FAISS's default would train about "
            f"{capped[0]['train_points_faiss_default'] / capped[0]['train_points']:.1f}× longer.")
    notes.append(f"Total run {result['total_s'] / 60:.1f} min; load average at start "
                 f"{tuple(round(x, 2) for x in result['env']['loadavg_at_start'])}, at end "
                 f"{tuple(round(x, 2) for x in result['loadavg_at_end'])}.")
    return "\n".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k vectors at dim 384 only")
    parser.add_argument("--sizes", default=None, help="comma-separated N (default 100000,1000000)")
    parser.add_argument("--dims", default=None, help="comma-separated dims (default 384,1024)")
    parser.add_argument("--kinds", default="Flat,IVF,IVF-SQ8")
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries per size")
    parser.add_argument("--train-cap", type=int, default=39,
                        help="k-means points per list (FAISS max_points_per_centroid); "
                        "0 = FAISS default (256)")
    parser.add_argument("--cap-from", type=int, default=1_000_000,
                        help="apply --train-cap from this N")
    parser.add_argument("--noise", type=float, default=NOISE,
                        help="noise norm relative to the unit cluster centre")
    parser.add_argument("--hard-noise", type=float, default=None,
                        help="also run the first size and dim at this noise (full default 2.5)")
    parser.add_argument("--omp-threads", type=int, default=None,
                        help="FAISS OpenMP threads (default: all cores)")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    default_sizes = "100000" if args.quick else "100000,1000000"
    sizes = [int(x) for x in (args.sizes or default_sizes).split(",")]
    dims = [int(x) for x in (args.dims or ("384" if args.quick else "384,1024")).split(",")]
    args.kinds = [k.strip() for k in args.kinds.split(",")]
    name = args.name or ("index-quick" if args.quick else "index")
    if args.hard_noise is None and not args.quick:
        args.hard_noise = 2.5

    import faiss

    if args.omp_threads:
        faiss.omp_set_num_threads(args.omp_threads)
    env = C.environment()
    cap, tune = TrainCap(), TuneTimer()
    plan = [(n, dim, args.noise) for n in sizes for dim in dims]
    if args.hard_noise:  # weakly clustered data: how far the nprobe tuner has to go
        plan.insert(1, (sizes[0], dims[0], args.hard_noise))
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for step, (n, dim, noise) in enumerate(plan, start=1):
        rows.extend(one_size(n, dim, args, cap, tune, noise))
        result = {"env": env, "faiss": faiss.__version__,
                  "faiss_threads": faiss.omp_get_max_threads(), "queries": args.queries,
                  "centres": CENTRES, "noise": args.noise, "hard_noise": args.hard_noise,
                  "rows": rows, "total_s": time.perf_counter() - start,
                  "train_cap": args.train_cap, "cap_from": args.cap_from,
                  "complete": step == len(plan), "loadavg_at_end": os.getloadavg()}
        # written after every size, so a long run that is stopped still leaves its rows
        C.write_report(name, result, render(result), quiet=step < len(plan))


if __name__ == "__main__":
    main()
