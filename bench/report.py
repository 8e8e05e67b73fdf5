"""Write the performance page from the benchmark results (bench/results/*.json).

The page (docs/performance.md, charts in docs/img/) shows the acceptance figures first,
then one section per benchmark: the command that reproduces it, its chart, and the
tables the script wrote. A quick run writes bench/results/performance-quick.md instead,
so the committed page only ever shows a full run.

    .venv/bin/python bench/report.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
from pathlib import Path
from typing import Any

import _common as C

DOCS = C.ROOT / "docs"
SCRIPTS = {  # section key -> script and what it measures
    "encode": ("encode.py", "Encoding throughput against sentence-transformers"),
    "vectors": ("vectors.py", "Vector search against sentence-transformers and Milvus Lite"),
    "peer_http": ("peer_http.py", "End to end over HTTP against a peer embedding server"),
    "load": ("load.py", "/v1/search under load, micro-batching on and off"),
    "backends": ("backends.py", "Vector stores end to end: FAISS and Milvus Lite"),
    "load-embeddings": ("load.py", "/v1/search against /v1/embeddings: what ranking costs"),
    "online-writes": ("online_writes.py", "Online writes during search load"),
    "scaling": ("scaling.py", "Scaling: reindex and search from 10k to 1M passages"),
    "milvus_parity": ("milvus_parity.py", "Milvus keeps the ranking at 100k passages"),
}


# --- inputs ---------------------------------------------------------------------------
def load_results(quick: bool) -> dict[str, dict[str, Any]]:
    suffix = "-quick" if quick else ""
    out = {}
    for key in SCRIPTS:
        path = C.RESULTS / f"{key}{suffix}.json"
        if path.exists():
            out[key] = json.loads(path.read_text(encoding="utf-8"))
    return out


def script_markdown(key: str, quick: bool) -> str:
    """The script's own tables, headings moved one level down."""
    path = C.RESULTS / f"{key}{'-quick' if quick else ''}.md"
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8").strip()
    text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)
    out: list[str] = []
    for line in text.splitlines():  # each note line its own paragraph, tables kept whole
        out.append(line)
        if line.strip() and not line.startswith("|"):
            out.append("")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def commands(quick: bool) -> dict[str, str]:
    """How run_all started each script (its manifest), else the plain default."""
    manifest = C.RESULTS / f"run_all{'-quick' if quick else ''}.json"
    steps = json.loads(manifest.read_text())["steps"] if manifest.exists() else {}
    flag = " --quick" if quick else ""
    return {key: steps.get(key, {}).get("command") or f".venv/bin/python bench/{script}{flag}"
            for key, (script, _) in SCRIPTS.items()}


