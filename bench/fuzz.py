"""Fuzz every operation of /openapi.json with schemathesis: no input may get a 5xx.

Starts `semsearch serve` over a fresh data directory holding the sample FAQ, with an API
key configured, and runs schemathesis twice: without a key (write routes must answer
401, never 5xx) and with it (writes go through, deletes included). Exits 1 when any
check fails; the reports land in bench/results/fuzz/.

    .venv/bin/python bench/fuzz.py [--max-examples 50] [--checks not_a_server_error] [--seed 1]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import _common as C

BIN = Path(sys.executable).parent
KEY = "fuzz-key"


def start(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    env.update(SEMSEARCH_DATA_DIR=str(data_dir), SEMSEARCH_API_KEYS=KEY,
               SEMSEARCH_MODELS_DIR=str(C.ROOT / "data" / "models"))
    subprocess.run([str(BIN / "semsearch"), "reindex", str(C.ROOT / "data" / "faq_sample.jsonl")],
                   env=env, cwd=C.ROOT, check=True, capture_output=True)
    log = open(data_dir / "server.log", "w")
    process = subprocess.Popen([str(BIN / "semsearch"), "serve", "--port", str(port)], env=env,
                               cwd=C.ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server not ready: {(data_dir / 'server.log').read_text()[-2000:]}")


def fuzz(url: str, report: Path, args: argparse.Namespace, key: str | None) -> dict:
    command = [str(BIN / "st"), "run", f"{url}/openapi.json", "--checks", args.checks,
               "--max-examples", str(args.max_examples), "--seed", str(args.seed),
               "--workers", "1", "--request-timeout", "60", "--no-color",
               "--generation-database", "none", "--report", "ndjson",
               "--report-ndjson-path", str(report)]
    if key:
        command += ["--header", f"Authorization: Bearer {key}"]
    started = time.perf_counter()
    # in the report folder: schemathesis keeps a cache of its own in the working directory
    done = subprocess.run(command, capture_output=True, text=True, cwd=report.parent)
    failures = server_errors = 0
    cases = 0
    for line in report.read_text().splitlines() if report.exists() else []:
        event = json.loads(line)
        finished = event.get("ScenarioFinished") or {}
        recorder = finished.get("recorder") or {}
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                if str(check.get("status", "")).lower() == "failure":  # "failure" in schemathesis 4
                    failures += 1
                    server_errors += check.get("name") == "not_a_server_error"
        cases += len(recorder.get("cases") or {})
    return {"with_key": bool(key), "exit_code": done.returncode, "cases": cases,
            "failed_checks": failures, "server_errors": server_errors,
            "seconds": round(time.perf_counter() - started, 1), "summary": done.stdout[-3000:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--checks", default="not_a_server_error")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = C.RESULTS / "fuzz"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="semsearch-fuzz-") as tmp:
        from socket import socket

        with socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = start(Path(tmp), port)
        try:
            runs = [fuzz(f"http://127.0.0.1:{port}", out / f"{name}.ndjson", args, key)
                    for name, key in (("anonymous", None), ("with-key", KEY))]
        finally:
            server.terminate()
            server.wait(timeout=30)
    for run in runs:
        print(run.pop("summary"))
    result = {"checks": args.checks, "max_examples": args.max_examples, "seed": args.seed,
              "runs": runs}
    table = C.markdown_table(["run", "test cases", "failed checks", "5xx", "seconds"],
                             [["with key" if r["with_key"] else "anonymous", r["cases"],
                               r["failed_checks"], r["server_errors"], r["seconds"]] for r in runs])
    C.write_report("fuzz", result, f"## Fuzzing /openapi.json (schemathesis, {args.checks})\n\n{table}\n")
    sys.exit(1 if any(r["exit_code"] for r in runs) else 0)


if __name__ == "__main__":
    main()
