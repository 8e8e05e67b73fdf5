"""/v1/search against /v1/embeddings for two checkouts of semsearch, side by side.

A change to the search path is judged by the ratio bench/load.py --compare-embeddings
reports, which moves by ±0.05 between runs of the same code on a 2-core machine. This
runs one server per checkout over the same index (the other checkout through
PYTHONPATH, e.g. a ``git worktree`` of an older commit), and for each, 32 clients'
searches for a few seconds, then their embeddings requests for the same questions; the
checkouts alternate (A B B A …) and the medians are compared.

Usage: python bench/search_ab.py OTHER_CHECKOUT [--repeats 8] [--seconds 5] [--clients 32]
Writes bench/results/search-ab.json and search-ab.md.
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, environment, markdown_table, median, write_report
from load import SEMSEARCH, drive, embeddings_request, search_request, server_env, start, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (its repository root)")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / "search" / "service.py").is_file():
        sys.exit(f"{other} is not a semsearch checkout (no search/service.py)")
    checkouts = {"this": {}, str(other): {"PYTHONPATH": str(other)}}
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="semsearch-ab-") as tmp:
        data = Path(tmp)
        subprocess.run([SEMSEARCH, "reindex", str(ROOT / "data/faq_sample.jsonl")], cwd=ROOT,
                       env=server_env(data), check=True, capture_output=True)
        servers = {name: start(data, 18721 + i, **env) for i, (name, env) in enumerate(checkouts.items())}
        urls = {name: f"http://127.0.0.1:{18721 + i}" for i, name in enumerate(checkouts)}
        try:
            for url in urls.values():  # first requests pay one-off costs
                for request in (search_request, embeddings_request):
                    asyncio.run(drive(url, 4, 1.0, request=request))
            names = list(checkouts)
            for repeat in range(args.repeats):
                for name in names if repeat % 2 == 0 else names[::-1]:
                    searched = asyncio.run(drive(urls[name], args.clients, args.seconds))
                    embedded = asyncio.run(drive(urls[name], args.clients, args.seconds,
                                                 request=embeddings_request))
                    runs[name].append({"search_rps": searched["rps"], "embeddings_rps": embedded["rps"],
                                       "ratio": searched["rps"] / embedded["rps"],
                                       "errors": searched["errors"] + embedded["errors"]})
                    print(f"{name}: search {searched['rps']:.1f} rps, embeddings "
                          f"{embedded['rps']:.1f} rps, x{runs[name][-1]['ratio']:.3f}",
                          file=sys.stderr, flush=True)
        finally:
            stop(servers.values())
    summary = {name: {key: median([r[key] for r in rows])
                      for key in ("search_rps", "embeddings_rps", "ratio")}
               | {"errors": sum(r["errors"] for r in rows)} for name, rows in runs.items()}
    result = {"environment": environment(), "clients": args.clients, "seconds": args.seconds,
              "repeats": args.repeats, "runs": runs, "median": summary}
    table = markdown_table(["checkout", "search requests/s", "embeddings requests/s",
                            "search / embeddings", "errors"],
                           [[name, f"{s['search_rps']:.1f}", f"{s['embeddings_rps']:.1f}",
                             f"{s['ratio']:.3f}", s["errors"]] for name, s in summary.items()])
    write_report("search-ab", result, f"## /v1/search against /v1/embeddings, two checkouts "
                  f"({args.clients} clients, median of {args.repeats})\n\n{table}\n")


if __name__ == "__main__":
    main()
