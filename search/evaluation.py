"""Pair-level evaluation: how well cosine scores separate same-intent pairs.

Used by ``semsearch eval pairs`` (fidelity against published C-MTEB figures) and by
calibration. Pure numpy/scipy; the caller supplies the scores.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InvalidInputError, SourceError


@dataclass
class Pairs:
    a: list[str]
    b: list[str]
    labels: np.ndarray  # float: 0/1 for intent pairs, 0..5 for STS grades


def load_pairs(path: Path, limit: int | None = None) -> Pairs:
    """Read ``{"a", "b", "label"}`` JSON lines; errors name the file and line."""
    a: list[str] = []
    b: list[str] = []
    labels: list[float] = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror or exc}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(a) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                a.append(str(row["a"]))
                b.append(str(row["b"]))
                labels.append(float(row["label"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise SourceError(f"{path}:{number}: expected {{a, b, label}} ({exc})") from exc
    if not a:
        raise SourceError(f"{path}: no pairs")
    return Pairs(a, b, np.asarray(labels, dtype=np.float64))


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties averaged)."""
    from scipy.stats import rankdata

    pos = positive.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def best_threshold(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The threshold (predict positive when score >= t) with the best accuracy."""
    order = np.argsort(-scores)
    s, y = scores[order], positive[order].astype(bool)
    # predicting the top i+1 as positive: correct = TP(i) + negatives below i
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    correct = tp + (int((~y).sum()) - fp)
    # only cut between distinct scores
    valid = np.append(s[1:] < s[:-1], True)
    idx = int(np.argmax(np.where(valid, correct, -1)))
    all_negative = int((~y).sum())
    if all_negative >= correct[idx]:
        return float(s[0] + 1e-6), all_negative / len(s)
    return float(s[idx]), float(correct[idx] / len(s))


def pair_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from scipy.stats import spearmanr

    if len(scores) != len(labels):
        raise InvalidInputError("scores and labels differ in length")
    binary = labels > (labels.max() / 2 if labels.max() > 1 else 0.5)
    threshold, accuracy = best_threshold(scores, binary)
    return {
        "spearman": float(spearmanr(scores, labels).statistic * 100),
        "auc": roc_auc(scores, binary),
        "best_threshold": threshold,
        "best_accuracy": accuracy,
        "positive_mean": float(scores[binary].mean()) if binary.any() else float("nan"),
        "negative_mean": float(scores[~binary].mean()) if (~binary).any() else float("nan"),
        "n": int(len(scores)),
    }


def retrieval_metrics(ranked: list[list[str]], relevant: list[set[str]]) -> dict[str, float]:
    """recall@1/5/10, MRR@10 and nDCG@10 (binary relevance), averaged over queries.

    recall@k is the share of a query's relevant documents found in its top k.
    """
    pairs = [(ids, rel) for ids, rel in zip(ranked, relevant) if rel]
    n = len(pairs)
    if n == 0:
        raise InvalidInputError("no queries with relevant documents to evaluate")
    sums = {"recall_at_1": 0.0, "recall_at_5": 0.0, "recall_at_10": 0.0,
            "mrr_at_10": 0.0, "ndcg_at_10": 0.0}
    for ids, rel in pairs:
        for k in (1, 5, 10):
            sums[f"recall_at_{k}"] += len(set(ids[:k]) & rel) / len(rel)
        first = next((i for i, d in enumerate(ids[:10]) if d in rel), None)
        sums["mrr_at_10"] += 0.0 if first is None else 1.0 / (first + 1)
        dcg = sum(1.0 / np.log2(i + 2) for i, d in enumerate(ids[:10]) if d in rel)
        ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(rel), 10)))
        sums["ndcg_at_10"] += dcg / ideal
    out = {k: v / n for k, v in sums.items()}
    out["n_queries"] = n
    out["n_unanswerable"] = len(ranked) - n
    return out


def band_metrics(top_bands: list[str], top_correct: list[bool]) -> dict[str, dict[str, float | None]]:
    """Share of queries whose top-1 hit falls in each band, and precision within it."""
    share: dict[str, float | None] = {}
    precision: dict[str, float | None] = {}
    n = len(top_bands)
    for band in ("high", "medium", "low", "none"):
        idx = [i for i, b in enumerate(top_bands) if b == band]
        share[band] = len(idx) / n if n else 0.0
        precision[band] = (sum(top_correct[i] for i in idx) / len(idx)) if idx else None
    return {"band_share": share, "band_precision": precision}
