"""End to end over HTTP: our server against a peer embedding server on the same model.

Our server (``semsearch serve`` over the sample FAQ, default settings, micro-batching on)
answers ``/v1/search`` and ``/v1/embeddings``; the peer serves the same model directory
(data/models/multilingual-e5-small-q4) behind its OpenAI-compatible ``/embeddings``:

- infinity-emb (``infinity_emb v2 --engine torch --device cpu``), run from its own
  virtual environment (bench/.infinity-venv, made on first use with pip unless
  ``--no-install``; ``--infinity PATH`` or SEMSEARCH_BENCH_INFINITY names another
  executable), offline;
- if infinity cannot be installed or started here, sentence-transformers behind a
  minimal FastAPI endpoint (bench/st_server.py), and the report says why.

Every request embeds one question, as a chat bot's query does: ours with
``input_type="query"`` (it adds e5's ``query: `` prefix), the peer with the prefix in the
text. At 1, 8, 32 and 64 concurrent clients each contender is driven for a fixed time,
the three in rotated order per repeat (A B C, B C A, …); medians over repeats of
requests/s, p50 and p99, and every failed request. The acceptance figure is our
``/v1/embeddings`` requests/s over the peer's at 32 clients.

Usage: python bench/peer_http.py [--quick] [--levels 1,8,32,64] [--seconds 6] [--repeats 3]
Writes bench/results/peer_http.json and peer_http.md.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import _common as C
from load import (QUERIES, SEMSEARCH, drive, port_free, search_request, server_env, start,
                  summarise)

MODEL_DIR = C.ROOT / "data" / "models" / "multilingual-e5-small-q4"
PEER_MODEL = "multilingual-e5-small"
INFINITY_VENV = C.ROOT / "bench" / ".infinity-venv"
INFINITY_PACKAGES = (["torch==2.13.0"], ["infinity-emb[server,torch]==0.0.78"])
PORTS = {"ours": 18721, "peer": 18722}
ACCEPTANCE_CLIENTS = 32
CONTENDERS = ("ours /v1/search", "ours /v1/embeddings", "peer /embeddings")


def ours_embeddings(query: str) -> tuple[str, dict]:
    return "/v1/embeddings", {"input": query, "input_type": "query"}


def peer_embeddings(query: str) -> tuple[str, dict]:
    return "/embeddings", {"input": ["query: " + query], "model": PEER_MODEL}


# --- the peer -------------------------------------------------------------------------
def install_infinity(venv: Path, log: Path) -> None:
    """A virtual environment of its own: infinity pins numpy<2 and other versions."""
    with log.open("a") as out:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=out,
                       stderr=subprocess.STDOUT, timeout=300)
        for packages in INFINITY_PACKAGES:  # torch first: pip must not pick a CUDA build
            subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *packages],
                           check=True, stdout=out, stderr=subprocess.STDOUT, timeout=1200)


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode}: {tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"not ready after {timeout_s:.0f}s: {tail(log)}")


def tail(log: Path, lines: int = 15) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def peer_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DO_NOT_TRACK="1",
               INFINITY_ANONYMOUS_USAGE_STATS="0")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads
    return env


def start_infinity(exe: Path, port: int, log: Path, threads: int | None) -> subprocess.Popen:
    if not port_free(port):
        raise RuntimeError(f"port {port} is in use: is another benchmark running?")
    command = [str(exe), "v2", "--model-id", str(MODEL_DIR), "--served-model-name", PEER_MODEL,
               "--engine", "torch", "--device", "cpu", "--no-model-warmup",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=peer_env(threads), stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    wait_ready(f"http://127.0.0.1:{port}/models", process, log, 300)
    return process


def start_st_server(port: int, log: Path, threads: int | None) -> subprocess.Popen:
    if not port_free(port):
        raise RuntimeError(f"port {port} is in use: is another benchmark running?")
    command = [sys.executable, str(C.ROOT / "bench" / "st_server.py"), "--model-dir",
               str(MODEL_DIR), "--port", str(port)]
    process = subprocess.Popen(command, env=peer_env(threads), stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    wait_ready(f"http://127.0.0.1:{port}/health", process, log, 300)
    return process


def start_peer(args: argparse.Namespace, work: Path) -> tuple[subprocess.Popen, dict[str, Any]]:
    """infinity-emb if it can be had here, else the sentence-transformers fallback."""
    exe = Path(args.infinity) if args.infinity else INFINITY_VENV / "bin" / "infinity_emb"
    problem = None
    if not exe.exists() and not args.infinity and not args.no_install:
        C.log(f"installing infinity-emb into {INFINITY_VENV.relative_to(C.ROOT)} (once)")
        try:
            install_infinity(INFINITY_VENV, work / "infinity-install.log")
        except (subprocess.SubprocessError, OSError) as exc:
            problem = f"pip install failed ({exc}): {tail(work / 'infinity-install.log')}"
    if problem is None and not exe.exists():
        problem = f"{exe} does not exist" + (" (--no-install)" if args.no_install else "")
    if problem is None:
        try:
            process = start_infinity(exe, PORTS["peer"], work / "infinity.log", args.threads)
            version = subprocess.run([str(exe.with_name("pip")), "show", "infinity-emb"],
                                     capture_output=True, text=True).stdout
            return process, {"name": "infinity-emb", "executable": str(exe),
                             "version": _field(version, "Version")}
        except RuntimeError as exc:
            problem = f"infinity_emb did not start offline: {exc}"
    C.log(f"peer fallback: {problem}")
    process = start_st_server(PORTS["peer"], work / "st-server.log", args.threads)
    return process, {"name": "sentence-transformers behind a minimal FastAPI endpoint "
                             "(fallback)", "why_not_infinity": problem,
                     "version": _version("sentence-transformers")}


def _field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# --- measurement ----------------------------------------------------------------------
def agreement(ours: str, peer: str, queries: list[str]) -> float:
    """Mean cosine between our and the peer's vectors for the same queries."""
    sims = []
    for q in queries:
        a = httpx.post(ours + "/v1/embeddings", json=ours_embeddings(q)[1], timeout=60)
        b = httpx.post(peer + "/embeddings", json=peer_embeddings(q)[1], timeout=60)
        a.raise_for_status()
        b.raise_for_status()
        va = np.asarray(a.json()["data"][0]["embedding"])
        vb = np.asarray(b.json()["data"][0]["embedding"])
        sims.append(float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb)))
    return float(np.mean(sims))


