"""Do the bands keep their promise on an FAQ they were not fitted on? Calibrate, hold out, swap.

For each FAQ the labelled questions are split in two halves at random (``--seed``). The
collection is calibrated on one half exactly as ``semsearch calibrate --collection C
--write`` does (the half is its hit-test set), the other half is evaluated as ``semsearch
eval testset --testset HALF`` does, then the halves swap. Two FAQs:

- sample: ``data/faq_sample.jsonl`` with all 500 questions of
  ``data/faq_sample_queries.jsonl`` and ``data/faq_sample_dev_queries.jsonl`` and the
  100 off-topic questions (``expected: none``) of ``data/faq_sample_offtopic_*.jsonl``;
- covid: the COVID standard questions (``../shared/datasets/covid_qsim_tianchi``) with
  the train-split queries as similar questions; the 753 dev-split queries are halved.

Each evaluated half is checked against the targets (``TARGETS``): ``high`` precision,
``high``'s share of the answerable questions, right first answers labelled ``none``,
off-topic questions kept in ``low`` or ``none``. The model's prior thresholds are
evaluated on the same half for comparison.

Usage: python bench/bands.py [--seed 0] [--sets sample,covid]
Writes bench/results/bands.json and bands.md. Passage embeddings are kept in
bench/results/eval-cache.db between runs.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import _common
from _common import DATASETS, RESULTS, ROOT, fmt, log, markdown_table, write_report

from indexer import bands
from indexer.evaluate import copy_cache
from indexer.reindex import reindex
from search.config import Settings
from search.encoder import Encoder
from search.hittest import metrics
from search.store import embeddings, repository, testsets
from search.store.db import dispose, open_database
from search.store.testsets import Labelled

CACHE = RESULTS / "eval-cache.db"
COLLECTION = "bench"
# (metric, comparison, target, goal) per FAQ; the goals are where the bands should go.
TARGETS = {
    "sample": [("high_precision", ">=", 0.95, None), ("high_share_of_answerable", ">=", 0.35, 0.55),
               ("right_labelled_none", "<=", 0.10, None),
               ("none_questions_low_or_none", ">=", 0.90, None)],
    "covid": [("high_precision", ">=", 0.95, None), ("high_share_of_answerable", ">=", 0.40, 0.60)],
}


def sample_set() -> tuple[Path, list[Labelled]]:
    questions = []
    for name in ("faq_sample_queries.jsonl", "faq_sample_dev_queries.jsonl",
                 "faq_sample_offtopic_dev.jsonl", "faq_sample_offtopic_test.jsonl"):
        questions += testsets.read_file(ROOT / "data" / name).questions
    return ROOT / "data" / "faq_sample.jsonl", questions


def covid_set(tmp: Path) -> tuple[Path, list[Labelled]]:
    folder = DATASETS / "covid_qsim_tianchi"
    rows = [json.loads(x) for x in (folder / "queries.jsonl").open(encoding="utf-8")]
    similar: dict[str, list[str]] = {}
    for row in rows:
        if row.get("split") == "train":
            for doc_id in row["relevant_ids"]:
                similar.setdefault(doc_id, []).append(row["query"])
    faq = tmp / "covid_faq.jsonl"
    with faq.open("w", encoding="utf-8") as out:
        for line in (folder / "corpus.jsonl").open(encoding="utf-8"):
            doc = json.loads(line)
            out.write(json.dumps({"id": doc["id"], "question": doc["text"], "category": doc["title"],
                                  "similar_questions": similar.get(doc["id"], [])},
                                 ensure_ascii=False) + "\n")
    dev = [Labelled(r["query"], tuple(r["relevant_ids"])) for r in rows if r.get("split") == "dev"]
    return faq, dev


def halves(questions: list[Labelled], seed: int) -> tuple[list[Labelled], list[Labelled]]:
    unique = list({q.query: q for q in questions}.values())
    random.Random(seed).shuffle(unique)
    middle = len(unique) // 2
    return unique[:middle], unique[middle:]


def summary(result: dict) -> dict:
    return {"n_questions": result["n_questions"], "recall_at_1": result["recall_at_1"],
            "high_precision": result["band_precision"]["high"],
            "high_interval": result["band_interval"]["high"],
            "high_share_of_answerable": result["high_share_of_answerable"],
            "band_share": result["band_share"], "band_precision": result["band_precision"],
            "right_labelled_none": result["right_labelled_none"],
            "none_questions_low_or_none": result["none_questions_low_or_none"]}


def verdicts(name: str, result: dict) -> list[dict]:
    out = []
    for metric, op, target, goal in TARGETS[name]:
        value = result[metric]
        ok = value is not None and (value >= target if op == ">=" else value <= target)
        out.append({"metric": metric, "value": value, "target": f"{op} {target}", "goal": goal,
                    "met": ok})
    return out


def run_set(name: str, faq: Path, questions: list[Labelled], seed: int, encoder: Encoder,
            base: Settings, tmp: Path) -> dict:
    data_dir = tmp / name
    settings = base.model_copy(update={"data_dir": data_dir, "database_url": None})
    sessions = open_database(settings.resolved_database_url)
    spaces = set(embeddings.spaces(encoder).values())
    if CACHE.exists():
        copy_cache(open_database(f"sqlite:///{CACHE}"), sessions, spaces)
    log(f"{name}: indexing {faq.name}")
    reindex(settings, sessions, encoder, faq, COLLECTION, gate=False)
    copy_cache(sessions, open_database(f"sqlite:///{CACHE}"), spaces)
    first, second = halves(questions, seed)
    folds = []
    for label, calibrate_on, evaluate_on in (("A->B", first, second), ("B->A", second, first)):
        with sessions.begin() as session:
            coll = repository.get_collection(session, COLLECTION)
            testsets.replace_all(session, coll.id, calibrate_on)
        bands.store(sessions, settings, COLLECTION, None, "cleared")
        log(f"{name} {label}: calibrating on {len(calibrate_on)}, evaluating {len(evaluate_on)}")
        found = bands.outcomes(settings, sessions, encoder, COLLECTION, evaluate_on)
        prior = summary(metrics(found, encoder.profile.thresholds))
        fitted = bands.calibrate(settings, sessions, encoder, COLLECTION, write=True)
        found = bands.outcomes(settings, sessions, encoder, COLLECTION, evaluate_on)
        held_out = summary(metrics(found, fitted.thresholds))
        folds.append({"fold": label, "calibrated_on": len(calibrate_on),
                      "thresholds": fitted.to_json() | {"in_sample": None},
                      "held_out": held_out, "prior": prior, "checks": verdicts(name, held_out)})
    dispose(settings.resolved_database_url)
    return {"seed": seed, "n_questions": len(first) + len(second), "folds": folds}


def markdown(results: dict) -> str:
    lines = [f"# Bands on held-out halves (seed {results['seed']}, {results['model']})", ""]
    for name, result in results["sets"].items():
        lines += [f"## {name} ({result['n_questions']} questions)", ""]
        rows = []
        for fold in result["folds"]:
            t = fold["thresholds"]
            for what, m in (("calibrated", fold["held_out"]), ("prior", fold["prior"])):
                rows.append([fold["fold"], what,
                             f"{t['high']:.4f} / {t['margin']:.4f}" if what == "calibrated" else "",
                             fmt(m["recall_at_1"], 3), fmt(m["high_precision"], 3),
                             fmt(m["high_share_of_answerable"], 3), fmt(m["right_labelled_none"], 3),
                             fmt(m["none_questions_low_or_none"], 3)])
        lines += [markdown_table(["fold", "bands", "high / margin", "recall@1", "high precision",
                                  "high share (answerable)", "right labelled none",
                                  "off-topic in low/none"], rows), ""]
        for fold in result["folds"]:
            checks = ", ".join(f"{c['metric']} {fmt(c['value'], 3)} {c['target']}: "
                               f"{'met' if c['met'] else 'MISSED'}" for c in fold["checks"])
            lines.append(f"- {fold['fold']}: {checks}")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", default="sample,covid", help="comma-separated: sample, covid")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(wanted) - set(TARGETS)
    if unknown:
        print(f"error: unknown set(s) {', '.join(sorted(unknown))}; choose from sample, covid",
              file=sys.stderr)
        return 2
    if "covid" in wanted and not (DATASETS / "covid_qsim_tianchi").is_dir():
        print(f"error: {DATASETS / 'covid_qsim_tianchi'} not found (set SEMSEARCH_DATASETS)",
              file=sys.stderr)
        return 2
    base = Settings(models_dir=ROOT / "data" / "models", _env_file=None)  # type: ignore[call-arg]
    encoder = Encoder.from_settings(base)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict = {"seed": args.seed, "model": encoder.model_id,
                     "environment": _common.environment(), "sets": {}}
    with tempfile.TemporaryDirectory(prefix="semsearch-bands-") as tmp:
        for name in wanted:
            faq, questions = sample_set() if name == "sample" else covid_set(Path(tmp))
            results["sets"][name] = run_set(name, faq, questions, args.seed, encoder, base, Path(tmp))
    write_report("bands", results, markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
