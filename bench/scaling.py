"""Scaling: reindex time and memory from 10k to 1M passages, and search latency by size.

Encoding a million passages with the real model takes hours on two cores, so the
reindex runs the real command path (``indexer.reindex.reindex``: read the source, plan,
embedding cache, SQLite writes, FAISS build, atomic write, activation) with a stand-in
encoder that returns clustered random unit vectors at once. What is measured: everything
but the model. What is extrapolated: the model's share, as N / (passages per second of
the real encoder on a sample of the same synthetic passages, timed in the same run).

The source is synthetic Chinese-like text: characters drawn with the frequencies of the
sample FAQ, FAQ entries of one question and four similar questions (the default indexed
kinds, so five passages an entry) plus a 40-160 character answer.

After each reindex, the built index is served through ``SearchService`` (the server's
search path minus query encoding): load time, and per-query latency in dense mode and,
up to ``--hybrid-max`` passages, in the default hybrid mode (BM25 over jieba words and
character n-grams as well), with the memory the loaded index takes. Then a fresh
``semsearch serve`` (the bundled model, hybrid) starts over the same build: the seconds
until its first answer and its resident memory then, which is what a deployment sizes for.
Per index kind, latency against index size is in bench/vectors.py.

    .venv/bin/python bench/scaling.py [--quick] [--sizes 10000,100000,1000000]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import _common as C
from load import start, stop

SERVER_PORT = 18741
PASSAGES_PER_ENTRY = 5  # question + 4 similar questions; answers are not indexed by default
CENTRES = 1000
CATEGORIES = ["账户", "订单", "支付", "物流", "售后", "会员", "优惠", "发票", "安全", "其他"]
TAGS = [f"标签{i}" for i in range(20)]


# --- synthetic source -----------------------------------------------------------------
def character_pool() -> tuple[np.ndarray, np.ndarray]:
    """CJK characters of the sample FAQ and their relative frequencies."""
    counts: Counter[str] = Counter()
    for line in (C.ROOT / "data" / "faq_sample.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            text = row["question"] + row["answer"] + "".join(row.get("similar_questions", []))
            counts.update(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
    chars = np.array(list(counts))
    weights = np.array([counts[c] for c in chars], dtype=np.float64)
    return chars, weights / weights.sum()


def random_texts(rng: np.random.Generator, chars: np.ndarray, p: np.ndarray, count: int,
                 low: int, high: int) -> list[str]:
    lengths = rng.integers(low, high + 1, size=count)
    flat = "".join(rng.choice(chars, size=int(lengths.sum()), p=p).tolist())
    ends = np.cumsum(lengths)
    return [flat[e - n:e] for e, n in zip(ends.tolist(), lengths.tolist())]


def write_source(path: Path, entries: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    chars, p = character_pool()
    questions = random_texts(rng, chars, p, entries, 6, 20)
    similar = random_texts(rng, chars, p, entries * 4, 5, 18)
    answers = random_texts(rng, chars, p, entries, 40, 160)
    with path.open("w", encoding="utf-8") as out:
        for i in range(entries):
            row = {"id": f"syn-{i:07d}", "question": questions[i] + "？",
                   "similar_questions": similar[4 * i:4 * i + 4],
                   "answer": answers[i] + "。",
                   "category": CATEGORIES[i % len(CATEGORIES)],
                   "tags": [TAGS[i % len(TAGS)], TAGS[(i * 7) % len(TAGS)]][: i % 3]}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


# --- the stand-in encoder -------------------------------------------------------------
class SyntheticEncoder:
    """Same interface as search.encoder.Encoder (what reindex and search call), with the
    bundled model's profile, but vectors drawn at once: a text's cluster centre (by its
    hash) plus gaussian noise, normalised, so that IVF sees clustered data as in use."""

    def __init__(self, profile: Any, seed: int = 0) -> None:
        from search.profiles import ResolvedModel

        self.profile = profile
        self.dim = profile.dim
        self.resolved = ResolvedModel("synthetic", profile, local=True)
        self.device, self.precision, self.threads = "cpu", "fp32", 1
        rng = np.random.default_rng(seed)
        centres = rng.standard_normal((CENTRES, self.dim), dtype=np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        self.rng = rng
        self.seconds = 0.0  # time spent making vectors (reported; small)

    @property
    def model_id(self) -> str:
        return self.profile.name

    def encode(self, texts: Any, kind: str = "query") -> Any:
        from search.encoder import EncodeResult, validate_texts

        start = time.perf_counter()
        texts = validate_texts(texts)
        picks = np.fromiter((hash(t) % CENTRES for t in texts), dtype=np.int64, count=len(texts))
        vectors = self.rng.standard_normal((len(texts), self.dim), dtype=np.float32)
        vectors *= 1.0 / np.sqrt(self.dim)
        vectors += self.centres[picks]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        self.seconds += time.perf_counter() - start
        return EncodeResult(vectors, [False] * len(texts), [len(t) + 2 for t in texts])

    def encode_queries(self, texts: Any) -> np.ndarray:
        return self.encode(texts, "query").vectors

    def encode_passages(self, texts: Any) -> np.ndarray:
        return self.encode(texts, "passage").vectors

    def count_tokens(self, texts: Any) -> list[int]:
        return [len(t) for t in texts]  # about one token per Chinese character

    @property
    def passage_token_budget(self) -> int:
        return self.profile.max_length - 4


# --- phase timing ---------------------------------------------------------------------
class PhaseTimer:
    """Wrap module attributes the reindex calls, adding up seconds per phase."""

    def __init__(self, targets: dict[str, tuple[Any, str]]) -> None:
        self.seconds: dict[str, float] = {name: 0.0 for name in targets}
        for name, (owner, attribute) in targets.items():
            setattr(owner, attribute, self._wrap(name, getattr(owner, attribute)))

    def _wrap(self, name: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return timed

    def reset(self) -> None:
        self.seconds = {name: 0.0 for name in self.seconds}


def phase_timer() -> PhaseTimer:
    import indexer.build
    import indexer.reindex
    import search.index

    return PhaseTimer({
        "read_source": (indexer.reindex, "read_source"),
        "plan": (indexer.reindex.DocumentWriter, "plan"),
        "cache_and_write": (indexer.reindex.DocumentWriter, "apply"),
        "build_total": (indexer.reindex, "build_in"),
        "faiss_build": (search.index, "build"),
        "faiss_write": (search.index, "write_atomic"),
        "lexical_save": (indexer.build, "save_lexical"),
        "densities": (indexer.build, "save_densities"),
    })


# --- one size -------------------------------------------------------------------------
def one_size(n: int, args: argparse.Namespace, profile: Any, timer: PhaseTimer,
             root: Path) -> dict[str, Any]:
    from rich.console import Console

    from indexer.reindex import reindex
    from search.config import Settings
    from search.store.db import dispose_all, open_database

    entries = max(1, n // PASSAGES_PER_ENTRY)
    work = root / f"n{n}"
    work.mkdir()
    source = work / "faq.jsonl"
    start = time.perf_counter()
    write_source(source, entries)
    C.log(f"N={n:,}: {entries:,} entries written in {time.perf_counter() - start:.1f}s; reindex")
    settings = Settings(data_dir=work / "data", models_dir=C.ROOT / "data" / "models",
                        _env_file=None)
    sessions = open_database(settings.resolved_database_url)
    encoder = SyntheticEncoder(profile)
    timer.reset()
    gc.collect()
    rss0 = C.rss_bytes()
    C.reset_peak_rss()
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        report = reindex(settings, sessions, encoder, source, "default",
                         console=Console(file=quiet))
    reindex_s = time.perf_counter() - start
    row: dict[str, Any] = {
        "passages": report.build.vectors, "entries": entries, "reindex_s": reindex_s,
        "phases_s": dict(timer.seconds), "synthetic_encoder_s": encoder.seconds,
        "peak_rss_delta_gib": (C.peak_rss_bytes() - rss0) / 2**30,
        "retained_rss_gib": (C.rss_bytes() - rss0) / 2**30,
        "index_kind": report.build.kind, "nprobe": report.build.nprobe,
        "recall_at_10_build_sample": report.build.recall_at_10,
        "database_mib": _size(work / "data", "*.db*") / 2**20,
        "index_file_mib": _size(work / "data" / "builds", "*.faiss") / 2**20,
        "source_mib": source.stat().st_size / 2**20,
    }
    C.log(f"  reindex {reindex_s:.1f}s ({report.build.kind}), peak "
          f"+{row['peak_rss_delta_gib']:.2f} GiB")
    with source.open(encoding="utf-8") as rows:
        queries = [json.loads(line)["similar_questions"][0]
                   for line, _ in zip(rows, range(args.queries))]
    row["search"] = {}
    modes = ["dense"] + (["hybrid"] if n <= args.hybrid_max else [])
    for mode in modes:
        row["search"][mode] = service_latency(settings, encoder, sessions, mode, queries,
                                              args.latency_s)
        C.log(f"  search {mode}: load {row['search'][mode]['load_s']:.1f}s, median "
              f"{row['search'][mode]['median_ms']:.2f} ms")
    row["server"] = fresh_server(work / "data", queries[0])
    C.log(f"  fresh server: first answer after {row['server']['first_answer_s']:.1f}s, "
          f"{row['server']['rss_gib']:.2f} GiB resident")
    dispose_all()
    shutil.rmtree(work)  # a million passages leave gigabytes of database and index
    return row


def _size(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern)) if folder.is_dir() else 0


def service_latency(settings: Any, encoder: Any, sessions: Any, mode: str,
                    queries: list[str], budget_s: float) -> dict[str, float]:
    """Load the active build as a server does, then time searches one query at a time."""
    from search.collections import CollectionRegistry
    from search.service import SearchService

    s = settings.model_copy(update={"retrieval_mode": mode})
    gc.collect()
    rss0 = C.rss_bytes()
    registry = CollectionRegistry(s, encoder, sessions)
    service = SearchService(s, encoder, sessions, registry)
    start = time.perf_counter()
    service.search(queries[0])  # loads the index (and the saved BM25 index in hybrid mode)
    load_s = time.perf_counter() - start
    loaded_gib = (C.rss_bytes() - rss0) / 2**30
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    for i in range(10 * len(queries)):
        t = time.perf_counter()
        service.search(queries[i % len(queries)], top_k=5)
        times.append(time.perf_counter() - t)
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    ms = np.asarray(times) * 1e3
    out = {"load_s": load_s, "loaded_rss_gib": loaded_gib, "calls": len(times),
           "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}
    del service, registry
    gc.collect()
    return out


def fresh_server(data_dir: Path, query: str) -> dict[str, float]:
    """A new ``semsearch serve`` over the build, as a deployment starts one (the bundled
    model, the default hybrid mode): seconds from its launch to its first answer, and its
    resident memory then."""
    began = time.perf_counter()
    server = start(data_dir, SERVER_PORT)
    try:
        answer = httpx.post(f"http://127.0.0.1:{SERVER_PORT}/v1/search",
                            json={"query": query, "top_k": 5}, timeout=300)
        answer.raise_for_status()
        first_answer_s = time.perf_counter() - began
        rss = C.rss_bytes(server.pid)
    finally:
        stop([server])
    return {"first_answer_s": first_answer_s, "rss_gib": rss / 2**30}


# --- the real encoder, for the extrapolation ------------------------------------------
def encoder_rate(sample: int, precision: str) -> dict[str, Any]:
    """Passages per second of the real bundled encoder on synthetic passages."""
    from search.config import Settings
    from search.encoder import Encoder

    rng = np.random.default_rng(1)
    chars, p = character_pool()
    texts = random_texts(rng, chars, p, sample, 5, 20)  # questions and similar questions
    settings = Settings(models_dir=C.ROOT / "data" / "models", precision=precision,
                        _env_file=None)
    encoder = Encoder.from_settings(settings)
    encoder.encode_passages(texts[:16])  # warm-up
    start = time.perf_counter()
    encoder.encode_passages(texts)
    seconds = time.perf_counter() - start
    return {"precision": encoder.precision, "threads": encoder.threads, "sample": sample,
            "seconds": seconds, "passages_per_s": sample / seconds}


# --- report ---------------------------------------------------------------------------
def render(result: dict[str, Any]) -> str:
    env, rate = result["env"], result.get("encoder")
    rows = []
    for r in result["rows"]:
        ph = r["phases_s"]
        encode_s = r["passages"] / rate["passages_per_s"] if rate else float("nan")
        dense, hybrid = r["search"].get("dense", {}), r["search"].get("hybrid", {})
        server = r.get("server", {})
        rows.append([f"{r['passages']:,}", C.fmt(r["reindex_s"], 1),
                     C.fmt(ph["cache_and_write"], 1), C.fmt(ph["faiss_build"], 1),
                     C.fmt(ph["faiss_write"], 1), C.fmt(ph.get("lexical_save", float("nan")), 1),
                     C.fmt(ph.get("densities", float("nan")), 1),
                     C.fmt(r["peak_rss_delta_gib"]),
                     C.fmt(r["database_mib"], 0), C.fmt(r["index_file_mib"], 0),
                     r["index_kind"], C.fmt(encode_s / 60, 1),
                     C.fmt((encode_s + r["reindex_s"]) / 60, 1),
                     C.fmt(dense.get("median_ms", float("nan"))),
                     C.fmt(hybrid.get("median_ms", float("nan"))),
                     C.fmt(hybrid.get("load_s", float("nan")), 1),
                     C.fmt(server.get("first_answer_s", float("nan")), 1),
                     C.fmt(server.get("rss_gib", float("nan")))])
    lines = [f"## Scaling — reindex and search by collection size ({env['cpu']}, "
             f"{env['cpu_count']} cores, {env['memory_gib']} GiB)", "",
             C.markdown_table(["passages", "reindex s (measured)", "of which cache + SQLite s",
                               "FAISS build s", "index write s", "BM25 index s", "densities s",
                               "peak RSS Δ GiB",
                               "database MiB", "index MiB", "index",
                               "model encoding min (extrapolated)",
                               "full reindex min (measured + extrapolated)",
                               "search ms dense", "search ms hybrid", "index load s (hybrid)",
                               "fresh server: first answer s", "fresh server: RSS GiB"], rows),
             "",
             "Measured: the real reindex path with a stand-in encoder that returns clustered "
             "random vectors at once, on synthetic Chinese-like FAQ text (characters drawn "
             "with the sample FAQ's frequencies; 5 indexed passages per entry). The FAISS "
             "build includes k-means training and nprobe tuning; the BM25 index is tokenised "
             "and saved with the build, and every passage's hubness density computed and saved."]
    if rate:
        lines.append(f"Extrapolated: model encoding = passages / {rate['passages_per_s']:.1f} "
                     f"passages/s, the bundled encoder's rate ({rate['precision']}, "
                     f"{rate['threads']} threads) on {rate['sample']} synthetic passages in "
                     "this run; encoding is linear in the number of passages.")
    lines.append("Search = SearchService.search (the server's path without query encoding: "
                 "FAISS, collapse to entries, bands, the hits' fields), one query at a time, "
                 "median; hybrid adds BM25 (the build's saved inverted index over jieba words "
                 "and character n-grams). Index load = loading the build (checksum, FAISS "
                 "file, BM25 index, densities, passage table) up to the first answer, in the "
                 "benchmark's process. Fresh server = a new `semsearch serve` over the build "
                 "(the bundled model, hybrid): from its launch to its first answer, and its "
                 "resident memory (model, index, BM25, database caches) then.")
    lines += [f"Skipped: {s}." for s in result["skipped"]]
    lines.append(f"Total run {result['total_s'] / 60:.1f} min; load average at start "
                 f"{tuple(round(x, 2) for x in env['loadavg_at_start'])}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 50k passages")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated passage counts (default 10000,100000,1000000)")
    parser.add_argument("--hybrid-max", type=int, default=1_000_000,
                        help="time hybrid search only up to this many passages")
    parser.add_argument("--queries", type=int, default=200, help="distinct queries per size")
    parser.add_argument("--latency-s", type=float, default=None, help="per mode (8; quick 3)")
    parser.add_argument("--encoder-sample", type=int, default=None,
                        help="passages for the real encoder's rate (256; quick 64)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--budget-s", type=float, default=None,
                        help="skip a size whose predicted time would end past this (1500; "
                        "quick 240)")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    sizes = [int(x) for x in (args.sizes or ("10000,50000" if args.quick
                                              else "10000,100000,1000000")).split(",")]
    args.latency_s = args.latency_s or (3.0 if args.quick else 8.0)
    budget = args.budget_s or (240.0 if args.quick else 1500.0)
    name = args.name or ("scaling-quick" if args.quick else "scaling")

    from search.config import Settings
    from search.profiles import resolve_model

    env = C.environment()
    profile = resolve_model(Settings(models_dir=C.ROOT / "data" / "models",
                                     _env_file=None)).profile
    timer = phase_timer()
    result: dict[str, Any] = {"env": env, "quick": args.quick, "rows": [], "skipped": [],
                              "profile": profile.name, "dim": profile.dim}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="semsearch-scaling-") as tmp:
        for n in sizes:
            elapsed = time.perf_counter() - start
            predicted = predict(result["rows"], n, args)
            if elapsed + predicted > budget:
                result["skipped"].append(
                    f"{n:,} passages: predicted {predicted / 60:.1f} min from the smaller sizes "
                    f"would end past the {budget / 60:.1f} min budget (--budget-s)")
                C.log(result["skipped"][-1])
                continue
            result["rows"].append(one_size(n, args, profile, timer, Path(tmp)))
    C.log("real encoder rate")
    result["encoder"] = encoder_rate(args.encoder_sample or (64 if args.quick else 256),
                                     args.precision)
    result["total_s"] = time.perf_counter() - start
    C.write_report(name, result, render(result))


def predict(rows: list[dict[str, Any]], n: int, args: argparse.Namespace) -> float:
    """Seconds a size will take, from the largest size done, with 20% to spare: the
    FAISS build grows as N^1.5 (IVF k-means: points x lists, lists ~ 4·sqrt(N)), the rest
    of the reindex and the index loads linearly; each search mode takes --latency-s."""
    if not rows:
        return 0.0
    last = rows[-1]
    scale = n / last["passages"]
    build = last["phases_s"]["faiss_build"]
    modes = ["dense"] + (["hybrid"] if n <= args.hybrid_max else [])
    searches = sum(last["search"].get(m, last["search"]["dense"])["load_s"] * scale
                   + args.latency_s for m in modes)
    return 1.2 * ((last["reindex_s"] - build) * scale + build * scale ** 1.5 + searches)


if __name__ == "__main__":
    main()
