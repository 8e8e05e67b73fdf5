"""Vector search against its peers: our FAISS indexes, sentence-transformers' brute force
and Milvus Lite, on the same vectors in one run; and exact search against the memory bus.

For each size (default 10k, 100k, 1M) and dimension (384, 1024): the synthetic clustered
unit vectors of bench/index.py, held-out queries from the same mixture, and the exact
top-10 by brute force (faiss.knn). The contenders:

- ours: Flat, IVF and IVF-SQ8 through ``search.index.build`` and ``search.index.search``,
  as the indexer and the server call them (IVF nprobe tuned at build time, recorded);
- sentence-transformers: ``util.semantic_search`` over the corpus as a torch tensor, with
  ``score_function=util.dot_score`` (the vectors are unit length; the default cos_sim
  would re-normalise the whole corpus on every call);
- Milvus Lite through pymilvus' ``MilvusClient`` on a .db in a temporary directory:
  ``FLAT`` and ``IVF_FLAT``, metric IP, rows inserted in batches. Milvus Lite indexes
  each segment (at most 100k rows) on its own, so IVF_FLAT gets our nlist rule (4·sqrt)
  applied to a segment's rows, and the smallest power-of-two nprobe whose recall@10
  reaches our IVF's (less RECALL_TOLERANCE) on the same queries.

Defaults that keep a full run near 30 minutes and 13 GiB on 2 cores: Milvus Lite up to
1M×384 (FLAT up to 100k×1024); from 1M vectors our IVF k-means sample is capped at 39
points per list (FAISS's own minimum; see bench/index.py). Every skip is in the report.

All contenders of a size stay loaded and every latency round visits them in rotated
order (A B C …, then B C … A), so a busy machine slows them alike; medians over calls.
Build = from vectors in memory to a searchable index (Milvus: insert + flush + index +
load); memory = this process's RSS growth (Milvus Lite 3 runs in-process). Our Flat
index's own storage then serves as the vector matrix for the other contenders, so the
vectors are held once, not twice.

Exact search reads the whole matrix per query: its bytes over its batch-1 latency is a
scan rate, set against this machine's memory read bandwidth measured in the same run.

    .venv/bin/python bench/vectors.py [--quick] [--sizes 10000,100000] [--dims 384]
"""
from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C
from index import TrainCap, TuneTimer, make_data, recall_at_k

K = 10
MILVUS_INSERT_BATCH = 5_000
TUNE_QUERIES = 200  # queries used to pick Milvus' nprobe
RECALL_TOLERANCE = 0.005  # recalls this close count as equal (200-500 queries x 10)
MILVUS_SEGMENT_ROWS = 100_000  # milvus_lite.constants.MAX_SEGMENT_ROWS


# --- the machine's limit --------------------------------------------------------------
def memory_bandwidth(gib: float, repeats: int = 5) -> dict[str, float]:
    """Read bandwidth (GB/s) of summing a large float32 array: one thread, all threads.

    torch's sum is vectorised and threaded, so it is bound by memory, not arithmetic;
    also a numpy copy (read + write bytes counted).
    """
    import torch

    a = np.ones(int(gib * 2**30) // 4, dtype=np.float32)  # ones: every page is touched
    b = np.empty_like(a)
    t = torch.from_numpy(a)
    threads = torch.get_num_threads()
    out: dict[str, float] = {"array_gib": a.nbytes / 2**30, "threads": threads}

    def best(fn: Any, traffic: int) -> float:
        fn()  # warm-up
        fastest = min(_timed(fn) for _ in range(repeats))
        return traffic / fastest / 1e9

    torch.set_num_threads(1)
    out["read_1_thread_gbs"] = best(lambda: t.sum(), a.nbytes)
    torch.set_num_threads(threads)
    out["read_all_threads_gbs"] = best(lambda: t.sum(), a.nbytes)
    out["copy_gbs"] = best(lambda: np.copyto(b, a), 2 * a.nbytes)
    return out


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- contenders -----------------------------------------------------------------------
class FaissContender:
    """Our index, built and searched through search.index as the server does."""

    def __init__(self, label: str, flat_threshold: int, sq8: bool) -> None:
        self.name, self.flat_threshold, self.sq8 = f"ours-{label}", flat_threshold, sq8
        self.built: Any = None

    def build(self, xb: np.ndarray, ids: np.ndarray) -> None:
        from search.index import build

        self.built = build(xb, ids, flat_threshold=self.flat_threshold, sq8=self.sq8,
                           use_gpu=False)

    def search(self, xq: np.ndarray) -> np.ndarray:
        from search.index import search

        return search(self.built.index, xq, K, nprobe=self.built.nprobe)[1]

    def params(self) -> dict[str, Any]:
        return {"factory": self.built.kind, "nlist": self.built.nlist,
                "nprobe": self.built.nprobe or None,
                "recall_at_10_build_sample": self.built.recall_at_10}

    def storage_view(self) -> np.ndarray:
        """The Flat index's vectors as a numpy view (no copy; valid while it lives)."""
        import faiss

        flat = faiss.downcast_index(self.built.index.index)
        n, d = flat.ntotal, flat.d
        return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)

    def close(self) -> None:
        self.built = None


