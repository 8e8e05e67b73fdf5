"""Encoder throughput: our Encoder (fp32 / bf16 / int8) against sentence-transformers.

Same model directory (the bundled multilingual-e5-small), same deterministic set of
FAQ-like texts of mixed length, all contenders loaded in one process and run in rotated
order each round (ST, fp32, bf16, int8, then fp32, bf16, int8, ST, ...), so that a noisy,
shared machine slows all of them alike; we report medians over rounds and the median of
the per-round speed ratios. sentence-transformers runs as users normally call it:
batch_size=32, normalize_embeddings=True, prompt "passage: " (our encoder adds the same
prefix for passages).

Also: STS-B (zh) Spearman of each precision ("query: " on both sides, as C-MTEB does),
and achieved GFLOP/s as a share of this CPU's measured matmul peak (fp32 and bf16).

    .venv/bin/python bench/encode.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any, Callable

import numpy as np

import _common as C

MODEL_DIR = C.ROOT / "data" / "models" / "multilingual-e5-small-q4"
FAQ = C.ROOT / "data" / "faq_sample.jsonl"
STS = C.DATASETS / "sts_b_zh" / "pairs.jsonl"
ST_BATCH = 32
FLOP_FORMULA = ("FLOPs(text) = 2*P_lin*n + 4*L*d*n^2, n = real tokens of the text (prefix "
                "and special tokens included, no padding), P_lin = weights in the encoder's "
                "nn.Linear layers, L = layers, d = hidden size (QK^T and AV: 2*n^2*d each "
                "per layer); embeddings, LayerNorm, softmax, GELU not counted")


# --- data -----------------------------------------------------------------------------
def build_texts(n: int, seed: int = 0, synthetic_share: float = 0.1) -> list[str]:
    """FAQ questions, similar questions and answers, plus 200-500 char joined answers."""
    rows = [json.loads(line) for line in FAQ.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    questions = [r["question"] for r in rows] + [q for r in rows
                                                 for q in r.get("similar_questions", [])]
    answers = [r["answer"] for r in rows]
    rng = random.Random(seed)
    n_syn = round(n * synthetic_share)
    synthetic = []
    for _ in range(n_syn):
        target = rng.randint(200, 500)
        text = ""
        while len(text) < target:  # bounded: every answer adds > 0 characters
            text += rng.choice(answers)
        synthetic.append(text[:target])
    originals = questions + answers
    rng.shuffle(originals)
    rest = [originals[i % len(originals)] for i in range(n - n_syn)]
    texts = rest + synthetic
    rng.shuffle(texts)
    return texts


# --- peak -----------------------------------------------------------------------------
def matmul_peak(size: int = 4096, repeats: int = 5, budget_s: float = 20.0,
                one_s: float = 2.0) -> dict[str, float]:
    """Best GFLOP/s of a square torch matmul, fp32 and bf16 (the CPU's practical peak).

    Also GFLOP per CPU-second ("<dtype>_per_cpu_s"): on a shared machine the wall rate
    depends on how many cores the scheduler gave us; the CPU-time rate much less so.
    A dtype the CPU only emulates (bf16 without bf16 instructions: some GFLOP/s) is
    measured on a smaller square, one that a 512² probe says takes about ``one_s``
    ("<dtype>_size").
    """
    import torch

    out: dict[str, float] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        probe = torch.randn(512, 512).to(dtype)
        t = time.perf_counter()
        probe @ probe  # also the MKL/oneDNN kernel selection
        rate = 2 * 512 ** 3 / max(time.perf_counter() - t, 1e-9)
        n = size
        while n > 512 and 2 * n ** 3 / rate > one_s:
            n //= 2
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        a @ b  # warm-up at this size
        best = best_cpu = 0.0
        start = time.perf_counter()
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            a @ b
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
            best_cpu = max(best_cpu, 2 * n ** 3 / max(time.process_time() - c, 1e-9) / 1e9)
            if time.perf_counter() - start > budget_s:
                break
        out[name], out[f"{name}_per_cpu_s"], out[f"{name}_size"] = best, best_cpu, n
    return out


# --- contenders -----------------------------------------------------------------------
Run = Callable[..., np.ndarray]


def load_contenders(precisions: list[str]) -> tuple[dict[str, Run], dict[str, Any]]:
    import torch
    from sentence_transformers import SentenceTransformer

    from search.config import Settings
    from search.encoder import Encoder

    threads = torch.get_num_threads()
    encoders = {}
    for precision in precisions:
        settings = Settings(data_dir=C.ROOT / "data", precision=precision, threads=threads)
        encoders[precision] = Encoder.from_settings(settings)
        assert encoders[precision].precision == precision
    st = SentenceTransformer(str(MODEL_DIR), device="cpu")
    assert torch.get_num_threads() == threads, "a contender changed torch's thread count"

    def st_encode(texts: list[str], prompt: str = "passage: ") -> np.ndarray:
        return st.encode(texts, prompt=prompt, batch_size=ST_BATCH, normalize_embeddings=True,
                         show_progress_bar=False, convert_to_numpy=True)

    runs: dict[str, Run] = {"st-fp32": st_encode}
    for precision, enc in encoders.items():
        runs[f"ours-{precision}"] = (lambda e: lambda texts: e.encode_passages(texts))(enc)
    return runs, {"encoders": encoders, "st": st, "threads": threads}


def linear_params(model: Any) -> int:
    import torch

    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def flops(lengths: list[int], p_lin: int, layers: int, dim: int) -> float:
    n = np.asarray(lengths, dtype=np.float64)
    return float((2 * p_lin * n + 4 * layers * dim * n * n).sum())


def token_lengths(enc: Any, texts: list[str], kind: str = "passage") -> list[int]:
    from search.text import normalize

    prefix = enc.profile.query_prefix if kind == "query" else enc.profile.passage_prefix
    t2s = enc.profile.traditional_to_simplified
    prepared = [prefix + normalize(t, traditional_to_simplified=t2s) for t in texts]
    ids, _ = enc.token_ids(prepared)  # special tokens included, cut at the model's length
    return [len(x) for x in ids]


def padded_tokens_ours(enc: Any, lengths: list[int]) -> tuple[int, int]:
    batches = enc._batches([[0] * n for n in lengths])
    return sum(len(b) * max(lengths[i] for i in b) for b in batches), len(batches)


def padded_tokens_st(texts: list[str], lengths: list[int]) -> tuple[int, int]:
    # sentence-transformers sorts by character length (longest first), batches of 32
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    batches = [order[i:i + ST_BATCH] for i in range(0, len(order), ST_BATCH)]
    return sum(len(b) * max(lengths[i] for i in b) for b in batches), len(batches)


# --- measurement ----------------------------------------------------------------------
def timed(fn: Run, texts: list[str]) -> tuple[float, float, np.ndarray]:
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = fn(texts)
    return time.perf_counter() - wall, time.process_time() - cpu, vectors


def screen(runs: dict[str, Run], texts: list[str]) -> tuple[dict[str, Run], dict[str, str]]:
    """Our precisions that run over ``SCREEN_SLOWDOWN`` times ours-fp32's time on ``texts``
    (after a warm-up) are left out of the rounds, by the server's own precision timing's
    rule (search/precision.py): bf16 on a CPU without bf16 instructions would take most of
    the run and could not win. Returns the contenders kept and why others went."""
    from search.precision import SCREEN_SLOWDOWN

    seconds = {}
    for name, run in runs.items():
        if name.startswith("ours"):
            run(texts[:8])
            seconds[name] = timed(run, texts)[0]
    skipped = {name: f"{s / seconds['ours-fp32']:.1f}× ours-fp32's time on {len(texts)} texts"
               for name, s in seconds.items() if s > SCREEN_SLOWDOWN * seconds["ours-fp32"]}
    for name, why in skipped.items():
        C.log(f"{name} not timed: {why}")
    return {k: v for k, v in runs.items() if k not in skipped}, skipped


def alternate(runs: dict[str, Callable], texts: list[str], repeats: int, budget_s: float,
              threads: int) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Rounds of all contenders in rotated order; per round wall and CPU seconds."""
    import torch

    names = list(runs)
    for name in names:  # warm-up: first-call allocations, oneDNN/MKL kernel selection
        runs[name](texts[:32])
    rounds: list[dict[str, Any]] = []
    vectors: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        record: dict[str, Any] = {"order": order, "wall": {}, "cpu": {}}
        for name in order:
            assert torch.get_num_threads() == threads, "thread count changed between runs"
            wall, cpu, vectors[name] = timed(runs[name], texts)
            record["wall"][name], record["cpu"][name] = wall, cpu
            C.log(f"round {r + 1}/{repeats} {name}: {wall:.1f}s wall, {cpu:.1f}s cpu")
        rounds.append(record)
        if time.perf_counter() - start > budget_s and r + 1 < repeats:
            C.log(f"time budget {budget_s:.0f}s spent after {r + 1} rounds; stopping")
            break
    return rounds, vectors


def sts_spearman(encode_query: Callable[[list[str]], np.ndarray], limit: int | None) -> float:
    from search.evaluation import load_pairs, pair_metrics

    pairs = load_pairs(STS, limit=limit)
    a, b = encode_query(pairs.a), encode_query(pairs.b)
    return pair_metrics(np.sum(a * b, axis=1), pairs.labels)["spearman"]


# --- report ---------------------------------------------------------------------------
def summarise(rounds: list[dict[str, Any]], n_texts: int, n_tokens: int, useful_flops: float,
              peak: dict[str, float]) -> dict[str, dict[str, float]]:
    names = list(rounds[0]["wall"])
    summary: dict[str, dict[str, float]] = {}
    for name in names:
        walls = [r["wall"][name] for r in rounds]
        cpus = [r["cpu"][name] for r in rounds]
        wall = C.median(walls)
        ratios = [r["wall"]["st-fp32"] / r["wall"][name] for r in rounds]
        s = {"median_wall_s": wall, "median_cpu_s": C.median(cpus), "walls": walls,
             "texts_per_s": n_texts / wall, "tokens_per_s": n_tokens / wall,
             "speedup_vs_st_median_of_rounds": C.median(ratios),
             "speedup_vs_st_ratio_of_medians":
                 C.median([r["wall"]["st-fp32"] for r in rounds]) / wall,
             "speedup_vs_st_per_round": ratios,
             "gflops_per_s": useful_flops / wall / 1e9,
             "gflop_per_cpu_s": useful_flops / C.median(cpus) / 1e9}
        dtype = "bf16" if name.endswith("bf16") else "fp32" if name.endswith("fp32") else None
        if dtype:
            s["share_of_matmul_peak"] = s["gflops_per_s"] / peak[dtype]
            s["share_of_matmul_peak_cpu_time"] = s["gflop_per_cpu_s"] / peak[f"{dtype}_per_cpu_s"]
            s["peak_dtype"] = dtype
        summary[name] = s
    return summary


def render(result: dict[str, Any]) -> str:
    summary, sts = result["summary"], result.get("sts_b_spearman", {})
    base = sts.get("ours-fp32")
    rows = []
    for name, s in summary.items():
        sp = sts.get(name, float("nan"))
        ours = base is not None and name in sts and name.startswith("ours")
        drop = (base - sp) if ours else float("nan")
        share = s.get("share_of_matmul_peak")
        share_cpu = s.get("share_of_matmul_peak_cpu_time")
        rows.append([name, C.fmt(s["median_wall_s"]), C.fmt(s["texts_per_s"], 1),
                     C.fmt(s["tokens_per_s"], 0), C.fmt(s["speedup_vs_st_median_of_rounds"]) + "×",
                     C.fmt(s["gflops_per_s"], 1),
                     f"{share * 100:.0f}% of {s['peak_dtype']}" if share is not None else "–",
                     f"{share_cpu * 100:.0f}%" if share_cpu is not None else "–",
                     C.fmt(sp), C.fmt(drop)])
    d = result["data"]
    out = [f"## Encoder throughput — {d['n_texts']} texts, {d['n_tokens']:,} tokens "
           f"({result['repeats_done']} rounds, {result['threads']} torch threads, "
           f"{result['env']['cpu']})",
           "",
           C.markdown_table(["contender", "median s", "texts/s", "tokens/s",
                             "vs ST (median of rounds)", "GFLOP/s",
                             "share of matmul peak (wall)", "share (CPU time)",
                             "STS-B Spearman", "drop vs fp32"], rows),
           "",
           f"Matmul peak (best of repeats, max of before/after): "
           f"fp32 {result['peak']['fp32']:.1f} GFLOP/s ({result['peak']['fp32_size']:.0f}²), "
           f"bf16 {result['peak']['bf16']:.1f} GFLOP/s ({result['peak']['bf16_size']:.0f}²) "
           f"(per CPU-second: fp32 {result['peak']['fp32_per_cpu_s']:.1f}, bf16 "
           f"{result['peak']['bf16_per_cpu_s']:.1f}); the CPU-time share compares GFLOP per "
           "CPU-second, which a busy shared machine distorts less.",
           f"FLOPs: {FLOP_FORMULA}; P_lin = {result['model']['linear_params']:,}, "
           f"L = {result['model']['layers']}, d = {result['model']['dim']}; "
           f"{result['data']['useful_gflop']:.1f} GFLOP for the set.",
           f"Padded tokens actually computed: ours {d['padded_tokens_ours']:,} in "
           f"{d['batches_ours']} batches (max_batch_tokens {d['max_batch_tokens']}), "
           f"sentence-transformers {d['padded_tokens_st']:,} in {d['batches_st']} batches "
           f"of ≤{ST_BATCH}.",
           *[f"Not timed: {name} ({why}; bf16 and int8 pay only on some CPUs)."
             for name, why in result.get("skipped", {}).items()],
           "Mean cosine vs ST fp32 vectors: " + ", ".join(
               f"{k} {v:.5f}" for k, v in result["cosine_vs_st"].items()),
           f"Text normalisation (NFKC + OpenCC t2s) alone: {d['normalise_s']:.2f}s for the set.",
           "Per-round speed-ups vs ST: " + "; ".join(
               f"{k} " + ", ".join(f"{x:.2f}" for x in s["speedup_vs_st_per_round"])
               for k, s in summary.items() if k != "st-fp32"),
           f"Load average at start "
           f"{tuple(round(x, 2) for x in result['env']['loadavg_at_start'])}, "
           f"at end {tuple(round(x, 2) for x in result['loadavg_at_end'])} (shared machine: "
           "absolute numbers are noisy, ratios are side by side)."]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~300 texts, 2 rounds, no STS-B")
    parser.add_argument("--texts", type=int, help="number of texts (default 2000, quick 300)")
    parser.add_argument("--repeats", type=int, help="rounds (default 3, quick 2)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="stop starting new rounds after this many seconds")
    parser.add_argument("--sts-limit", type=int, default=None,
                        help="use only the first N STS-B pairs")
    parser.add_argument("--no-sts", action="store_true", help="skip STS-B")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for every contender (default: torch's own, = cores)")
    parser.add_argument("--name", default=None, help="results name (default encode[-quick])")
    args = parser.parse_args()
    n = args.texts or (300 if args.quick else 2000)
    repeats = args.repeats or (2 if args.quick else 3)
    budget = args.budget_s or (120.0 if args.quick else 900.0)
    name = args.name or ("encode-quick" if args.quick else "encode")
    skip_sts = args.no_sts or args.quick

    import torch

    from search.text import normalize

    if args.threads:
        torch.set_num_threads(args.threads)
    env = C.environment()
    texts = build_texts(n)
    C.log(f"{len(texts)} texts; loading contenders")
    runs, loaded = load_contenders(["fp32", "bf16", "int8"])
    runs, skipped = screen(runs, texts[:64])
    for contender in skipped:
        del loaded["encoders"][contender.removeprefix("ours-")]
    enc32 = loaded["encoders"]["fp32"]
    lengths = token_lengths(enc32, texts)
    cfg = enc32.model.config
    p_lin = linear_params(enc32.model)
    useful = flops(lengths, p_lin, cfg.num_hidden_layers, cfg.hidden_size)
    t = time.perf_counter()
    for text in texts:
        normalize(text, traditional_to_simplified=enc32.profile.traditional_to_simplified)
    normalise_s = time.perf_counter() - t
    pad_ours, nb_ours = padded_tokens_ours(enc32, lengths)
    pad_st, nb_st = padded_tokens_st(["passage: " + x for x in texts], lengths)

    C.log("matmul peak (before)")
    peak_repeats = 3 if args.quick else 5
    peak_before = matmul_peak(repeats=peak_repeats)
    rounds, vectors = alternate(runs, texts, repeats, budget, loaded["threads"])
    C.log("matmul peak (after)")
    peak_after = matmul_peak(repeats=peak_repeats)
    peak = {k: max(peak_before[k], peak_after[k]) for k in peak_before}  # a size: the larger

    sts: dict[str, float] = {}
    if not skip_sts:
        for precision, enc in loaded["encoders"].items():
            C.log(f"STS-B {precision}")
            sts[f"ours-{precision}"] = sts_spearman(enc.encode_queries, args.sts_limit)
        C.log("STS-B sentence-transformers")
        sts["st-fp32"] = sts_spearman(lambda x: runs["st-fp32"](x, "query: "), args.sts_limit)

    ref = vectors["st-fp32"]
    result: dict[str, Any] = {
        "env": env, "torch": torch.__version__, "threads": loaded["threads"],
        "repeats_requested": repeats, "repeats_done": len(rounds), "quick": args.quick,
        "model": {"dir": str(MODEL_DIR.relative_to(C.ROOT)), "linear_params": p_lin,
                  "layers": cfg.num_hidden_layers, "dim": cfg.hidden_size},
        "data": {"n_texts": len(texts), "n_tokens": int(sum(lengths)),
                 "chars_mean": float(np.mean([len(x) for x in texts])),
                 "tokens_mean": float(np.mean(lengths)), "tokens_max": int(max(lengths)),
                 "useful_gflop": useful / 1e9, "padded_tokens_ours": pad_ours,
                 "batches_ours": nb_ours, "max_batch_tokens": enc32.max_batch_tokens,
                 "padded_tokens_st": pad_st, "batches_st": nb_st, "normalise_s": normalise_s},
        "flop_formula": FLOP_FORMULA,
        "peak": {**peak, "before": peak_before, "after": peak_after},
        "skipped": skipped,
        "rounds": rounds,
        "summary": summarise(rounds, len(texts), int(sum(lengths)), useful, peak),
        "cosine_vs_st": {k: float(np.mean(np.sum(v * ref, axis=1)))
                         for k, v in vectors.items() if k != "st-fp32"},
        "sts_b_spearman": sts,
        "sts_b_note": "cosine Spearman x100 on sts_b_zh/pairs.jsonl, 'query: ' on both sides",
        "loadavg_at_end": __import__("os").getloadavg(),
    }
    C.write_report(name, result, render(result))


if __name__ == "__main__":
    main()
