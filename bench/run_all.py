"""Run every benchmark in turn, then write the performance page.

Each script runs as its own process (one model or index in memory at a time), with the
arguments below, its output shown and kept in bench/results/logs/, and a time limit.
The defaults are sized for a 2-core machine: a full run took 40 to 50 minutes on the one
of docs/performance.md, a quick run (``--quick``, passed on to every script) a few. The
run fails (exit 1) when a script fails or runs out of time, or when any HTTP request of
the load benchmarks failed.
Run it on an otherwise idle machine: the scripts measure with every core.

bench/quality.py (search quality) is not part of it: its first run encodes whole
evaluation corpora, which takes hours on two cores.

    .venv/bin/python bench/run_all.py [--quick] [--only encode,vectors] [--report-only]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import _common as C
import report


@dataclass
class Step:
    key: str  # results name, and the section of the page
    script: str
    full: list[str] = field(default_factory=list)  # extra arguments of a full run
    limit_min: float = 10.0  # time limit of a full run
    quick_limit_min: float = 4.0  # and of a quick run
    failed_requests: Any = None  # result JSON -> number of failed requests, if it has any


def load_errors(result: dict) -> int:
    return sum(row[n]["errors"] for row in result["levels"].values()
               for n in ("batching", "no-batching"))


STEPS = [
    Step("encode", "encode.py", ["--sts-limit", "500"], 14),
    Step("vectors", "vectors.py", [], 40, 8),
    Step("load", "load.py", ["--seconds", "5", "--repeats", "2"], 6, 3, load_errors),
    Step("backends", "backends.py", ["--seconds", "5", "--repeats", "2"], 5, 3,
         lambda r: sum(b["errors"] for b in r["backends"].values())),
    # the first run installs infinity-emb into bench/.infinity-venv: minutes of pip
    Step("peer_http", "peer_http.py", ["--seconds", "5", "--repeats", "2"], 15, 10,
         lambda r: r["failed_requests"]),
    Step("load-embeddings", "load.py", ["--compare-embeddings", "--clients", "32", "--seconds", "5",
                                        "--repeats", "3"], 4, 2,
         lambda r: sum(row[n]["errors"] for row in r["levels"].values()
                       for n in ("search", "embeddings"))),
    Step("online-writes", "online_writes.py", [], 12, 4,
         lambda r: r["summary"]["errors"]),
    Step("scaling", "scaling.py", ["--budget-s", "3600"], 65, 5),
    Step("milvus_parity", "milvus_parity.py", [], 25, 4),
]


def run_step(step: Step, quick: bool, logs: Any) -> dict[str, Any]:
    """Run one script, echoing its output; returns status, seconds and the command."""
    command = [sys.executable, str(C.ROOT / "bench" / step.script)]
    command += ["--quick"] if quick else step.full
    shown = ".venv/bin/python " + " ".join(shlex.quote(a) for a in command[1:])
    shown = shown.replace(str(C.ROOT) + "/", "")
    limit_s = 60 * (step.quick_limit_min if quick else step.limit_min)
    log_path = logs / f"{step.key}{'-quick' if quick else ''}.log"
    C.log(f"{step.key}: {shown} (limit {limit_s / 60:.0f} min)")
    start = time.monotonic()
    status = "ok"
    with log_path.open("w") as out, log_path.open() as reader:
        # its own process group: a script stopped here takes its servers with it
        process = subprocess.Popen(command, cwd=C.ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            while process.poll() is None:
                sys.stdout.write(reader.read())
                sys.stdout.flush()
                if time.monotonic() - start > limit_s:
                    stop_group(process)
                    status = f"timed out after {limit_s / 60:.0f} min"
                    break
                time.sleep(1.0)
        except KeyboardInterrupt:
            stop_group(process)
            raise
        sys.stdout.write(reader.read())
    if status == "ok" and process.returncode != 0:
        status = f"exit code {process.returncode}"
    row = {"command": shown, "status": status, "seconds": time.monotonic() - start,
           "log": str(log_path.relative_to(C.ROOT))}
    result_path = C.RESULTS / f"{step.key}{'-quick' if quick else ''}.json"
    if status == "ok" and step.failed_requests is not None:
        row["failed_requests"] = int(step.failed_requests(json.loads(result_path.read_text())))
    return row


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the script's process group, SIGKILL if it is still there after 20 s."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def summary(steps: dict[str, dict[str, Any]]) -> tuple[str, bool]:
    rows, ok = [], True
    for key, row in steps.items():
        failed = row.get("failed_requests")
        good = row["status"] == "ok" and not failed
        ok = ok and good
        rows.append([key, row["status"], f"{row['seconds'] / 60:.1f}",
                     "–" if failed is None else str(failed), row["log"]])
    return C.markdown_table(["benchmark", "status", "minutes", "failed requests", "log"],
                            rows), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--only", default=None, help="comma-separated steps: "
                        + ",".join(s.key for s in STEPS))
    parser.add_argument("--report-only", action="store_true",
                        help="write the page from the results already there")
    args = parser.parse_args()
    suffix = "-quick" if args.quick else ""
    manifest_path = C.RESULTS / f"run_all{suffix}.json"
    ok = True
    if not args.report_only:
        load1 = os.getloadavg()[0]
        if load1 > 0.5:
            C.log(f"load average {load1:.2f}: other work is running; timings will be noisy")
        wanted = set(args.only.split(",")) if args.only else {s.key for s in STEPS}
        logs = C.RESULTS / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        manifest: dict[str, Any] = {"env": C.environment(), "quick": args.quick, "steps": {}}
        if manifest_path.exists() and args.only:  # keep the commands of steps not rerun
            manifest["steps"] = json.loads(manifest_path.read_text()).get("steps", {})
        started = time.monotonic()
        for step in STEPS:
            if step.key in wanted:
                manifest["steps"][step.key] = run_step(step, args.quick, logs)
                manifest_path.write_text(json.dumps(manifest, indent=2))
        manifest["total_s"] = time.monotonic() - started
        manifest_path.write_text(json.dumps(manifest, indent=2))
        table, ok = summary({k: v for k, v in manifest["steps"].items() if k in wanted})
        print("\n" + table + f"\n\ntotal {manifest['total_s'] / 60:.1f} min")
    page = report.write_page(args.quick)
    print(f"wrote {page.relative_to(C.ROOT)}")
    if not ok:
        print("FAILED: a benchmark failed, ran out of time or recorded failed requests",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
