"""Is dedup's default threshold safe? Precision of "duplicate" at it on COVID pairs, and the
fit of the model's duplicate threshold.

The pairs of ``../shared/datasets/covid_qsim_tianchi/pairs.jsonl`` (label 1: the same
question reworded) with the near-miss rewrites of ``negatives.jsonl`` mixed in as
non-duplicates (each rewrite against the standard question it must not be confused with).
Each pair is scored as dedup scores it (both sides normalised and encoded as queries, the
cosine of the two) and called a duplicate at or above dedup's default threshold (the
higher of ``high`` and the model profile's ``duplicate``). Reported: precision and recall
of "duplicate" at the default and, for comparison, at the band thresholds; the fit of the
duplicate threshold (the lowest cosine whose precision is ``FIT_GOAL``) over all pairs,
which is the shipped value, and over each half of the standard questions (even and odd
ids) scored on the other half, the estimate for entries the fit never saw; and how many
texts the grouping puts together when the pairs' texts are deduplicated as one list.

Usage: python bench/dedup.py [--json]
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

import _common
from _common import DATASETS, ROOT, log, markdown_table, write_report

from search import grouping
from search.config import Settings
from search.encoder import Encoder
from search.text import normalize

FIT_GOAL = 0.92  # fitted above 0.90, so that unseen entries keep 0.90


def _called(scores: np.ndarray, labels: np.ndarray, where: np.ndarray, t: float) -> dict:
    called = (scores >= t) & where
    tp = int((called & labels).sum())
    return {"called_duplicate": int(called.sum()),
            "precision": tp / int(called.sum()) if called.any() else None,
            "recall": tp / int((labels & where).sum())}


def _fit(scores: np.ndarray, labels: np.ndarray, where: np.ndarray, goal: float) -> float | None:
    """The lowest cosine at which the pairs in ``where`` called duplicate are ``goal``
    precise (at least ten of them)."""
    s, y = scores[where], labels[where]
    order = np.argsort(-s, kind="stable")
    precision = np.cumsum(y[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(precision >= goal)
    ok = ok[ok >= 9]
    return float(s[order][ok[-1]]) if len(ok) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    args = parser.parse_args()
    folder = DATASETS / "covid_qsim_tianchi"
    if not folder.is_dir():
        print(f"error: {folder} not found (set SEMSEARCH_DATASETS)", file=sys.stderr)
        return 2
    pairs = [json.loads(x) for x in (folder / "pairs.jsonl").open(encoding="utf-8")]
    corpus = {json.loads(x)["id"]: json.loads(x)["text"]
              for x in (folder / "corpus.jsonl").open(encoding="utf-8")}
    entry_of: dict[str, str] = {}
    for doc_id, text in corpus.items():
        entry_of.setdefault(text, doc_id)
    for pair in pairs:
        pair["entry"] = entry_of.get(pair["b"]) or entry_of.get(pair["a"])
    for row in (json.loads(x) for x in (folder / "negatives.jsonl").open(encoding="utf-8")):
        for doc_id in row["hard_negative_ids"]:
            pairs.append({"a": row["query"], "b": corpus[doc_id], "label": 0, "negative": True,
                          "entry": doc_id})
    encoder = Encoder.from_settings(Settings(models_dir=ROOT / "data" / "models", _env_file=None))
    t2s = encoder.profile.traditional_to_simplified
    texts = sorted({normalize(t, traditional_to_simplified=t2s) for p in pairs for t in (p["a"], p["b"])})
    log(f"{len(pairs)} pairs, {len(texts)} texts: encoding")
    vectors = np.concatenate([encoder.encode_queries(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    at = {t: i for i, t in enumerate(texts)}
    a = vectors[[at[normalize(p["a"], traditional_to_simplified=t2s)] for p in pairs]]
    b = vectors[[at[normalize(p["b"], traditional_to_simplified=t2s)] for p in pairs]]
    scores = (a * b).sum(axis=1)
    labels = np.array([p["label"] == 1 for p in pairs])
    profile = encoder.profile
    default = grouping.default_threshold("dedup", profile.thresholds, profile.duplicate)
    every = np.ones(len(pairs), dtype=bool)
    rows = [{"threshold_band": "default", "threshold": default, **_called(scores, labels, every, default)}]
    for band in ("high", "medium", "low"):
        t = getattr(profile.thresholds, band)
        rows.append({"threshold_band": band, "threshold": t, **_called(scores, labels, every, t)})
    half = np.array([int(p["entry"].rsplit("s", 1)[-1]) % 2 if p["entry"] else -1 for p in pairs])
    fits = {"goal": FIT_GOAL, "all": _fit(scores, labels, every, FIT_GOAL), "held_out": []}
    for fitted, scored in ((0, 1), (1, 0)):
        t = _fit(scores, labels, half == fitted, FIT_GOAL)
        if t is not None:
            fits["held_out"].append({"fitted_on": ("even", "odd")[fitted], "threshold": t,
                                     **_called(scores, labels, half == scored, t)})
    at_90 = None
    t90 = _fit(scores, labels, every, 0.90)
    if t90 is not None:
        at_90 = {"threshold": t90, **_called(scores, labels, every, t90)}
    groups = grouping.summarise(texts, vectors, default, min_size=2)
    payload = {"model": encoder.model_id, "environment": _common.environment(),
               "pairs": len(pairs), "duplicates": int(labels.sum()),
               "negatives_from_rewrites": sum(bool(p.get("negative")) for p in pairs),
               "default": rows[0], "thresholds": rows, "lowest_threshold_at_precision_0.90": at_90,
               "duplicate_fit": fits, "profile_duplicate": profile.duplicate,
               "grouped_texts": {"texts": len(texts), "groups_of_two_or_more": len(groups),
                                 "texts_in_them": sum(g["size"] for g in groups)}}
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        write_report("dedup", payload, "", quiet=True)
        return 0
    md = [f"# Dedup at the band thresholds ({encoder.model_id})", "",
          f"{len(pairs)} COVID pairs ({int(labels.sum())} duplicates; "
          f"{payload['negatives_from_rewrites']} near-miss rewrites as non-duplicates).", "",
          markdown_table(["threshold", "cosine", "called duplicate", "precision", "recall"],
                         [[r["threshold_band"],
                           f"{r['threshold']:.4f}", r["called_duplicate"],
                           "-" if r["precision"] is None else f"{r['precision']:.3f}",
                           f"{r['recall']:.3f}"] for r in rows])]
    if at_90:
        md += ["", f"Precision 0.90 needs a cosine of {at_90['threshold']:.4f} or more "
                   f"(recall {at_90['recall']:.3f})."]
    md += ["", f"Duplicate threshold fitted at precision {FIT_GOAL} over all pairs: "
               f"{fits['all']:.4f} (the profile ships {profile.duplicate}). Fitted on one half "
               "of the standard questions, scored on the other:", "",
           markdown_table(["fitted on", "threshold", "precision on the other half", "recall"],
                          [[f["fitted_on"], f"{f['threshold']:.4f}", f"{f['precision']:.3f}",
                            f"{f['recall']:.3f}"] for f in fits["held_out"]])]
    write_report("dedup", payload, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
