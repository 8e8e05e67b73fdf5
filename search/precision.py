"""Pick the fastest CPU precision that keeps the model's vectors.

bf16 is fast on CPUs with AVX-512 BF16 or AMX and slow elsewhere; int8 dynamic
quantisation helps on some CPUs and not others. Rather than guess from CPU flags, time
each precision on a fixed sample on the running machine, keep only those whose vectors
stay within tolerance of fp32, and remember the choice per model, CPU and thread count.
Torch itself is only touched through the encoder module.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .encoder import Encoder

log = logging.getLogger(__name__)
MIN_MEAN_COSINE = 0.995  # against fp32 on the sample
MIN_SPEEDUP = 1.10  # a reduced precision must earn its small loss of accuracy
SCREEN_SLOWDOWN = 2.0  # over this many times fp32 on two first passes: not timed
_SAMPLE = [
    "我的订单什么时候发货",
    "退款一般多久能到账呢",
    "怎么修改绑定的手机号",
    "优惠券为什么用不了",
    "会员到期了怎么续费",
    "快递显示已签收但是我没收到货怎么办",
] * 6 + [
    "您好，退货申请提交后，商家会在两个工作日内审核。审核通过后请在七天内寄回商品，"
    "并在订单页面填写快递单号。仓库收到退货并确认商品完好后，退款会原路退回到您的支付账户，"
    "银行卡一般需要三到五个工作日到账，余额支付即时到账。如有疑问请联系在线客服。"
] * 6


def _cpu_signature() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}|{os.cpu_count()}"


def _cache_key(encoder: "Encoder") -> str:
    return (f"{encoder.model_id}|torch {version('torch')}|{_cpu_signature()}"
            f"|threads {encoder.threads}")


def measure(encoder: Encoder, rounds: int = 3) -> dict[str, dict[str, float | str | None]]:
    """Time each CPU precision on the sample; returns seconds and cosine vs fp32.

    A first pass encodes the sample's distinct texts once in each precision: the warm-up,
    and the vectors to compare. A precision that leaves fp32's vectors, or that takes over
    ``SCREEN_SLOWDOWN`` times fp32's time on that pass and on a second one (bf16 on a CPU
    without bf16 instructions runs some ten times slower), cannot be chosen and is not
    timed further (``seconds`` None, ``skipped`` says why). The others take turns on the
    whole sample, round after round, and each keeps its fastest round: a machine busy with
    other work for a moment then slows one round of each, not every round of one (a choice
    made under load is remembered for good)."""
    from .encoder import CPU_PRECISIONS, _with_precision

    fp32_model = encoder.model
    texts = [encoder.profile.passage_prefix + t for t in _SAMPLE]
    distinct = list(dict.fromkeys(texts))
    models = {"fp32": fp32_model}
    with warnings.catch_warnings():  # torch deprecates its quantised tensors
        warnings.simplefilter("ignore")
        for precision in CPU_PRECISIONS:
            if precision != "fp32":
                models[precision] = _with_precision(copy.deepcopy(fp32_model), precision, "cpu")
    first: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    try:
        for precision, model in models.items():
            encoder.model = model
            vectors[precision], first[precision] = _timed(encoder, distinct)
        cosine = {p: float(np.mean(np.sum(v * vectors["fp32"], axis=1))) for p, v in vectors.items()}
        skipped = {p: f"mean cosine {cosine[p]:.4f} < {MIN_MEAN_COSINE}" for p in models
                   if cosine[p] < MIN_MEAN_COSINE}

        def too_slow(p: str) -> bool:
            return p not in skipped and first[p] > SCREEN_SLOWDOWN * first["fp32"]

        for precision, model in models.items():  # too slow, but perhaps only warming up
            if too_slow(precision):
                encoder.model = model
                first[precision] = min(first[precision], _timed(encoder, distinct)[1])
        skipped |= {p: f"first passes {first[p] / first['fp32']:.1f}x fp32's time"
                    for p in models if too_slow(p)}
        timed = {p: m for p, m in models.items() if p not in skipped}
        seconds = {p: float("inf") for p in timed}
        for _ in range(rounds):
            for precision, model in timed.items():
                encoder.model = model
                seconds[precision] = min(seconds[precision], _timed(encoder, texts)[1])
    finally:
        encoder.model = fp32_model
    return {p: {"seconds": seconds.get(p), "mean_cosine": cosine[p], "skipped": skipped.get(p)}
            for p in models}


def _timed(encoder: Encoder, texts: list[str]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    vectors = encoder._encode_prepared(texts).vectors
    return vectors, time.perf_counter() - start


def choose_cpu_precision(encoder: "Encoder", cache_dir: str | None) -> str:
    cache = Path(cache_dir) / "precision-choice.json" if cache_dir else None
    key = _cache_key(encoder)
    stored = _read(cache)
    if key in stored:
        return stored[key]["precision"]
    results = measure(encoder)
    timed = {p: float(r["seconds"]) for p, r in results.items() if r["seconds"] is not None}
    best = min((p for p in timed if timed["fp32"] / timed[p] >= MIN_SPEEDUP),
               key=timed.__getitem__, default="fp32")
    log.info("CPU precision measured: %s -> %s", results, best)
    if cache is not None:
        stored[key] = {"precision": best, "measured": results}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(stored, indent=2))
        except OSError as exc:  # a read-only models dir only costs a re-measure
            log.warning("cannot save precision choice to %s: %s", cache, exc)
    return best


def _read(path: Path | None) -> dict:
    if path is None or not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
