"""Online writes during search load: search latency with and without one upsert a second.

A real server serves a collection of ``--passages`` synthetic passages (the scaling
bench's source and stand-in encoder build it through the real reindex path; the server
itself encodes queries and written entries with the bundled model). ``--clients`` search
clients run for ``--seconds``, first alone, then with a writer that upserts one entry a
second through ``PUT /v1/collections/default/documents/{id}`` (a new entry, then a new
similar question of that entry, and so on), A B A B … for ``--repeats``. After each
write's acknowledgement the writer searches the written question until the entry is
among the hits, matched by that question itself (cosine 1): the time that takes is the
write's visibility. (Not "the first hit": the stand-in FAQ's random-character questions,
once encoded by the real model, all sit close together, so which of the written
entries ranks first is a matter of their hubness densities, not of the write.)

Reports medians over the repeats: search p50/p99 without and with writes, their p99
ratio (target ≤ 2), the visibility of every write (target: each ≤ 1 s), and errors.

    .venv/bin/python bench/online_writes.py [--passages 100000] [--seconds 60] [--clients 8]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import _common as C
import scaling
from load import start, stop

PORT = 18741


def build(data: Path, passages: int) -> list[str]:
    """Index the synthetic FAQ into ``data``; its similar questions, the searches sent."""
    from rich.console import Console

    from indexer.reindex import reindex
    from search.config import Settings
    from search.profiles import resolve_model
    from search.store.db import dispose_all, open_database

    source = data / "faq.jsonl"
    scaling.write_source(source, max(1, passages // scaling.PASSAGES_PER_ENTRY))
    settings = Settings(data_dir=data, models_dir=C.ROOT / "data" / "models",
                        _env_file=None)
    encoder = scaling.SyntheticEncoder(resolve_model(settings).profile)
    sessions = open_database(settings.resolved_database_url)
    with open(os.devnull, "w") as quiet:
        reindex(settings, sessions, encoder, source, "default", console=Console(file=quiet))
    dispose_all()
    with source.open(encoding="utf-8") as rows:
        return [json.loads(line)["similar_questions"][0] for line, _ in zip(rows, range(2000))]


async def searches(url: str, queries: list[str], clients: int, until: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []

    async def client(worker: int, http: httpx.AsyncClient) -> None:
        i = worker
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                r = await http.post(url + "/v1/search", json={"query": queries[i % len(queries)],
                                                            "top_k": 5})
                (latencies.append(time.perf_counter() - started) if r.status_code == 200
                 else errors.append(f"HTTP {r.status_code}"))
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
            i += clients

    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(client(w, http) for w in range(clients)))
    ms = np.asarray(latencies) * 1e3
    return {"requests": len(latencies), "errors": errors,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan")}


async def writer(url: str, until: float, rate: float, first: int) -> dict[str, Any]:
    """One upsert every 1/rate s; after each, search its question until it comes first."""
    visible: list[float] = []
    errors: list[str] = []
    rng = np.random.default_rng(first)
    chars, p = scaling.character_pool()
    async with httpx.AsyncClient(timeout=60) as http:
        i = first
        while time.monotonic() < until:
            tick = time.monotonic()
            question = scaling.random_texts(rng, chars, p, 1, 12, 18)[0]  # like the others
            if i % 2:  # a new similar question of the entry written a second ago (an entry
                entry = f"online-{i - 1}"  # of the synthetic FAQ has stand-in vectors)
                current = (await http.get(f"{url}/v1/collections/default/documents/{entry}")).json()
                body = {k: current[k] for k in ("question", "answer", "category", "tags")}
                body["similar_questions"] = current["similar_questions"] + [question]
            else:
                entry, body = f"online-{i}", {"question": question, "answer": "在线写入的答案"}
            r = await http.put(f"{url}/v1/collections/default/documents/{entry}", json=body)
            acked = time.perf_counter()
            if r.status_code != 200:
                errors.append(f"PUT HTTP {r.status_code}")
            else:
                while time.perf_counter() - acked < 10:
                    hits = (await http.post(url + "/v1/search", json={"query": question,
                                                                     "top_k": 5})).json()["hits"]
                    if any(h["external_id"] == entry and h["score"] > 0.999 for h in hits):
                        visible.append(time.perf_counter() - acked)
                        break
                    await asyncio.sleep(0.02)
                else:
                    errors.append(f"{entry}: its new question not found 10 s after the write")
            i += 1
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - tick)))
    return {"writes": i - first, "visible_s": visible, "errors": errors}


async def with_writes(url: str, queries: list[str], clients: int, seconds: float, rate: float,
                      first: int) -> tuple[dict, dict]:
    until = time.monotonic() + seconds
    return await asyncio.gather(searches(url, queries, clients, until),
                                writer(url, until, rate, first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k passages, 10 s, one repeat")
    parser.add_argument("--passages", type=int, default=None, help="(100000)")
    parser.add_argument("--seconds", type=float, default=None, help="per run (60)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1.0, help="upserts per second")
    parser.add_argument("--repeats", type=int, default=None, help="(2)")
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    args = parser.parse_args()
    args.passages = args.passages or (10_000 if args.quick else 100_000)
    args.seconds = args.seconds or (10.0 if args.quick else 60.0)
    args.repeats = args.repeats or (1 if args.quick else 2)
    result: dict[str, Any] = {"environment": C.environment(), "args": vars(args), "runs": []}
    with tempfile.TemporaryDirectory(prefix="semsearch-writes-") as tmp:
        data = Path(tmp)
        C.log(f"indexing {args.passages:,} synthetic passages")
        queries = build(data, args.passages)
        server = start(data, PORT)
        url = f"http://127.0.0.1:{PORT}"
        try:
            asyncio.run(searches(url, queries, args.clients, time.monotonic() + 3))  # warm-up
            for r in range(args.repeats):
                C.log(f"repeat {r + 1}: searches alone, then with writes ({args.seconds:.0f} s each)")
                alone = asyncio.run(searches(url, queries, args.clients,
                                             time.monotonic() + args.seconds))
                loaded, written = asyncio.run(with_writes(
                    url, queries, args.clients, args.seconds, args.rate, 1000 * r))
                result["runs"].append({"alone": alone, "with_writes": loaded, "writes": written})
                C.log(f"  p99 {alone['p99_ms']:.1f} ms alone, {loaded['p99_ms']:.1f} ms with "
                      f"{written['writes']} writes; slowest visibility "
                      f"{max(written['visible_s'], default=float('nan')):.2f} s")
        finally:
            stop([server])
    runs = result["runs"]
    visible = [v for run in runs for v in run["writes"]["visible_s"]]
    errors = [e for run in runs for part in ("alone", "with_writes") for e in run[part]["errors"]]
    errors += [e for run in runs for e in run["writes"]["errors"]]
    result["summary"] = summary = {
        "p50_ms_alone": C.median([r["alone"]["p50_ms"] for r in runs]),
        "p99_ms_alone": C.median([r["alone"]["p99_ms"] for r in runs]),
        "p50_ms_with_writes": C.median([r["with_writes"]["p50_ms"] for r in runs]),
        "p99_ms_with_writes": C.median([r["with_writes"]["p99_ms"] for r in runs]),
        "writes": sum(r["writes"]["writes"] for r in runs),
        "visible_p50_s": float(np.median(visible)) if visible else None,
        "visible_max_s": max(visible) if visible else None,
        "errors": len(errors), "error_kinds": sorted(set(errors))[:10]}
    summary["p99_ratio"] = summary["p99_ms_with_writes"] / summary["p99_ms_alone"]
    C.write_report("online-writes" + ("-quick" if args.quick else ""), result, markdown(result),
                   quiet=args.json)
    if args.json:
        print(json.dumps(summary, indent=2))


def markdown(result: dict[str, Any]) -> str:
    s, a, env = result["summary"], result["args"], result["environment"]
    visible = (f"{s['visible_p50_s']:.2f} s median, {s['visible_max_s']:.2f} s slowest"
               if s["visible_max_s"] is not None else "–")
    rows = [["search p50 ms", C.fmt(s["p50_ms_alone"]), C.fmt(s["p50_ms_with_writes"]), ""],
            ["search p99 ms", C.fmt(s["p99_ms_alone"]), C.fmt(s["p99_ms_with_writes"]),
             f"{s['p99_ratio']:.2f}× (target ≤ 2×)"],
            ["writes (visibility after the acknowledgement)", "", f"{s['writes']}: {visible}",
             "target: each ≤ 1 s"],
            ["errors", "", str(s["errors"]), ", ".join(s["error_kinds"])]]
    return "\n".join([
        f"## Online writes during search load — {a['passages']:,} passages, {a['clients']} "
        f"search clients, {a['rate']:g} upsert/s, {a['seconds']:.0f} s per run, median of "
        f"{a['repeats']} ({env['cpu']}, {env['cpu_count']} cores)", "",
        C.markdown_table(["", "searches alone", "with writes", ""], rows), "",
        "Reproduce: `.venv/bin/python bench/online_writes.py`", ""])


if __name__ == "__main__":
    sys.exit(main())
