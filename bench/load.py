"""HTTP load: /v1/search on the sample FAQ at 1, 8, 32 and 64 concurrent clients.

Two real servers run side by side on loopback over the same index, one with
micro-batching and one without (``--compare-log``: one with the search log and one with
it off; ``--compare-embeddings``: two alike, one sent searches and the other
``/v1/embeddings`` requests for the same questions, which is what a search would cost if
ranking were free); each level alternates between them (A B A B …) for a fixed duration
per run, and reports medians over the repeats: p50/p99 latency, requests/s, every non-200
answer or connection error, and the throughput ratio A/B.

Usage: python bench/load.py [--quick] [--levels 1,8,32,64 | --clients 32] [--seconds 8]
                            [--repeats 3] [--compare-log | --compare-embeddings] [--json]
Writes bench/results/load.json and load.md (load-log.* with --compare-log,
load-embeddings.* with --compare-embeddings).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import httpx

from _common import ROOT, environment, median, write_report

SEMSEARCH = str(Path(sys.executable).with_name("semsearch"))
QUERIES = [json.loads(x)["query"] for x in (ROOT / "data/faq_sample_queries.jsonl").open(encoding="utf-8")]


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    env.update(SEMSEARCH_DATA_DIR=str(data_dir), SEMSEARCH_MODELS_DIR=str(ROOT / "data/models"),
               SEMSEARCH_QUEUE_MAX="1024", **extra)
    return env


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(data_dir: Path, port: int, **extra: str) -> subprocess.Popen:
    # Another run's server on the port would answer /ready in place of ours.
    if not port_free(port):
        raise RuntimeError(f"port {port} is in use: is another benchmark running?")
    log = open(data_dir / f"server-{port}.log", "w")
    process = subprocess.Popen([SEMSEARCH, "serve", "--port", str(port)], cwd=ROOT,
                               env=server_env(data_dir, **extra), stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server on {port} did not start; see {log.name}")


def search_request(query: str) -> tuple[str, dict]:
    return "/v1/search", {"query": query, "top_k": 5}


def embeddings_request(query: str) -> tuple[str, dict]:
    return "/v1/embeddings", {"input": query}


def stop(processes: Iterable[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


async def drive(url: str, clients: int, seconds: float, max_requests: int = 200_000,
                request: Callable[[str], tuple[str, dict]] = search_request) -> dict:
    """``clients`` concurrent loops, each posting ``request(query)`` (path, JSON body)
    until ``seconds`` have passed or ``max_requests`` were made in all."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(worker: int, http: httpx.AsyncClient) -> None:
        i = worker
        while time.monotonic() < stop and len(latencies) + len(errors) < max_requests:
            query = QUERIES[i % len(QUERIES)]
            i += clients
            started = time.perf_counter()
            try:
                path, body = request(query)
                r = await http.post(url + path, json=body)
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors.append(f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)

    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(w, http) for w in range(clients)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    pick = lambda q: (latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
                      if latencies else float("nan"))
    return {"requests": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "rps": len(latencies) / elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def summarise(runs: list[dict]) -> dict:
    return {"rps": median([r["rps"] for r in runs]), "p50_ms": median([r["p50_ms"] for r in runs]),
            "p99_ms": median([r["p99_ms"] for r in runs]), "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "error_kinds": sorted({k for r in runs for k in r["error_kinds"]})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--levels", "--clients", default="1,8,32,64",
                        help="client counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--compare-log", action="store_true",
                        help="compare the search log on and off instead of micro-batching")
    parser.add_argument("--compare-embeddings", action="store_true",
                        help="compare /v1/search with /v1/embeddings for the same questions")
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    args = parser.parse_args()
    requests = {"search": search_request, "embeddings": embeddings_request}
    if args.compare_log:
        variants: dict[str, dict[str, str]] = {"log-on": {}, "log-off": {"SEMSEARCH_SEARCH_LOG": "false"}}
    elif args.compare_embeddings:
        variants = {"search": {}, "embeddings": {}}
    else:
        variants = {"batching": {}, "no-batching": {"SEMSEARCH_MICRO_BATCHING": "false"}}
    request_of = {name: requests.get(name, search_request) for name in variants}
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    repeats = args.repeats or (1 if args.quick else 3)
    levels = [int(x) for x in args.levels.split(",")]
    results: dict = {"environment": environment(), "seconds_per_run": seconds, "repeats": repeats,
                     "variants": list(variants), "levels": {}}
    with tempfile.TemporaryDirectory(prefix="semsearch-load-") as tmp:
        data = Path(tmp)
        subprocess.run([SEMSEARCH, "reindex", str(ROOT / "data/faq_sample.jsonl")], cwd=ROOT,
                       env=server_env(data), check=True, capture_output=True)
        a, b = variants
        servers = {name: start(data, 18701 + i, **env) for i, (name, env) in enumerate(variants.items())}
        urls = {name: f"http://127.0.0.1:{18701 + i}" for i, name in enumerate(variants)}
        try:
            for name in urls:  # warm both: first requests pay one-off costs
                asyncio.run(drive(urls[name], 4, 1.0, request=request_of[name]))
            for level in levels:
                runs: dict[str, list[dict]] = {a: [], b: []}
                for _ in range(repeats):
                    for name in (a, b):  # A B A B …
                        runs[name].append(asyncio.run(drive(urls[name], level, seconds,
                                                            request=request_of[name])))
                results["levels"][level] = {n: summarise(r) for n, r in runs.items()}
                row = results["levels"][level]
                row["throughput_ratio"] = row[a]["rps"] / row[b]["rps"]
                print(f"{level:>3} clients: {a} {row[a]['rps']:.1f} rps, {b} {row[b]['rps']:.1f} "
                      f"rps, x{row['throughput_ratio']:.2f}", file=sys.stderr, flush=True)
        finally:
            stop(servers.values())
    if args.compare_embeddings:  # at the last level: search vs embeddings, and their ratio
        last = results["levels"][levels[-1]]
        results.update(search_rps=last["search"]["rps"], embeddings_rps=last["embeddings"]["rps"],
                       ratio=last["throughput_ratio"])
    name = ("load-log" if args.compare_log else "load-embeddings" if args.compare_embeddings
            else "load") + ("-quick" if args.quick else "")
    write_report(name, results, markdown(results), quiet=args.json)
    if args.json:
        print(json.dumps(results, indent=2))


def markdown(results: dict) -> str:
    env = results["environment"]
    a, b = results["variants"]
    lines = [f"## /v1/search under load — {env['cpu']} ({env['cpu_count']} cores), "
             f"{results['seconds_per_run']:.0f} s per run, median of {results['repeats']}", "",
             f"| clients | server | requests/s | p50 ms | p99 ms | errors | {a}/{b} throughput |",
             "|---|---|---|---|---|---|---|"]
    for level, row in results["levels"].items():
        for name in (a, b):
            r = row[name]
            ratio = f"{row['throughput_ratio']:.2f}×" if name == a else ""
            lines.append(f"| {level} | {name} | {r['rps']:.1f} | "
                         f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
