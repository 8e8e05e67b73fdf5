"""Vector stores end to end: /v1/search on the sample FAQ, FAISS vs Milvus Lite.

Two real servers over the same sample FAQ, one per vector store (both on SQLite), each
driven in turn (A B A B …) by the same number of concurrent clients for a fixed time
per run; reports medians over the repeats of requests/s and p50/p99 latency, and every
non-200 answer. The query encoder dominates a request, so the difference between the
rows is what the vector store adds (Milvus: a gRPC round trip to the in-process Lite
server and a Strong-consistency search; FAISS: an in-memory search).

Usage: python bench/backends.py [--quick] [--clients 8] [--seconds 8] [--repeats 3]
Writes bench/results/backends.json and backends.md.
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
from pathlib import Path

from _common import ROOT, environment, write_report
from load import SEMSEARCH, drive, server_env, start, stop, summarise

BACKENDS = {"faiss": {}, "milvus-lite": {"SEMSEARCH_VECTOR_STORE": "milvus"}}
PORTS = {"faiss": 18711, "milvus-lite": 18712}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    repeats = args.repeats or (1 if args.quick else 3)
    results: dict = {"environment": environment(), "clients": args.clients,
                     "seconds_per_run": seconds, "repeats": repeats, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="semsearch-backends-") as tmp:
        servers = {}
        try:
            for name, extra in BACKENDS.items():
                data = Path(tmp) / name
                data.mkdir()
                subprocess.run([SEMSEARCH, "reindex", str(ROOT / "data/faq_sample.jsonl")],
                               cwd=ROOT, env=server_env(data, **extra), check=True,
                               capture_output=True)
                servers[name] = start(data, PORTS[name], **extra)
            urls = {n: f"http://127.0.0.1:{PORTS[n]}" for n in BACKENDS}
            for url in urls.values():  # warm both: first requests pay one-off costs
                asyncio.run(drive(url, 4, 1.0))
            runs: dict[str, list[dict]] = {n: [] for n in BACKENDS}
            for _ in range(repeats):
                for name, url in urls.items():  # A B A B …
                    runs[name].append(asyncio.run(drive(url, args.clients, seconds)))
            results["backends"] = {n: summarise(r) for n, r in runs.items()}
        finally:
            stop(servers.values())
    for name, row in results["backends"].items():
        print(f"{name:12} {row['rps']:.1f} rps, p50 {row['p50_ms']:.1f} ms, "
              f"p99 {row['p99_ms']:.1f} ms, {row['errors']} errors", flush=True)
    write_report("backends-quick" if args.quick else "backends", results, markdown(results))


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [f"## Vector stores end to end — /v1/search, sample FAQ, {results['clients']} "
             f"concurrent clients, {env['cpu']} ({env['cpu_count']} cores), "
             f"{results['seconds_per_run']:.0f} s per run, median of {results['repeats']}", "",
             "| vector store | requests/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
    for name, r in results["backends"].items():
        lines.append(f"| {name} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['errors']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
