"""What does the FAQ audit find in the COVID FAQ? Counts, and near-duplicate pairs for a person to read.

The FAQ of ``../shared/datasets/covid_qsim_tianchi`` (as bench/insights.py builds it:
standard questions as entries, their category the corpus title, the train-split queries
as similar questions; the set has no answers, so every duplicate has the same (empty)
answer and there are no conflicts) is indexed with the bundled model into a throw-away
collection (indexer.evaluate.scratch_index). The dev-split queries are searched and
logged as the API logs them, so that ``unreached`` means something. Then
search.audit.compute: the counts, and the first ``--show`` (20) near-duplicate pairs,
best first, with both questions and the cosine, then as many of the lowest-scoring pairs
(those just above ``high``: where the threshold is tested). Whether a pair is a true duplicate
(same meaning, would get the same answer) is for the reader to judge: the set's
standard questions were written as distinct questions, so each pair is a candidate
merge, not a known one.

Usage: python bench/audit.py [--show 20] [--no-traffic] [--json]
Writes bench/results/audit.json and audit.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime, timezone

import numpy as np

from _common import DATASETS, ROOT, covid_faq, environment, log, markdown_table, write_report

from indexer.evaluate import COLLECTION, scratch_index
from search import audit
from search.collections import CollectionRegistry
from search.config import Settings
from search.documents import FaqEntry
from search.encoder import Encoder
from search.service import SearchService
from search.store import searchlog


def faq_and_traffic() -> tuple[list[FaqEntry], list[str]]:
    corpus, similar, queries = covid_faq()
    entries = [FaqEntry(d["id"], d["text"], category=d["title"],
                        similar_questions=similar.get(d["id"], [])) for d in corpus]
    return entries, [q["query"] for q in queries if q["split"] == "dev"]


def log_searches(service: SearchService, sessions, questions: list[str]) -> None:
    """Search each question and write it to the search log as the API does."""
    rows = []
    for start in range(0, len(questions), 64):
        batch = questions[start:start + 64]
        normalized = [service.normalize_query(q) for q in batch]
        vectors = service.encoder.encode_queries(normalized)
        for q, n, v in zip(batch, normalized, vectors):
            hits = service.search_vector(q, n, v, collection=COLLECTION, top_k=3).hits
            rows.append({"id": uuid.uuid4().hex, "created_at": datetime.now(timezone.utc),
                         "collection": COLLECTION, "query": q, "normalized_query": n,
                         "top": [[h.external_id, h.score] for h in hits],
                         "top_band": hits[0].band if hits else "none", "took_ms": 0.0,
                         "user": None, "vector": np.asarray(v, np.float32).tobytes()})
    with sessions.begin() as session:
        searchlog.write(session, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=20, help="near-duplicate pairs to print")
    parser.add_argument("--no-traffic", action="store_true", help="log no searches")
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    args = parser.parse_args()
    if not (DATASETS / "covid_qsim_tianchi").is_dir():
        print(f"error: {DATASETS / 'covid_qsim_tianchi'} not found", file=sys.stderr)
        return 2
    entries, traffic = faq_and_traffic()
    settings = Settings(models_dir=ROOT / "data" / "models", _env_file=None)
    encoder = Encoder.from_settings(settings)
    with scratch_index(settings, encoder, entries, status=log) as (s, sessions):
        service = SearchService(s, encoder, sessions,
                                CollectionRegistry(s, encoder, sessions, only=COLLECTION))
        if not args.no_traffic:
            log(f"searching and logging {len(traffic)} dev questions")
            log_searches(service, sessions, traffic)
        log("auditing")
        started = time.perf_counter()
        found = audit.compute(service, COLLECTION).as_json()
        took = time.perf_counter() - started
    keys = ("entry_a", "question_a", "entry_b", "question_b", "score")
    pairs = [{k: d[k] for k in keys} for d in found["duplicates"][:args.show]]
    lowest = [{k: d[k] for k in keys} for d in found["duplicates"][-args.show:]][::-1]
    payload = {"entries": found["entries"], "questions": found["questions"],
               "thresholds": found["thresholds"], "counts": found["counts"],
               "searches": found["searches"], "unreached_reason": found["unreached_reason"],
               "audit_s": round(took, 2), "duplicates_shown": pairs,
               "duplicates_lowest": lowest,
               "environment": environment()}
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        write_report("audit", payload, "", quiet=True)
        return 0
    c = found["counts"]
    md = [f"# The FAQ audit on COVID ({found['entries']} entries, {found['questions']} questions)",
          "", f"high {found['thresholds']['high']:.3f}, medium {found['thresholds']['medium']:.3f};"
          f" audit {took:.1f} s; {found['searches']} searches logged", "",
          markdown_table(["finding", "count"], [
              ["near-duplicate entry pairs", c["duplicates"]], ["conflicts", c["conflicts"]],
              ["misfiled similar questions", c["misfiled"]],
              ["unreached entries", "-" if c["unreached"] is None else c["unreached"]]]),
          "", f"## The first {len(pairs)} near-duplicate pairs", "",
          _pairs_table(pairs), "", f"## The {len(lowest)} lowest-scoring pairs (nearest "
          "the threshold)", "", _pairs_table(lowest)]
    write_report("audit", payload, "\n".join(md))
    return 0


def _pairs_table(pairs: list[dict]) -> str:
    return markdown_table(["#", "entry", "question", "entry", "question", "score"], [
        [i, p["entry_a"], p["question_a"], p["entry_b"], p["question_b"], f"{p['score']:.4f}"]
        for i, p in enumerate(pairs, start=1)])


if __name__ == "__main__":
    sys.exit(main())