class MatchedRecallContender:
    """Our IVF index again, searched with the smallest nprobe whose recall@10 reaches a
    peer's: latency compared at equal recall. It shares the built index (no build)."""

    def __init__(self, base: FaissContender, peer: str) -> None:
        self.name, self.base, self.peer = f"ours-IVF@{peer}-recall", base, peer
        self.nprobe = base.built.nprobe

    def tune(self, xq: np.ndarray, truth: np.ndarray, target: float) -> list[dict]:
        """Smallest nprobe reaching ``target``: doubling from the recorded nprobe, then
        bisection between the last miss and the first hit."""
        steps: list[dict] = []

        def reaches(nprobe: int) -> bool:
            self.nprobe = nprobe
            steps.append({"nprobe": nprobe, "recall_at_10": recall_at_k(self.search(xq), truth)})
            return steps[-1]["recall_at_10"] >= target

        nlist = self.base.built.nlist
        miss, hit = 0, self.base.built.nprobe
        while not reaches(hit):
            if hit >= nlist:
                break  # not even every list reaches it: search them all
            miss, hit = hit, min(hit * 2, nlist)
        else:
            while hit - miss > 1:
                middle = (miss + hit) // 2
                miss, hit = (miss, middle) if reaches(middle) else (middle, hit)
        self.nprobe = hit
        return steps

    def search(self, xq: np.ndarray) -> np.ndarray:
        from search.index import search

        return search(self.base.built.index, xq, K, nprobe=self.nprobe)[1]

    def params(self) -> dict[str, Any]:
        return {"factory": self.base.built.kind, "nlist": self.base.built.nlist,
                "nprobe": self.nprobe, "matches": self.peer}

    def close(self) -> None:
        pass


class SemanticSearchContender:
    """sentence-transformers' brute force: torch matmul + topk per chunk of the corpus."""

    name = "st-semantic_search"

    def build(self, xb: np.ndarray, ids: np.ndarray) -> None:
        import torch

        self.corpus = torch.from_numpy(xb)  # the user holds the corpus embeddings anyway
        self.ids = ids

    def search(self, xq: np.ndarray) -> np.ndarray:
        import torch
        from sentence_transformers import util

        hits = util.semantic_search(torch.from_numpy(xq), self.corpus, top_k=K,
                                    score_function=util.dot_score)
        out = np.full((len(xq), K), -1, dtype=np.int64)
        for row, found in enumerate(hits):
            out[row, :len(found)] = self.ids[[h["corpus_id"] for h in found]]
        return out

    def params(self) -> dict[str, Any]:
        return {"score_function": "dot_score", "query_chunk_size": 100,
                "corpus_chunk_size": 500_000}

    def close(self) -> None:
        self.corpus = None