def run_levels(urls: dict[str, str], levels: list[int], seconds: float,
               repeats: int) -> dict[int, dict[str, Any]]:
    plan = {"ours /v1/search": (urls["ours"], search_request),
            "ours /v1/embeddings": (urls["ours"], ours_embeddings),
            "peer /embeddings": (urls["peer"], peer_embeddings)}
    results: dict[int, dict[str, Any]] = {}
    for level in levels:
        runs: dict[str, list[dict]] = {name: [] for name in plan}
        for r in range(repeats):
            order = list(plan)[r % len(plan):] + list(plan)[:r % len(plan)]
            for name in order:
                url, request = plan[name]
                runs[name].append(asyncio.run(drive(url, level, seconds, request=request)))
        row: dict[str, Any] = {name: summarise(rs) for name, rs in runs.items()}
        row["embeddings_rps_ratio"] = (row["ours /v1/embeddings"]["rps"]
                                       / row["peer /embeddings"]["rps"])
        results[level] = row
        C.log(f"{level:>3} clients: search {row['ours /v1/search']['rps']:.1f} rps, embeddings "
              f"ours {row['ours /v1/embeddings']['rps']:.1f} vs peer "
              f"{row['peer /embeddings']['rps']:.1f} rps (x{row['embeddings_rps_ratio']:.2f})")
    return results


