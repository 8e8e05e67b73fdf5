"""Shared helpers for the benchmark scripts: environment facts, timing, reports.

The scripts in bench/ are plain programs (``.venv/bin/python bench/<name>.py``); Python
puts bench/ on sys.path for them, so ``import _common`` works without packaging.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATASETS = Path(os.environ.get("SEMSEARCH_DATASETS", ROOT.parent / "shared" / "datasets"))

if str(ROOT) not in sys.path:  # the project is installed editable, but be robust
    sys.path.insert(0, str(ROOT))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags(wanted: Iterable[str]) -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return [f for f in wanted if f in flags]


def memory_gib() -> float:
    """Installed memory (MemTotal), GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(memory_gib(), 1),
        "cpu_flags": cpu_flags(["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8",
                                "avx512_vnni", "avx_vnni"]),
        "loadavg_at_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return env


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def rss_bytes(pid: int | str = "self") -> int:
    """Current resident set size of this process, or of process ``pid`` (Linux /proc; no
    psutil needed)."""
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark (VmHWM) so a later peak is this phase's own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |")
    return "\n".join(lines)


def write_report(name: str, payload: dict[str, Any], markdown: str,
                 quiet: bool = False) -> tuple[Path, Path]:
    """Write results/<name>.json and results/<name>.md, print the Markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{name}.json"
    md_path = RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n",
                         encoding="utf-8")
    md_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    if quiet:
        return json_path, md_path
    print(markdown)
    print(f"\nwrote {json_path.relative_to(ROOT)} and {md_path.relative_to(ROOT)}")
    return json_path, md_path


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def covid_faq() -> tuple[list[dict], dict[str, list[str]], list[dict]]:
    """COVID's standard questions (corpus rows), the train-split queries of each as its
    similar questions (by entry id), and every query row: the FAQ the benchmarks of the
    FAQ loop build."""
    import json

    folder = DATASETS / "covid_qsim_tianchi"
    queries = [json.loads(x) for x in (folder / "queries.jsonl").open(encoding="utf-8")]
    similar: dict[str, list[str]] = {}
    for q in queries:
        if q["split"] == "train":
            similar.setdefault(q["relevant_ids"][0], []).append(q["query"])
    corpus = [json.loads(x) for x in (folder / "corpus.jsonl").open(encoding="utf-8")]
    return corpus, similar, queries
