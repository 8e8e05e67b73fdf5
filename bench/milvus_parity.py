"""Milvus keeps the ranking: one collection served from FAISS and from Milvus Lite, compared query by query.

The synthetic FAQ and stand-in encoder of bench/scaling.py (``--passages``, default
100k) are reindexed twice through the real command path, once per vector store, both
exact (FAISS ``Flat``, Milvus ``FLAT``: an approximate index on either side would
compare two approximations, not the ranking code), and served through ``SearchService``
as a server does. Each query is searched in the dense, lexical and default hybrid modes
on both; reported per mode: the share of queries whose top-5 entries and order agree,
the largest score difference, and the median latency of each store (the query's own
encoding excluded).

    .venv/bin/python bench/milvus_parity.py [--passages 100000] [--queries 200]
Writes bench/results/milvus_parity.json and milvus_parity.md.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C
import scaling

MODES = ("dense", "lexical", "hybrid")


def build(store: str, work: Path, source: Path, profile: Any, passages: int) -> Any:
    """Settings, sessions and encoder of ``source`` reindexed into ``store``."""
    from rich.console import Console

    from indexer.reindex import reindex
    from search.config import Settings
    from search.store.db import open_database

    # Milvus Lite in <work>/milvus.db; both stores exact
    settings = Settings(data_dir=work, models_dir=C.ROOT / "data" / "models", _env_file=None,
                        vector_store=store, flat_threshold=passages * 2)
    sessions = open_database(settings.resolved_database_url)
    encoder = scaling.SyntheticEncoder(profile)
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        reindex(settings, sessions, encoder, source, "default", console=Console(file=quiet))
    C.log(f"  {store}: reindexed in {time.perf_counter() - start:.0f} s")
    return settings, sessions, encoder


def top(service: Any, query: str, vector: np.ndarray) -> tuple[list[str], list[float], float]:
    normalized = service.normalize_query(query)
    start = time.perf_counter()
    hits = service.search_vector(query, normalized, vector, collection=None, top_k=5).hits
    took = time.perf_counter() - start
    return [h.external_id for h in hits], [h.score for h in hits], took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="10k passages, 50 queries")
    args = parser.parse_args()
    if args.quick:
        args.passages, args.queries = 10_000, 50
    from search.collections import CollectionRegistry
    from search.config import Settings
    from search.profiles import resolve_model
    from search.service import SearchService

    profile = resolve_model(Settings(models_dir=C.ROOT / "data" / "models",
                                     _env_file=None)).profile
    result: dict[str, Any] = {"environment": C.environment(), "passages": args.passages,
                              "queries": args.queries, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="semsearch-parity-") as tmp:
        source = Path(tmp) / "faq.jsonl"
        scaling.write_source(source, max(1, args.passages // scaling.PASSAGES_PER_ENTRY))
        rows = source.read_text("utf-8").splitlines()
        queries = [json.loads(r)["similar_questions"][1] for r in rows[:args.queries]]
        C.log(f"{args.passages:,} passages, {len(queries)} queries")
        built = {s: build(s, Path(tmp) / s, source, profile, args.passages)
                 for s in ("faiss", "milvus")}
        vectors = built["faiss"][2].encode_queries(queries)  # the same vectors for both
        for mode in MODES:
            answers: dict[str, list] = {}
            for store, (settings, sessions, encoder) in built.items():
                s = settings.model_copy(update={"retrieval_mode": mode})
                service = SearchService(s, encoder, sessions, CollectionRegistry(s, encoder, sessions))
                top(service, queries[0], vectors[0])  # loads the build
                answers[store] = [top(service, q, v) for q, v in zip(queries, vectors)]
            pairs = list(zip(answers["faiss"], answers["milvus"]))
            same = sum(f[0] == m[0] for f, m in pairs)
            diff = max((abs(a - b) for f, m in pairs if f[0] == m[0] for a, b in zip(f[1], m[1])),
                       default=0.0)
            result["modes"][mode] = {
                "same_top5": same / len(pairs), "max_score_difference": diff,
                "faiss_median_ms": 1e3 * float(np.median([f[2] for f, _ in pairs])),
                "milvus_median_ms": 1e3 * float(np.median([m[2] for _, m in pairs]))}
            C.log(f"  {mode}: {same}/{len(pairs)} queries with the same top 5")
    table = C.markdown_table(
        ["mode", "same top-5 entries, in order", "largest score difference",
         "FAISS median ms", "Milvus Lite median ms"],
        [[m, f"{r['same_top5']:.3f}", f"{r['max_score_difference']:.1e}",
          C.fmt(r["faiss_median_ms"]), C.fmt(r["milvus_median_ms"])]
         for m, r in result["modes"].items()])
    C.write_report("milvus_parity", result, f"## Milvus keeps the ranking — {args.passages:,} "
                   f"passages, {args.queries} queries, both stores exact\n\n{table}\n\n"
                   "Search without the query's encoding (SearchService.search_vector), one "
                   "query at a time; Milvus Lite runs in the benchmark's process.")


if __name__ == "__main__":
    main()