# --- report ---------------------------------------------------------------------------
def markdown(result: dict[str, Any]) -> str:
    env, peer = result["environment"], result["peer"]
    lines = [f"## End to end over HTTP — ours vs {peer['name']} {peer['version']} "
             f"({env['cpu']}, {env['cpu_count']} cores), {result['seconds_per_run']:.0f} s per "
             f"run, median of {result['repeats']}", "",
             "| clients | endpoint | requests/s | p50 ms | p99 ms | failed "
             "| ours / peer requests/s |",
             "|---|---|---|---|---|---|---|"]
    for level, row in result["levels"].items():
        for name in CONTENDERS:
            r = row[name]
            ratio = f"{row['embeddings_rps_ratio']:.2f}×" if name == "ours /v1/embeddings" else ""
            lines.append(f"| {level} | {name} | {r['rps']:.1f} | {r['p50_ms']:.1f} | "
                         f"{r['p99_ms']:.1f} | {r['errors']} | {ratio} |")
    acc = result.get("acceptance")
    lines.append("")
    if acc:
        verdict = "met" if acc["ratio"] >= acc["target"] else "missed"
        lines.append(f"At {acc['clients']} clients our /v1/embeddings serves "
                     f"{acc['ratio']:.2f}× the peer's requests/s (target ≥ {acc['target']}: "
                     f"{verdict}).")
    threads = (f"{result['threads']} torch threads each" if result.get("threads")
               else "both servers with their default torch threads (all cores)")
    lines.append(f"Ours: semsearch serve, precision {result['ours']['precision']}, "
                 f"micro-batching on, one worker; {threads}. Peer: {peer['name']}"
                 + (f" — infinity-emb could not be used: {peer['why_not_infinity']}"
                    if "why_not_infinity" in peer else "")
                 + f". Mean cosine between the two servers' vectors for the same queries: "
                 f"{result['cosine_ours_vs_peer']:.5f} (ours normalises the text first: NFKC, "
                 "traditional to simplified; and runs its chosen precision). Each request "
                 "embeds one query; "
                 "both servers and the load generator share this machine's cores.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per run, one repeat")
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=None, help="per run (6; quick 2)")
    parser.add_argument("--repeats", type=int, default=None, help="(3; quick 1)")
    parser.add_argument("--infinity", default=os.environ.get("SEMSEARCH_BENCH_INFINITY"),
                        help="path of an infinity_emb executable (or SEMSEARCH_BENCH_INFINITY)")
    parser.add_argument("--no-install", action="store_true",
                        help="never pip-install infinity-emb (fall back instead)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of both servers (default: each its own, all cores)")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 6.0)
    repeats = args.repeats or (1 if args.quick else 3)
    levels = [int(x) for x in args.levels.split(",")]
    result: dict[str, Any] = {"environment": C.environment(), "seconds_per_run": seconds,
                              "repeats": repeats, "threads": args.threads, "levels": {}}
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="semsearch-peer-") as tmp:
        work = Path(tmp)
        try:
            subprocess.run([SEMSEARCH, "reindex", str(C.ROOT / "data/faq_sample.jsonl")],
                           cwd=C.ROOT, env=server_env(work), check=True, capture_output=True)
            threads = {"SEMSEARCH_THREADS": str(args.threads)} if args.threads else {}
            processes.append(start(work, PORTS["ours"], **threads))
            urls = {name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()}
            peer_process, result["peer"] = start_peer(args, work)
            processes.append(peer_process)
            info = httpx.get(urls["ours"] + "/v1/info", timeout=10).json()
            result["ours"] = {"precision": info.get("precision"), "model": info.get("model")}
            result["cosine_ours_vs_peer"] = agreement(urls["ours"], urls["peer"], QUERIES[:8])
            for url, request in ((urls["ours"], search_request), (urls["ours"], ours_embeddings),
                                 (urls["peer"], peer_embeddings)):
                asyncio.run(drive(url, 4, 1.0, request=request))  # warm-up
            result["levels"] = run_levels(urls, levels, seconds, repeats)
        finally:
            for process in processes:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    if ACCEPTANCE_CLIENTS in result["levels"]:
        ratio = result["levels"][ACCEPTANCE_CLIENTS]["embeddings_rps_ratio"]
        result["acceptance"] = {"clients": ACCEPTANCE_CLIENTS, "target": 1.2, "ratio": ratio}
    result["failed_requests"] = sum(row[name]["errors"] for row in result["levels"].values()
                                    for name in CONTENDERS)
    name = args.name or ("peer_http-quick" if args.quick else "peer_http")
    C.write_report(name, result, markdown(result))


if __name__ == "__main__":
    main()
