"""Cold start: how long `semsearch serve` takes to listen and to be ready, and how long a
one-shot `semsearch query` takes, with the model already prepared.

Each round starts a fresh process over a data directory holding the sample FAQ (indexed
once, before the first round) and polls /health and /ready every 20 ms; the medians of
the rounds are reported. The precision choice is cached by the first start (as it is
after `make serve`), so every round measures what a restart costs.

With ``--baseline DIR`` (another checkout, e.g. a ``git worktree`` of an older commit)
the rounds alternate between this checkout and that one, run with ``PYTHONPATH=DIR``,
so that both are measured side by side on the same machine state.

    .venv/bin/python bench/coldstart.py [--rounds 5] [--baseline DIR] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

import _common as C

SEMSEARCH = str(C.ROOT / ".venv" / "bin" / "semsearch")
SAMPLE = C.ROOT / "data" / "faq_sample.jsonl"


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    env.update(SEMSEARCH_DATA_DIR=str(data_dir),
               SEMSEARCH_MODELS_DIR=str(C.ROOT / "data" / "models"))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_once(env: dict[str, str]) -> tuple[float, float]:
    """Seconds until /health answers and until /ready answers 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = subprocess.Popen([SEMSEARCH, "serve", "--port", str(port)], env=env, cwd=C.ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    health = None
    try:
        with httpx.Client(timeout=2) as client:
            while time.perf_counter() - started < 300:
                try:
                    if health is None and client.get(url + "/health").status_code == 200:
                        health = time.perf_counter() - started
                    if client.get(url + "/ready").status_code == 200:
                        return health or float("nan"), time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode}")
                time.sleep(0.02)
        raise RuntimeError("server not ready within 300 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def query_once(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([SEMSEARCH, "query", "退款多久能到账啊", "--json"], env=env, cwd=C.ROOT,
                   check=True, capture_output=True)
    return time.perf_counter() - started


def measure(envs: dict[str, dict[str, str]], rounds: int) -> dict[str, dict]:
    samples = {name: {"health_s": [], "ready_s": [], "query_s": []} for name in envs}
    for r in range(rounds):
        for name, env in envs.items():
            h, t = serve_once(env)
            q = query_once(env)
            for key, value in (("health_s", h), ("ready_s", t), ("query_s", q)):
                samples[name][key].append(value)
            C.log(f"round {r + 1}/{rounds} {name}: /health {h:.2f}s, /ready {t:.2f}s, query {q:.2f}s")
    return {name: {**{k: C.median(v) for k, v in got.items()}, "samples": got}
            for name, got in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alongside")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="semsearch-coldstart-") as tmp:
        envs = {"this checkout": env_for(Path(tmp) / "this")}
        if args.baseline:
            envs["baseline"] = {**env_for(Path(tmp) / "baseline"),
                                "PYTHONPATH": str(args.baseline.resolve())}
        for env in envs.values():
            subprocess.run([SEMSEARCH, "reindex", str(SAMPLE)], env=env, cwd=C.ROOT, check=True,
                           capture_output=True)
            serve_once(env)  # warms the page cache and the precision choice, not measured
        measured = measure(envs, args.rounds)
    result = {"environment": C.environment(), "rounds": args.rounds,
              "baseline": str(args.baseline) if args.baseline else None, "results": measured}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    rows = []
    for name, got in measured.items():
        for key, label in (("health_s", "`serve`: /health answers"),
                           ("ready_s", "`serve`: /ready answers 200"),
                           ("query_s", "one-shot `semsearch query`")):
            rows.append([name, label, got[key], ", ".join(f"{x:.2f}" for x in got["samples"][key])])
    table = C.markdown_table(["checkout", "measure", "median (s)", "runs (s)"], rows)
    C.write_report("coldstart", result, f"## Cold start ({args.rounds} rounds)\n\n{table}\n")


if __name__ == "__main__":
    main()