class MilvusContender:
    """One Milvus Lite collection (id + vector) with one vector index."""

    def __init__(self, client: Any, index_type: str, nlist: int, tag: str) -> None:
        self.client, self.index_type, self.nlist = client, index_type, nlist
        self.name = f"milvus-{index_type}"
        self.collection = f"bench_{tag}_{index_type.lower()}"
        self.nprobe: int | None = None
        self.timings: dict[str, float] = {}

    def build(self, xb: np.ndarray, ids: np.ndarray) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=xb.shape[1])
        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)
        self.client.create_collection(self.collection, schema=schema)
        start = time.perf_counter()
        for lo in range(0, len(xb), MILVUS_INSERT_BATCH):
            hi = min(len(xb), lo + MILVUS_INSERT_BATCH)
            self.client.insert(self.collection, [{"id": int(ids[i]), "vector": xb[i]}
                                                 for i in range(lo, hi)])
        self.client.flush(self.collection)
        self.timings["insert_flush_s"] = time.perf_counter() - start
        start = time.perf_counter()
        index = self.client.prepare_index_params()
        params = {"nlist": self.nlist} if self.index_type == "IVF_FLAT" else {}
        index.add_index("vector", index_type=self.index_type, metric_type="IP", params=params)
        self.client.create_index(self.collection, index)
        self._wait_for_index(timeout_s=1800)
        self.client.load_collection(self.collection)
        self.timings["index_load_s"] = time.perf_counter() - start

    def _wait_for_index(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self.client.describe_index(self.collection, "vector")
            done = info.get("state", "Finished") == "Finished"
            if done and info.get("pending_index_rows", 0) == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.collection}: index not finished after {timeout_s:.0f}s")

    def search(self, xq: np.ndarray) -> np.ndarray:
        params: dict[str, Any] = {"nprobe": self.nprobe} if self.nprobe else {}
        out = np.full((len(xq), K), -1, dtype=np.int64)
        for lo in range(0, len(xq), 64):  # one request per 64 queries, as batch 64 does
            hits = self.client.search(self.collection, data=list(xq[lo:lo + 64]), limit=K,
                                      search_params={"metric_type": "IP", "params": params},
                                      output_fields=[])
            for row, found in enumerate(hits, start=lo):
                ranked = [int(h["id"]) for h in found][:K]
                out[row, :len(ranked)] = ranked
        return out

    def tune_nprobe(self, xq: np.ndarray, truth: np.ndarray, target: float) -> list[dict]:
        """Smallest power-of-two nprobe whose recall@10 on ``xq`` reaches ``target``."""
        steps, nprobe = [], 1
        while True:
            self.nprobe = nprobe
            start = time.perf_counter()
            recall = recall_at_k(self.search(xq), truth)
            steps.append({"nprobe": nprobe, "recall_at_10": recall,
                          "seconds": time.perf_counter() - start})
            C.log(f"    {self.name} nprobe {nprobe}: recall {recall:.4f} "
                  f"({steps[-1]['seconds']:.1f}s)")
            if recall >= target or nprobe >= self.nlist:
                return steps
            nprobe = min(nprobe * 2, self.nlist)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index_type": self.index_type, **self.timings}
        if self.index_type == "IVF_FLAT":
            out.update(nlist=self.nlist, nprobe=self.nprobe)
        return out

    def close(self) -> None:
        self.client.drop_collection(self.collection)


# --- measurement ----------------------------------------------------------------------
def timed_build(contender: Any, xb: np.ndarray, ids: np.ndarray) -> dict[str, float]:
    gc.collect()
    rss0 = C.rss_bytes()
    C.reset_peak_rss()
    start = time.perf_counter()
    contender.build(xb, ids)
    build_s = time.perf_counter() - start
    return {"build_s": build_s, "peak_rss_delta_gib": (C.peak_rss_bytes() - rss0) / 2**30,
            "retained_rss_gib": (C.rss_bytes() - rss0) / 2**30}


