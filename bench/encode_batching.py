"""How our encoder's batching affects speed: padded tokens and time per strategy.

``Encoder._batches`` sorts longest-first and fills a batch until rows x longest reaches
``max_batch_tokens``. With a big budget one batch on a mixed FAQ set can span 100 tokens
down to 17 and compute mostly padding, and its activations outgrow the CPU caches. This
script swaps in alternative batchings on one fp32 encoder and times them in rotated
order (same texts as bench/encode.py); it is the measurement behind the CPU default.
The strategies:

- budget-16384: token budget 16384 (the GPU default)
- budget-4096: token budget 4096 (the CPU default)
- rows-32: token budget 16384 and at most 32 rows
- waste-20: token budget 16384, and a new batch once padding would exceed 20% of the
  batch's real tokens (lengths are sorted, so this closes a batch when lengths fall)
- st-like: sentence-transformers' recipe, sort by characters, batches of 32

    .venv/bin/python bench/encode_batching.py [--quick] [--texts N] [--precision fp32]
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np

import _common as C
from encode import build_texts

Batcher = Callable[[list[list[int]]], list[list[int]]]
BASE = "budget-16384"


def token_batches(lengths: list[int], budget: int, max_rows: int | None = None,
                  max_waste: float | None = None) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        if current:
            longest, rows = lengths[current[0]], len(current) + 1
            full = rows * longest > budget or (max_rows is not None and rows > max_rows)
            allowed = None if max_waste is None else (1 + max_waste) * (real + lengths[i])
            wasteful = allowed is not None and rows * longest > allowed
            if full or wasteful:
                batches.append(current)
                current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        batches.append(current)
    return batches


def strategies(char_lengths: dict[int, int]) -> dict[str, Batcher]:
    def lens(ids: list[list[int]]) -> list[int]:
        return [len(x) for x in ids]

    def st_like(ids: list[list[int]]) -> list[list[int]]:
        # the encoder passes token ids; characters of the same texts come via char_lengths
        order = sorted(range(len(ids)), key=lambda i: -char_lengths.get(i, len(ids[i])))
        return [order[i:i + 32] for i in range(0, len(order), 32)]

    return {
        "budget-16384": lambda ids: token_batches(lens(ids), 16384),
        "budget-4096": lambda ids: token_batches(lens(ids), 4096),
        "rows-32": lambda ids: token_batches(lens(ids), 16384, max_rows=32),
        "waste-20": lambda ids: token_batches(lens(ids), 16384, max_waste=0.2),
        "st-like": st_like,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 texts, 2 rounds")
    parser.add_argument("--texts", type=int, default=None, help="default 600 (quick 300)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick 2)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--budget-s", type=float, default=900.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores)")
    parser.add_argument("--name", default=None, help="results name")
    args = parser.parse_args()
    n = args.texts or (300 if args.quick else 600)
    repeats = args.repeats or (2 if args.quick else 3)

    import torch

    from search.config import Settings
    from search.encoder import Encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    env = C.environment()
    texts = build_texts(n)
    enc = Encoder.from_settings(Settings(data_dir=C.ROOT / "data", precision=args.precision,
                                         threads=torch.get_num_threads()))
    prepared = ["passage: " + t for t in texts]
    ids, _ = enc.token_ids(prepared)  # special tokens included, cut at the model's length
    lengths = [len(x) for x in ids]
    chars = {i: len(t) for i, t in enumerate(prepared)}
    plans = strategies(chars)
    padded = {}
    for name, plan in plans.items():
        batches = plan([[0] * k for k in lengths])
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        padded[name] = {"padded_tokens": sum(len(b) * max(lengths[i] for i in b) for b in batches),
                        "batches": len(batches), "max_rows": max(len(b) for b in batches)}
    reference = enc.encode_passages(texts[:32])  # warm-up
    times: dict[str, list[float]] = {k: [] for k in plans}
    vectors: dict[str, np.ndarray] = {}
    threads = torch.get_num_threads()
    start = time.perf_counter()
    names = list(plans)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            assert torch.get_num_threads() == threads
            enc._batches = plans[name]  # type: ignore[method-assign]
            t = time.perf_counter()
            vectors[name] = enc.encode_passages(texts)
            times[name].append(time.perf_counter() - t)
            C.log(f"round {r + 1}/{repeats} {name}: {times[name][-1]:.1f}s")
        if time.perf_counter() - start > args.budget_s:
            C.log("time budget spent; stopping")
            break
    del reference
    base = C.median(times[BASE])
    rows: list[list[Any]] = []
    summary = {}
    for name in names:
        med = C.median(times[name])
        ratios = [c / t for c, t in zip(times[BASE], times[name])]
        cos = float(np.mean(np.sum(vectors[name] * vectors[BASE], axis=1)))
        summary[name] = {**padded[name], "median_s": med, "times": times[name],
                         "speedup_vs_base": C.median(ratios), "cosine_vs_base": cos}
        rows.append([name, f"{padded[name]['padded_tokens']:,}",
                     C.fmt(padded[name]["padded_tokens"] / sum(lengths)), padded[name]["batches"],
                     padded[name]["max_rows"], C.fmt(med), C.fmt(len(texts) / med, 1),
                     C.fmt(C.median(ratios)) + "×", f"{cos:.6f}"])
    md = "\n".join([
        f"## Encoder batching strategies — {args.precision}, {len(texts)} texts, "
        f"{sum(lengths):,} real tokens, {len(times[BASE])} rounds, {threads} threads", "",
        C.markdown_table(["strategy", "padded tokens", "padded / real", "batches", "max rows",
                          "median s", "texts/s", "speed-up vs budget-16384 (median of rounds)",
                          "cosine vs budget-16384"], rows), "",
        "Same encoder object and texts; only Encoder._batches differs. Ratios are per round "
        "(rotated order) on a shared 2-core machine."])
    name = args.name or ("encode-batching-quick" if args.quick else "encode-batching")
    C.write_report(name,
                   {"env": env, "precision": args.precision, "n_texts": len(texts),
                    "real_tokens": sum(lengths), "threads": threads, "summary": summary,
                    "base_median_s": base}, md)


if __name__ == "__main__":
    main()