# --- acceptance figures ---------------------------------------------------------------
def acceptance(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    enc = results.get("encode", {}).get("summary", {})
    if "ours-fp32" in enc:
        ratio = enc["ours-fp32"]["speedup_vs_st_median_of_rounds"]
        best = max((k for k in enc if k.startswith("ours")),
                   key=lambda k: enc[k]["texts_per_s"])
        rows.append({"figure": "Encode throughput, ours fp32 / sentence-transformers fp32",
                     "target": "≥ 1.0", "value": f"{ratio:.2f}×", "met": ratio >= 1.0,
                     "detail": f"fastest precision {best}: "
                               f"{enc[best]['speedup_vs_st_median_of_rounds']:.2f}×"})
        shares = [f"{k}: {enc[k]['share_of_matmul_peak'] * 100:.0f}% of the {enc[k]['peak_dtype']} "
                  f"peak" for k in enc if k.startswith("ours") and "share_of_matmul_peak" in enc[k]]
        rows.append({"figure": "Share of the CPU's matmul peak reached by encoding",
                     "target": "(reported)", "value": "; ".join(shares), "met": None,
                     "detail": "useful GFLOP/s over the best square torch matmul, same run"})
    else:
        rows.append(missing("Encode throughput ratio vs sentence-transformers", "≥ 1.0", "encode"))
    rows.append(milvus_figure(results.get("vectors")))
    peer = results.get("peer_http", {})
    if peer.get("acceptance"):
        acc = peer["acceptance"]
        rows.append({"figure": f"/v1/embeddings requests/s, ours / {peer['peer']['name']}, "
                               f"{acc['clients']} clients",
                     "target": f"≥ {acc['target']}", "value": f"{acc['ratio']:.2f}×",
                     "met": acc["ratio"] >= acc["target"],
                     "detail": f"failed requests in the run: {peer['failed_requests']}"})
    else:
        rows.append(missing("End-to-end requests/s ratio vs peer server at 32 clients", "≥ 1.2",
                            "peer_http"))
    return rows + search_at_any_size(results)


def search_at_any_size(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures of the default (hybrid) search path against the collection's size."""
    rows = []
    both = results.get("load-embeddings", {})
    if "ratio" in both:
        errors = sum(row[n]["errors"] for row in both["levels"].values()
                     for n in ("search", "embeddings"))
        rows.append({"figure": "/v1/search requests/s / /v1/embeddings requests/s, 32 clients",
                     "target": "≥ 0.9", "value": f"{both['ratio']:.2f}×",
                     "met": both["ratio"] >= 0.9 and errors == 0,
                     "detail": f"{both['search_rps']:.1f} against {both['embeddings_rps']:.1f} "
                               f"requests/s, {errors} errors"})
    else:
        rows.append(missing("/v1/search requests/s / /v1/embeddings requests/s", "≥ 0.9",
                            "load-embeddings"))
    sized = {r["passages"]: r for r in results.get("scaling", {}).get("rows", [])}
    for n, target in ((100_000, 3.0), (1_000_000, 10.0)):
        hybrid = sized.get(n, {}).get("search", {}).get("hybrid")
        if hybrid:
            dense = sized[n]["search"]["dense"]["median_ms"]
            rows.append({"figure": f"Hybrid search without encoding, p50 at {n:,} passages",
                         "target": f"≤ {target:g} ms", "value": f"{hybrid['median_ms']:.2f} ms",
                         "met": hybrid["median_ms"] <= target,
                         "detail": f"dense {dense:.2f} ms; p95 {hybrid['p95_ms']:.2f} ms"})
        else:
            rows.append(missing(f"Hybrid search p50 at {n:,} passages", f"≤ {target:g} ms", "scaling"))
    server = sized.get(1_000_000, {}).get("server")
    if server:
        loaded = sized[1_000_000]["search"].get("hybrid", {}).get("load_s", float("nan"))
        rows.append({"figure": "Start-up with 1M passages: a fresh `semsearch serve` (model, "
                               "index, BM25, densities, passage table) to its first answer",
                     "target": "≤ 60 s", "value": f"{server['first_answer_s']:.1f} s",
                     "met": server["first_answer_s"] <= 60,
                     "detail": f"{server['rss_gib']:.2f} GiB resident then; the build alone "
                               f"loads in {loaded:.1f} s"})
    writes = results.get("online-writes", {}).get("summary")
    if writes:
        rows.append({"figure": "Search p99 with 1 upsert/s, against without, 100k passages",
                     "target": "≤ 2×", "value": f"{writes['p99_ratio']:.2f}×",
                     "met": writes["p99_ratio"] <= 2 and writes["errors"] == 0,
                     "detail": f"{writes['errors']} errors"})
        slowest = writes["visible_max_s"]
        rows.append({"figure": "Each write visible to the next search after its acknowledgement",
                     "target": "≤ 1 s", "value": f"{slowest:.2f} s slowest" if slowest is not None
                     else "–", "met": slowest is not None and slowest <= 1.0,
                     "detail": f"{writes['writes']} writes, median {writes['visible_p50_s']:.2f} s"
                               if slowest is not None else "no write was seen"})
    parity = results.get("milvus_parity", {}).get("modes")
    if parity:
        same = min(m["same_top5"] for m in parity.values())
        rows.append({"figure": f"Milvus keeps the ranking: same top-5 entries as FAISS, "
                               f"{results['milvus_parity']['passages']:,} passages, every mode",
                     "target": "1.0", "value": f"{same:.3f}", "met": same >= 1.0,
                     "detail": ", ".join(f"{k} {v['same_top5']:.3f}" for k, v in parity.items())})
    return rows


def milvus_figure(vectors: dict[str, Any] | None) -> dict[str, Any]:
    name = "Latency, our IVF / Milvus Lite IVF_FLAT at 1M×384, at equal or better recall@10"
    for size in (vectors or {}).get("sizes", []):
        if (size["n"], size["dim"]) != (1_000_000, 384):
            continue
        pairs = {(q["ours"], q["peer"]): q for q in size["ratios"]}
        # ours at Milvus' recall where measured (its power-of-two nprobe overshoots ours)
        for ours in ("ours-IVF@milvus-IVF_FLAT-recall", "ours-IVF"):
            q = pairs.get((ours, "milvus-IVF_FLAT"))
            if q is not None:
                met = q["batch1_ratio"] <= 1.0 and q["recall_equal_or_better"]
                return {"figure": name, "target": "≤ 1.0", "met": met,
                        "value": f"{q['batch1_ratio']:.3g} (batch 1), "
                                 f"{q['batch64_ratio']:.3g} (batch 64)",
                        "detail": f"{ours}: recall@10 ours {q['recall_ours']:.4f}, Milvus "
                                  f"{q['recall_peer']:.4f}"}
    return missing(name, "≤ 1.0", "vectors (1M×384 with Milvus Lite)")


def missing(figure: str, target: str, step: str) -> dict[str, Any]:
    return {"figure": figure, "target": target, "value": "not measured", "met": False,
            "detail": f"no result from {step} in this run"}


def verdict(row: dict[str, Any]) -> str:
    if row["value"] == "not measured":
        return "**not measured**"
    return "–" if row["met"] is None else ("met" if row["met"] else "**missed**")


# --- charts ---------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                         "font.size": 9})
    return plt


def chart_encode(data: dict[str, Any], path: Path) -> None:
    plt = _plt()
    summary = data["summary"]
    names = list(summary)
    rates = [summary[n]["texts_per_s"] for n in names]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    bars = ax.barh(names, rates, color=["#999999" if n.startswith("st") else "#3b75af"
                                        for n in names])
    for bar, n in zip(bars, names):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {summary[n]['speedup_vs_st_median_of_rounds']:.2f}× ST", va="center")
    ax.set_xlabel("texts per second (median of rounds; higher is better)")
    ax.set_title(f"Encoding {data['data']['n_texts']} FAQ texts, bundled e5-small, "
                 f"{data['threads']} threads")
    ax.set_xlim(0, max(rates) * 1.3)
    ax.invert_yaxis()
    _save(fig, path)


CONTENDER_STYLE = {"ours-Flat": ("#1f77b4", "-"), "ours-IVF": ("#2ca02c", "-"),
                   "ours-IVF-SQ8": ("#98df8a", "-"),
                   "ours-IVF@milvus-IVF_FLAT-recall": ("#2ca02c", "-."),
                   "st-semantic_search": ("#7f7f7f", "--"),
                   "milvus-FLAT": ("#d62728", ":"), "milvus-IVF_FLAT": ("#ff9896", ":")}


def chart_vectors(data: dict[str, Any], path: Path) -> None:
    plt = _plt()
    dims = sorted({s["dim"] for s in data["sizes"]})
    fig, axes = plt.subplots(2, len(dims), figsize=(5.2 * len(dims), 6.4), squeeze=False)
    for col, dim in enumerate(dims):
        sizes = [s for s in data["sizes"] if s["dim"] == dim]
        for row, (key, label) in enumerate((("batch1", "batch 1: ms per query"),
                                            ("batch64", "batch 64: ms per query"))):
            ax = axes[row][col]
            for name, (colour, style) in CONTENDER_STYLE.items():
                points = [(s["n"], r[key]["per_query_ms"]) for s in sizes for r in s["rows"]
                          if r["contender"] == name]
                if points:
                    ax.plot(*zip(*points), style, marker="o", color=colour, label=name)
            ax.set_xscale("log")
            ax.set_yscale("log")
            _count_axis(ax, [s["n"] for s in sizes])
            _plain_axis(ax)
            ax.set_title(f"dim {dim} — {label}")
            ax.set_xlabel("vectors in the index")
            ax.set_ylabel("median ms per query (lower is better)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.suptitle("Search latency by index size and kind")
    _save(fig, path, bottom=0.12)


def chart_http(peer: dict[str, Any] | None, load: dict[str, Any] | None, path: Path) -> None:
    plt = _plt()
    from matplotlib.ticker import ScalarFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(10.4, 3.6))
    series = []
    if peer:
        for name, colour in (("ours /v1/search", "#1f77b4"), ("ours /v1/embeddings", "#2ca02c"),
                             ("peer /embeddings", "#7f7f7f")):
            label = name.replace("peer", peer["peer"]["name"].split(" (")[0])
            levels = {int(k): v[name] for k, v in peer["levels"].items()}
            series.append((label, colour, "-", levels))
    if load:
        for name, style in (("batching", "--"), ("no-batching", ":")):
            series.append((f"/v1/search, micro-batching {'on' if name == 'batching' else 'off'} "
                           "(load.py)", "#9467bd", style,
                           {int(k): v[name] for k, v in load["levels"].items()}))
    for label, colour, style, levels in series:
        xs = sorted(levels)
        left.plot(xs, [levels[x]["rps"] for x in xs], style, marker="o", color=colour,
                  label=label)
        right.plot(xs, [levels[x]["p99_ms"] for x in xs], style, marker="o", color=colour)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({x for *_, levels in series for x in levels}))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("concurrent clients")
    left.set_ylabel("requests per second (higher is better)")
    right.set_ylabel("p99 latency, ms (lower is better)")
    right.set_yscale("log")
    _plain_axis(right)
    left.legend(fontsize=7)
    fig.suptitle("HTTP throughput and tail latency by concurrency (one query per request)")
    _save(fig, path)


def chart_scaling(data: dict[str, Any], path: Path) -> None:
    plt = _plt()
    rows = data["rows"]
    n = [r["passages"] for r in rows]
    rate = data.get("encoder", {}).get("passages_per_s")
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(12, 3.6))
    a.plot(n, [r["reindex_s"] / 60 for r in rows], "-o", label="reindex without the model "
           "(measured)")
    a.plot(n, [r["phases_s"]["faiss_build"] / 60 for r in rows], "--o",
           label="of which FAISS build")
    if rate:
        a.plot(n, [(r["reindex_s"] + r["passages"] / rate) / 60 for r in rows], ":o",
               label="with model encoding (extrapolated)")
    a.set_ylabel("minutes")
    a.set_title("Reindex time")
    b.plot(n, [r["peak_rss_delta_gib"] for r in rows], "-o", label="peak RSS growth, GiB")
    b.plot(n, [r["database_mib"] / 1024 for r in rows], "--o", label="SQLite file, GiB")
    b.plot(n, [r["index_file_mib"] / 1024 for r in rows], ":o", label="FAISS file, GiB")
    b.set_title("Memory and disk")
    for mode, style in (("dense", "-o"), ("hybrid", "--o")):
        pts = [(r["passages"], r["search"][mode]["median_ms"]) for r in rows if mode in r["search"]]
        if pts:
            c.plot(*zip(*pts), style, label=f"{mode} (SearchService, no query encoding)")
    c.set_ylabel("median ms per query")
    c.set_title("Search latency")
    for ax in (a, b, c):
        ax.set_xscale("log")
        ax.set_yscale("log")
        _count_axis(ax, n)
        _plain_axis(ax)
        ax.set_xlabel("passages")
        ax.legend(fontsize=7)
    _save(fig, path)