def alternate_latency(contenders: list[Any], xq: np.ndarray, batch: int, rounds: int,
                      budget_s: float, max_calls: int) -> dict[str, dict[str, float]]:
    """Rounds over all contenders in rotated order; each gets an equal share of the time.

    Calls per turn come from one warm-up call per contender, bounded to [1, max_calls],
    so a slow contender gets fewer calls, never more time than its share (beyond one call).
    """
    n_batches = max(1, len(xq) // batch)
    slot_s = budget_s / (rounds * len(contenders))
    calls = {}
    for c in contenders:
        warm = _timed(lambda: c.search(xq[:batch]))
        calls[c.name] = int(min(max_calls, max(1, slot_s // max(warm, 1e-6))))
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    cursor = 0
    for r in range(rounds):
        for c in contenders[r % len(contenders):] + contenders[:r % len(contenders)]:
            for _ in range(calls[c.name]):
                b = cursor % n_batches
                cursor += 1
                times[c.name].append(_timed(lambda: c.search(xq[b * batch:(b + 1) * batch])))
    out = {}
    for name, values in times.items():
        ms = np.asarray(values) * 1e3
        out[name] = {"calls": len(values), "median_ms": float(np.median(ms)),
                     "p95_ms": float(np.percentile(ms, 95)),
                     "per_query_ms": float(np.median(ms)) / batch}
    return out


def one_size(n: int, dim: int, args: argparse.Namespace, cap: TrainCap, tune: TuneTimer,
             milvus: Any) -> dict[str, Any]:
    import faiss

    from search.index import choose_nlist

    C.log(f"N={n:,} dim={dim}: data and exact top-{K}")
    xb, xq = make_data(n, dim, args.queries)
    ids = np.arange(n, dtype=np.int64)
    start = time.perf_counter()
    _, truth = faiss.knn(xq, xb, K, metric=faiss.METRIC_INNER_PRODUCT)
    exact_s = time.perf_counter() - start
    cap.cap = args.train_cap if (args.train_cap and n >= args.cap_from) else None
    nlist = choose_nlist(n)
    size: dict[str, Any] = {"n": n, "dim": dim, "nlist": nlist, "n_queries": len(xq),
                            "data_gib": xb.nbytes / 2**30, "exact_knn_s": exact_s,
                            "train_cap_per_centroid": cap.cap, "skipped": [], "rows": []}

    contenders: list[Any] = [FaissContender("Flat", 10**12, False),
                             FaissContender("IVF", 1, False), FaissContender("IVF-SQ8", 1, True),
                             SemanticSearchContender()]
    if milvus is not None and n * dim <= args.milvus_max_elements:
        tag, segment_nlist = f"{n}_{dim}", choose_nlist(min(n, MILVUS_SEGMENT_ROWS))
        if n * dim <= args.milvus_flat_max_elements:
            contenders.append(MilvusContender(milvus, "FLAT", segment_nlist, tag))
        else:
            size["skipped"].append(
                f"Milvus Lite FLAT at {n:,}×{dim}: N×dim is above --milvus-flat-max-elements "
                f"({args.milvus_flat_max_elements:,}); its insert alone takes minutes on 2 cores, "
                "and exact search at this size is measured by ours-Flat and sentence-transformers")
        contenders.append(MilvusContender(milvus, "IVF_FLAT", segment_nlist, tag))
    elif milvus is not None:
        size["skipped"].append(
            f"Milvus Lite at {n:,}×{dim}: N×dim = {n * dim:,} is above --milvus-max-elements "
            f"({args.milvus_max_elements:,}); inserting through pymilvus runs at 5-10k rows/s "
            "on 2 cores, and Milvus Lite holds about 2.5 times the matrix "
            f"({xb.nbytes / 2**30:.1f} GiB) per collection in this process")
    rows: dict[str, dict[str, Any]] = {}
    for c in contenders:
        tune.seconds = 0.0
        C.log(f"  build {c.name}")
        rows[c.name] = {"contender": c.name, **timed_build(c, xb, ids)}
        if isinstance(c, FaissContender):
            rows[c.name]["tune_nprobe_s"] = tune.seconds
            if c.name == "ours-Flat":  # hold the vectors once: the index's copy serves all
                xb = c.storage_view()
        C.log(f"    {rows[c.name]['build_s']:.1f}s, +{rows[c.name]['retained_rss_gib']:.2f} GiB")

    ours_ivf = next(c for c in contenders if c.name == "ours-IVF")
    sample = slice(0, min(TUNE_QUERIES, len(xq)))
    for c in list(contenders):  # the loop adds a contender
        if isinstance(c, MilvusContender) and c.index_type == "IVF_FLAT":
            target = recall_at_k(ours_ivf.search(xq[sample]), truth[sample]) - RECALL_TOLERANCE
            rows[c.name]["nprobe_tuning"] = c.tune_nprobe(xq[sample], truth[sample], target)
            rows[c.name]["nprobe_target_recall"] = target
            # Milvus' power-of-two nprobe overshoots: ours is also searched at Milvus'
            # recall, tuned on every query (ours is cheap), the queries recall is reported on
            matched = MatchedRecallContender(ours_ivf, c.name)
            peer_recall = rows[c.name]["recall_at_10"] = recall_at_k(c.search(xq), truth)
            steps = matched.tune(xq, truth, peer_recall)
            rows[matched.name] = {"contender": matched.name, "build_s": 0.0,
                                  "peak_rss_delta_gib": 0.0, "retained_rss_gib": 0.0,
                                  "shares_index_of": ours_ivf.name, "nprobe_tuning": steps,
                                  "nprobe_target_recall": peer_recall,
                                  "recall_at_10": next(s["recall_at_10"] for s in steps
                                                       if s["nprobe"] == matched.nprobe)}
            contenders.insert(contenders.index(ours_ivf) + 1, matched)

    for c in contenders:
        if "recall_at_10" not in rows[c.name]:  # not measured while tuning
            rows[c.name]["recall_at_10"] = recall_at_k(c.search(xq), truth)
        rows[c.name]["params"] = c.params()
    C.log("  latency, batch 1 and 64, alternating")
    for batch, budget, max_calls in ((1, args.latency_s, 500), (64, args.latency_s, 50)):
        for name, stats in alternate_latency(contenders, xq, batch, args.rounds, budget,
                                             max_calls).items():
            rows[name][f"batch{batch}"] = stats
    for name, row in rows.items():
        row["scan_gbs_batch1"] = (xb.nbytes / (row["batch1"]["median_ms"] / 1e3) / 1e9
                                  if name in EXACT else None)
        C.log(f"    {name}: b1 {row['batch1']['median_ms']:.2f} ms, "
              f"b64 {row['batch64']['per_query_ms']:.3f} ms/query, "
              f"recall {row['recall_at_10']:.3f}")
    size["rows"] = list(rows.values())
    size["ratios"] = ratios(rows)
    for c in reversed(contenders):  # the Flat index last: the others read its storage
        c.close()
    del xb, xq, contenders
    gc.collect()
    return size


EXACT = ("ours-Flat", "st-semantic_search", "milvus-FLAT")
PAIRS = (("ours-IVF", "milvus-IVF_FLAT"), ("ours-IVF@milvus-IVF_FLAT-recall", "milvus-IVF_FLAT"),
         ("ours-Flat", "milvus-FLAT"),
         ("ours-Flat", "st-semantic_search"))


def ratios(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Latency of ours over the peer's (below 1 = ours faster), with both recalls."""
    out = []
    for ours, peer in PAIRS:
        if ours in rows and peer in rows:
            a, b = rows[ours], rows[peer]
            out.append({"ours": ours, "peer": peer,
                        "batch1_ratio": a["batch1"]["median_ms"] / b["batch1"]["median_ms"],
                        "batch64_ratio": a["batch64"]["median_ms"] / b["batch64"]["median_ms"],
                        "recall_ours": a["recall_at_10"], "recall_peer": b["recall_at_10"],
                        "recall_equal_or_better":
                            a["recall_at_10"] >= b["recall_at_10"] - RECALL_TOLERANCE})
    return out


# --- report ---------------------------------------------------------------------------
def render(result: dict[str, Any]) -> str:
    env, bw = result["env"], result["bandwidth"]
    lines = [f"## Vector search — ours vs sentence-transformers vs Milvus Lite "
             f"({env['cpu']}, {env['cpu_count']} cores, faiss {result['faiss']}, "
             f"pymilvus {result['pymilvus']}, milvus-lite {result['milvus_lite']})", ""]
    table = []
    for size in result["sizes"]:
        for r in size["rows"]:
            p = r["params"]
            knobs = (f"nlist {p['nlist']}, nprobe {p['nprobe']}" if p.get("nprobe")
                     else p.get("factory", p.get("index_type", "exact")))
            scan = r.get("scan_gbs_batch1")
            table.append([f"{size['n']:,}", str(size["dim"]), r["contender"], knobs,
                          C.fmt(r["build_s"], 1), C.fmt(r["retained_rss_gib"]),
                          C.fmt(r["peak_rss_delta_gib"]),
                          C.fmt(r["batch1"]["median_ms"], 3), C.fmt(r["batch1"]["p95_ms"], 3),
                          C.fmt(r["batch64"]["per_query_ms"], 3), C.fmt(r["recall_at_10"], 4),
                          C.fmt(scan, 1) if scan else "–"])
    lines.append(C.markdown_table(
        ["N", "dim", "contender", "index", "build s", "memory GiB", "peak during build GiB",
         "b1 median ms", "b1 p95 ms", "b64 ms/query", "recall@10", "scan GB/s (b1)"], table))
    lines += ["", "Latency ratios (ours / peer, median latency; below 1 = ours faster):", ""]
    ratio_rows = [[f"{s['n']:,}", str(s["dim"]), q["ours"], q["peer"],
                   f"{q['batch1_ratio']:.3g}", f"{q['batch64_ratio']:.3g}",
                   C.fmt(q["recall_ours"], 4),
                   C.fmt(q["recall_peer"], 4), "yes" if q["recall_equal_or_better"] else "no"]
                  for s in result["sizes"] for q in s["ratios"]]
    lines += [C.markdown_table(["N", "dim", "ours", "peer", "b1 ratio", "b64 ratio",
                                "recall ours", "recall peer", "ours' recall ≥ peer's"],
                               ratio_rows), "",
              f"Recalls within {RECALL_TOLERANCE} of each other count as equal; Milvus' "
              "IVF_FLAT nprobe is the smallest power of two reaching our IVF's recall less that "
              f"tolerance on the first {TUNE_QUERIES} queries. Powers of two overshoot, so "
              "`ours-IVF@milvus-IVF_FLAT-recall` searches our same IVF index with the smallest "
              "nprobe (doubling, then bisection) whose recall over all the queries reaches Milvus' "
              "recall over them: the latency comparison at equal recall.",
              f"Memory read bandwidth (torch sum over a {bw['array_gib']:.1f} GiB float32 "
              f"array): {bw['read_1_thread_gbs']:.1f} GB/s on one thread, "
              f"{bw['read_all_threads_gbs']:.1f} GB/s on {bw['threads']}; numpy copy "
              f"{bw['copy_gbs']:.1f} GB/s (read + write). Scan GB/s = matrix bytes / batch-1 "
              "median latency of the exact contenders; a matrix that fits in the "
              "last-level cache scans faster than memory."]
    for size in result["sizes"]:
        lines += [f"Skipped: {s}." for s in size["skipped"]]
    lines += [f"Skipped: {s}." for s in result.get("skipped", [])]
    capped = [s for s in result["sizes"] if s["train_cap_per_centroid"]]
    if capped:
        lines.append("Our IVF k-means sample capped at "
                     f"{capped[0]['train_cap_per_centroid']} points per list (FAISS's "
                     "max_points_per_centroid; default 256) at "
                     + ", ".join(f"{s['n']:,}×{s['dim']}" for s in capped)
                     + "; Milvus Lite trains each segment on all its rows.")
    lines.append(f"Data: {result['queries']} held-out queries per size; memory = RSS growth of "
                 "this process (Milvus Lite serves from inside it); Milvus' IVF nlist is per "
                 f"segment of at most {MILVUS_SEGMENT_ROWS:,} rows, ours per index. "
                 f"Total run {result['total_s'] / 60:.1f} min; load average "
                 f"at start {tuple(round(x, 2) for x in env['loadavg_at_start'])}, at end "
                 f"{tuple(round(x, 2) for x in result['loadavg_at_end'])}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 50k at dim 384")
    parser.add_argument("--sizes", default=None, help="comma-separated N (default 10k,100k,1M)")
    parser.add_argument("--dims", default=None, help="comma-separated dims (default 384,1024)")
    parser.add_argument("--queries", type=int, default=None,
                        help="held-out queries (500; quick 200)")
    parser.add_argument("--rounds", type=int, default=None, help="latency rounds (3; quick 2)")
    parser.add_argument("--latency-s", type=float, default=None,
                        help="seconds of latency calls per size and batch size (16; quick 6)")
    parser.add_argument("--no-milvus", action="store_true", help="leave Milvus Lite out")
    parser.add_argument("--milvus-max-elements", type=int, default=400_000_000,
                        help="run Milvus Lite only where N×dim is at most this (default: up "
                        "to 1M×384)")
    parser.add_argument("--milvus-flat-max-elements", type=int, default=110_000_000,
                        help="run Milvus Lite FLAT only where N×dim is at most this (default: "
                        "up to 100k×1024)")
    parser.add_argument("--train-cap", type=int, default=39,
                        help="our IVF k-means points per list from --cap-from (0 = FAISS's 256)")
    parser.add_argument("--cap-from", type=int, default=1_000_000)
    parser.add_argument("--bandwidth-gib", type=float, default=None, help="1.0; quick 0.25")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no new size after this many seconds (2100; quick 300)")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    args.budget_s = args.budget_s or (300.0 if args.quick else 2100.0)
    sizes = [int(x) for x in (args.sizes or ("10000,50000" if args.quick
                                              else "10000,100000,1000000")).split(",")]
    dims = [int(x) for x in (args.dims or ("384" if args.quick else "384,1024")).split(",")]
    args.queries = args.queries or (200 if args.quick else 500)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.latency_s = args.latency_s or (6.0 if args.quick else 16.0)
    name = args.name or ("vectors-quick" if args.quick else "vectors")

    import faiss

    env = C.environment()
    C.log("memory bandwidth")
    bandwidth = memory_bandwidth(args.bandwidth_gib or (0.25 if args.quick else 1.0))
    cap, tune = TrainCap(), TuneTimer()
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    plan = [(n, dim) for n in sizes for dim in dims]  # small first: a late stop keeps most
    with tempfile.TemporaryDirectory(prefix="semsearch-vectors-") as tmp:
        milvus = None if args.no_milvus else connect_milvus(Path(tmp) / "bench.db")
        try:
            for step, (n, dim) in enumerate(plan, start=1):
                if time.perf_counter() - start > args.budget_s:
                    skipped.append(f"{n:,}×{dim}: the time budget ({args.budget_s / 60:.1f} min, "
                                   "--budget-s) was spent before it could start")
                    C.log(skipped[-1])
                else:
                    results.append(one_size(n, dim, args, cap, tune, milvus))
                result = {"env": env, "faiss": faiss.__version__, "pymilvus": _version("pymilvus"),
                          "milvus_lite": _version("milvus-lite"), "quick": args.quick,
                          "queries": args.queries, "rounds": args.rounds,
                          "latency_s": args.latency_s, "bandwidth": bandwidth, "sizes": results,
                          "skipped": skipped, "complete": step == len(plan),
                          "total_s": time.perf_counter() - start,
                          "loadavg_at_end": os.getloadavg()}
                # written after every size, so a run that is stopped still leaves its rows
                C.write_report(name, result, render(result), quiet=step < len(plan))
        finally:
            if milvus is not None:
                release_milvus(milvus, Path(tmp) / "bench.db")


def connect_milvus(path: Path) -> Any:
    from pymilvus import MilvusClient

    return MilvusClient(uri=str(path))


def release_milvus(client: Any, path: Path) -> None:
    """Close the client and stop the in-process Milvus Lite server before its files go."""
    client.close()
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(path))


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
