"""Is dedup's default threshold safe? Precision of "duplicate" at the model's high band on COVID pairs.

The pairs of ``../shared/datasets/covid_qsim_tianchi/pairs.jsonl`` (label 1: the same
question reworded) with the near-miss rewrites of ``negatives.jsonl`` mixed in as
non-duplicates (each rewrite against the standard question it must not be confused with).
Each pair is scored as dedup scores it (both sides normalised and encoded as queries, the
cosine of the two) and called a duplicate at or above the model's ``high`` threshold,
which is dedup's default. Reported: precision and recall of "duplicate", at the default
and, for comparison, at the ``medium`` and ``low`` thresholds; and how many texts the
grouping puts together when the pairs' texts are deduplicated as one list.

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    args = parser.parse_args()
    folder = DATASETS / "covid_qsim_tianchi"
    if not folder.is_dir():
        print(f"error: {folder} not found (set SEMSEARCH_DATASETS)", file=sys.stderr)
        return 2
    pairs = [json.loads(x) for x in (folder / "pairs.jsonl").open(encoding="utf-8")]
    corpus = {json.loads(x)["id"]: json.loads(x)["text"] for x in (folder / "corpus.jsonl").open(encoding="utf-8")}
    for row in (json.loads(x) for x in (folder / "negatives.jsonl").open(encoding="utf-8")):
        for doc_id in row["hard_negative_ids"]:
            pairs.append({"a": row["query"], "b": corpus[doc_id], "label": 0, "negative": True})
    encoder = Encoder.from_settings(Settings(models_dir=ROOT / "data" / "models", _env_file=None))  # type: ignore[call-arg]
    t2s = encoder.profile.traditional_to_simplified
    texts = sorted({normalize(t, traditional_to_simplified=t2s) for p in pairs for t in (p["a"], p["b"])})
    log(f"{len(pairs)} pairs, {len(texts)} texts: encoding")
    vectors = np.concatenate([encoder.encode_queries(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    at = {t: i for i, t in enumerate(texts)}
    a = vectors[[at[normalize(p["a"], traditional_to_simplified=t2s)] for p in pairs]]
    b = vectors[[at[normalize(p["b"], traditional_to_simplified=t2s)] for p in pairs]]
    scores = (a * b).sum(axis=1)
    labels = np.array([p["label"] == 1 for p in pairs])
    rows = []
    for band in ("high", "medium", "low"):
        t = getattr(encoder.profile.thresholds, band)
        called = scores >= t
        tp = int((called & labels).sum())
        rows.append({"threshold_band": band, "threshold": t, "called_duplicate": int(called.sum()),
                     "precision": tp / int(called.sum()) if called.any() else None,
                     "recall": tp / int(labels.sum())})
    order = np.argsort(-scores, kind="stable")
    cum_precision = np.cumsum(labels[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(cum_precision >= 0.90)
    ok = ok[ok >= 9]  # at least ten pairs called duplicate
    at_90 = None
    if len(ok):
        last = int(ok[-1])
        at_90 = {"threshold": float(scores[order][last]), "precision": float(cum_precision[last]),
                 "recall": float(labels[order][: last + 1].sum() / labels.sum())}
    groups = grouping.summarise(texts, vectors, encoder.profile.thresholds.high, min_size=2)
    payload = {"model": encoder.model_id, "environment": _common.environment(),
               "pairs": len(pairs), "duplicates": int(labels.sum()),
               "negatives_from_rewrites": sum(bool(p.get("negative")) for p in pairs),
               "default": rows[0], "thresholds": rows, "lowest_threshold_at_precision_0.90": at_90,
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
                         [[r["threshold_band"] + (" (default)" if r is rows[0] else ""),
                           f"{r['threshold']:.4f}", r["called_duplicate"],
                           "-" if r["precision"] is None else f"{r['precision']:.3f}",
                           f"{r['recall']:.3f}"] for r in rows])]
    if at_90:
        md += ["", f"Precision 0.90 needs a cosine of {at_90['threshold']:.4f} or more "
                   f"(recall {at_90['recall']:.3f})."]
    write_report("dedup", payload, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