def _count_axis(ax: Any, ticks: list[int]) -> None:
    """Log x axis with a tick at each size, labelled 10k / 100k / 1M rather than 10^4."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def label(value: float, _: Any) -> str:
        for unit, size in (("M", 1e6), ("k", 1e3)):
            if value >= size:
                return f"{value / size:g}{unit}"
        return f"{value:g}"

    ax.set_xticks(sorted(set(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plain_axis(ax: Any) -> None:
    """Log y axis labelled 0.1 0.2 0.5 1 … rather than 10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_minor_formatter(plain)


def _save(fig: Any, path: Path, bottom: float = 0.0) -> None:
    """Write a PNG; ``bottom`` keeps room for a legend below the plots."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)


def charts(results: dict[str, dict[str, Any]], img: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    if "encode" in results:
        chart_encode(results["encode"], img / "encode_throughput.png")
        out["encode"] = [img / "encode_throughput.png"]
    if results.get("vectors", {}).get("sizes"):
        chart_vectors(results["vectors"], img / "vector_latency.png")
        out["vectors"] = [img / "vector_latency.png"]
    if "peer_http" in results or "load" in results:
        chart_http(results.get("peer_http"), results.get("load"), img / "http_throughput.png")
        out["peer_http"] = [img / "http_throughput.png"]
    if results.get("scaling", {}).get("rows"):
        chart_scaling(results["scaling"], img / "scaling.png")
        out["scaling"] = [img / "scaling.png"]
    return out


# --- observations and closing notes ---------------------------------------------------
def span(values: list[float]) -> str:
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return low if low == high else f"{low}–{high}"


def observations(results: dict[str, dict[str, Any]]) -> list[str]:
    """Facts from the numbers worth a sentence of their own."""
    notes = []
    slower = [(size, q) for size in results.get("vectors", {}).get("sizes", [])
              for q in size["ratios"]
              if (q["ours"], q["peer"]) == ("ours-Flat", "st-semantic_search")
              and q["batch64_ratio"] > 1.5]
    if slower:
        b64 = [q["batch64_ratio"] for _, q in slower]
        b1 = [q["batch1_ratio"] for _, q in slower]
        notes.append(f"Our exact Flat index (FAISS) takes {span(b64)}× as long as "
                     f"sentence-transformers' torch matmul at batch 64 ({span(b1)}× at batch 1) at "
                     + ", ".join(f"{s['n']:,}×{s['dim']}" for s, _ in slower)
                     + ". The server searches Flat below its flat threshold (50k passages); a "
                     "BLAS or torch matmul there would close the gap.")
    peer = results.get("peer_http", {})
    one = peer.get("levels", {}).get("1") or peer.get("levels", {}).get(1)
    if one and one["peer /embeddings"]["p50_ms"] > 4 * one["ours /v1/embeddings"]["p50_ms"]:
        notes.append(f"With one client the peer takes {one['peer /embeddings']['p50_ms']:.0f} ms "
                     f"per request (p50) against our {one['ours /v1/embeddings']['p50_ms']:.0f} "
                     "ms. On two cores, torch's two intra-op threads stall whenever another "
                     "process holds a core (the load generator runs on the same cores); "
                     "`bench/peer_http.py --threads 1` runs both servers with one torch "
                     "thread each, for comparison.")
    bw = results.get("vectors", {}).get("bandwidth")
    for size in results.get("vectors", {}).get("sizes", []):
        flat = next((r for r in size["rows"] if r["contender"] == "ours-Flat"), None)
        if bw and flat and flat.get("scan_gbs_batch1") and size["data_gib"] > 1:
            notes.append(f"Exact search at {size['n']:,}×{size['dim']} scans "
                         f"{flat['scan_gbs_batch1']:.1f} GB/s at batch 1 against a measured "
                         f"read bandwidth of {bw['read_all_threads_gbs']:.1f} GB/s "
                         f"({flat['scan_gbs_batch1'] / bw['read_all_threads_gbs'] * 100:.0f}%).")
    return notes


CLOSING = {
    "Encode": "Both encoders run the same torch kernels on the same model; what differs is "
              "batching (padding), precision and per-batch overhead. The tables below give "
              "padded tokens per contender; a lower ratio points at padding or at time "
              "spent outside the model (tokenisation, normalisation).",
    "Latency": "Our IVF and Milvus Lite's IVF_FLAT both run FAISS; Milvus Lite adds a gRPC "
               "round trip and Python-level segment merging per query, and indexes segments "
               "of at most 100k rows separately.",
    "/v1/embeddings": "Both servers spend most of a request in the model; micro-batching "
                      "concurrent queries into one forward pass is what separates them.",
    "/v1/search requests/s": "Both routes encode the same questions in the same micro-batches; "
                             "a search then ranks on the batcher's second thread (jieba-rs and "
                             "BM25, FAISS, hubness, the merge, the hit rows from memory: about "
                             "0.5 ms of CPU a search), one request of the batch after another, "
                             "so its clients ask again later and the next forward passes are "
                             "smaller. docs/search-speed.md has the side-by-side runs, the "
                             "cost per thread and what was tried.",
    "Hybrid search without encoding": "At a million passages a query adds some half a million "
                                      "postings into a score array over every passage and "
                                      "scans it for its top k: memory-bound work, which moves "
                                      "with the machine's load as dense search does (its time "
                                      "is in the detail column, from the same run).",
}


def closing_notes(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    for row in rows:
        if row["value"] == "not measured":
            notes.append(f"- **{row['figure']}**: not measured ({row['detail']}).")
        elif row["met"] is False:
            why = next((text for key, text in CLOSING.items() if row["figure"].startswith(key)), "")
            notes.append(f"- **{row['figure']}**: {row['value']} against a target of "
                         f"{row['target']} ({row['detail']}). {why}")
    return notes


# --- the page -------------------------------------------------------------------------
def machine(results: dict[str, dict[str, Any]]) -> str:
    env = next((r.get("env") or r.get("environment") for r in results.values()), None)
    env = env or C.environment()
    versions = []
    for package in ("torch", "transformers", "sentence-transformers", "faiss-cpu", "pymilvus",
                    "milvus-lite", "fastapi", "uvicorn"):
        try:
            from importlib.metadata import version

            versions.append(f"{package} {version(package)}")
        except Exception:  # noqa: BLE001 - a missing optional package is just not listed
            pass
    return (f"{env['cpu']}, {env['cpu_count']} cores, {round(C.memory_gib(), 1)} GiB memory, "
            f"CPU flags {', '.join(env.get('cpu_flags', [])) or 'none of note'}; "
            f"{platform.system()} {platform.release()}, Python {env['python']}; "
            + ", ".join(versions) + ".")


def render_page(results: dict[str, dict[str, Any]], images: dict[str, list[Path]],
                page: Path, quick: bool) -> str:
    rows = acceptance(results)
    cmds = commands(quick)
    started = sorted(str((r.get("env") or r.get("environment") or {}).get("started", ""))
                     for r in results.values())
    lines = ["# Performance", "",
             "What semsearch does on one ordinary machine, side by side with what a user would "
             "pick instead, on the same data in the same run, and against what the hardware "
             "could do at best. Every comparison alternates its contenders (A B A B …) and "
             "reports medians; absolute numbers move with the machine, the ratios much less.",
             "", f"**Machine:** {machine(results)}", "",
             f"**Run:** {'quick (reduced sizes; not the acceptance run)' if quick else 'full'}"
             f" `{'make bench-quick' if quick else 'make bench'}`"
             + (f", started {started[0]}" if started and started[0] else "") + ".", "",
             "## Acceptance figures", "",
             *([] if results else ["No benchmark results yet: run `make bench`.", ""]),
             C.markdown_table(["figure", "target", "measured", "verdict", "detail"],
                              [[r["figure"], r["target"], r["value"], verdict(r),
                                r["detail"]] for r in rows]), ""]
    notes = observations(results)
    if notes:
        lines += ["Also worth knowing:", ""] + [f"- {n}" for n in notes] + [""]
    for key, (script, title) in SCRIPTS.items():
        lines += [f"## {title}", "", f"Reproduce: `{cmds[key]}`", ""]
        if key not in results:
            lines += ["Not run in this run.", ""]
            continue
        for image in images.get(key, []):
            rel = os.path.relpath(image, page.parent)
            lines += [f"![{title}]({rel})", ""]
        lines += [script_markdown(key, quick), ""]
    lines += ["## Not in `make bench`", "",
              "- `bench/quality.py`: search quality (recall, MRR, bands) on the evaluation "
              "sets; its first run encodes whole corpora (an hour and more on 2 cores), so it "
              "runs on its own.",
              "- `bench/index.py`: FAISS-only study of our three index kinds, with weakly "
              "clustered data where nprobe tuning has to work harder.",
              "- `bench/encode_batching.py`: batching strategies of the encoder.",
              "- `bench/search_ab.py OTHER_CHECKOUT`: /v1/search against /v1/embeddings for "
              "two checkouts side by side, to judge a change to the search path.",
              "- The GPU path (`make serve GPU=1`: a CUDA torch and faiss-gpu, fp16 encoding, "
              "IVF trained and added on the GPU; docs/deployment.md): no run of these "
              "benchmarks has had a GPU yet, so its reindex throughput is not measured here.",
              "- [search-speed.md](search-speed.md): where a search's time goes beside its "
              "encoding, and what was measured and dropped there (separate runs).", ""]
    closing = closing_notes(rows)
    lines += ["## Closing note", ""]
    lines += closing if closing else ["Every acceptance target was met in this run."]
    return "\n".join(lines).rstrip() + "\n"


def write_page(quick: bool) -> Path:
    results = load_results(quick)
    if quick:
        page, img = C.RESULTS / "performance-quick.md", C.RESULTS / "img-quick"
    else:
        page, img = DOCS / "performance.md", DOCS / "img"
    images = charts(results, img)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_page(results, images, page, quick), encoding="utf-8")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="from the -quick results, into bench/results/performance-quick.md")
    args = parser.parse_args()
    print(f"wrote {write_page(args.quick).relative_to(C.ROOT)}")


if __name__ == "__main__":
    main()
