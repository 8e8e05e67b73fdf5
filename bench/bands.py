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

And one knowledge base, where the passages are answers: insuranceqa, the answers of
``../shared/datasets/insuranceqa_zh`` indexed as answer passages, calibrated on the
first ``--kb-questions`` (500) questions of ``queries.jsonl`` and evaluated on all of
``queries_valid.jsonl``, against dense-only and lexical-only ranking on the same index.

Each evaluated half is checked against the targets (``TARGETS``): ``high`` precision,
``high``'s share of the answerable questions, right first answers labelled ``none``,
off-topic questions kept in ``low`` or ``none``. The model's prior thresholds are
evaluated on the same half for comparison.

Usage: python bench/bands.py [--seed 0] [--sets sample,covid,insuranceqa]
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

from indexer import bands, prior
from indexer.evaluate import copy_cache, corpus_entries
from indexer.reindex import reindex
from indexer.sources import SourceRows
from search import hittest
from search.collections import CollectionRegistry
from search.config import Settings
from search.encoder import Encoder
from search.service import SearchService
from search.store import embeddings, repository, testsets
from search.store.db import dispose, open_database
from search.store.testsets import Labelled
from search.tuning import Ranking

CACHE = RESULTS / "eval-cache.db"
COLLECTION = "bench"
# (metric, comparison, target, goal) per FAQ; the goals are where the bands should go.
TARGETS = {
    "sample": [("high_precision", ">=", 0.95, None), ("high_share_of_answerable", ">=", 0.35, 0.55),
               ("right_labelled_none", "<=", 0.10, None),
               ("none_questions_low_or_none", ">=", 0.90, None)],
    "covid": [("high_precision", ">=", 0.95, None), ("high_share_of_answerable", ">=", 0.40, 0.60)],
    "insuranceqa": [("recall_gain_over_best_single", ">=", 0.0, None),
                    ("high_precision_where_reached", ">=", 0.90, None)],
}


def sample_set() -> tuple[Path, list[Labelled]]:
    questions = []
    for name in ("faq_sample_queries.jsonl", "faq_sample_dev_queries.jsonl",
                 "faq_sample_offtopic_dev.jsonl", "faq_sample_offtopic_test.jsonl"):
        questions += testsets.read_file(ROOT / "data" / name).questions
    return ROOT / "data" / "faq_sample.jsonl", questions


def covid_set() -> tuple[SourceRows, list[Labelled]]:
    """The FAQ and questions ``semsearch calibrate --retrieval`` reads from the COVID set."""
    one = prior.read_set(DATASETS / "covid_qsim_tianchi")
    return SourceRows(entries=one.entries), one.calibration


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
            "none_questions_low_or_none": result["none_questions_low_or_none"],
            "ranking": result["ranking"]}


def verdicts(name: str, result: dict) -> list[dict]:
    out = []
    for metric, op, target, goal in TARGETS[name]:
        if metric == "high_precision_where_reached":  # vacuous when no question is high
            value = result["high_precision"]
            ok = value is None or value >= target
        else:
            value = result[metric]
            ok = value is not None and (value >= target if op == ">=" else value <= target)
        out.append({"metric": metric, "value": value, "target": f"{op} {target}", "goal": goal,
                    "met": ok})
    return out


def run_set(name: str, faq: Path | SourceRows, questions: list[Labelled], seed: int, encoder: Encoder,
            base: Settings, tmp: Path) -> dict:
    settings = base.model_copy(update={"data_dir": tmp / name, "database_url": None})
    sessions = _index(name, faq, encoder, settings)
    first, second = halves(questions, seed)
    folds = []
    for label, calibrate_on, evaluate_on in (("A->B", first, second), ("B->A", second, first)):
        with sessions.begin() as session:
            coll = repository.get_collection(session, COLLECTION)
            testsets.replace_all(session, coll.id, calibrate_on)
        bands.store(sessions, settings, COLLECTION, None, "cleared")
        log(f"{name} {label}: calibrating on {len(calibrate_on)}, evaluating {len(evaluate_on)}")
        prior = summary(bands.evaluate(settings, sessions, encoder, COLLECTION, evaluate_on)[1])
        done = bands.calibrate(settings, sessions, encoder, COLLECTION, write=True)
        held_out = summary(bands.evaluate(settings, sessions, encoder, COLLECTION, evaluate_on)[1])
        folds.append({"fold": label, "calibrated_on": len(calibrate_on),
                      "thresholds": done.to_json() | {"in_sample": None},
                      "held_out": held_out, "prior": prior, "checks": verdicts(name, held_out)})
    dispose(settings.resolved_database_url)
    return {"seed": seed, "n_questions": len(first) + len(second), "folds": folds}


def _index(name: str, source: Path | SourceRows, encoder: Encoder, settings: Settings):
    sessions = open_database(settings.resolved_database_url)
    spaces = set(embeddings.spaces(encoder).values())
    if CACHE.exists():
        copy_cache(open_database(f"sqlite:///{CACHE}"), sessions, spaces)
    log(f"{name}: indexing")
    reindex(settings, sessions, encoder, source, COLLECTION, gate=False)
    copy_cache(sessions, open_database(f"sqlite:///{CACHE}"), spaces)
    return sessions


def run_kb(encoder: Encoder, base: Settings, tmp: Path, n_calibrate: int) -> dict:
    """InsuranceQA as a knowledge base: calibrate on the first questions of the test
    file, evaluate on the validation file, compare with dense-only and lexical-only."""
    folder = DATASETS / "insuranceqa_zh"
    settings = base.model_copy(update={"data_dir": tmp / "insuranceqa", "database_url": None,
                                       "index_kinds": base.index_kinds + ",answer"})
    entries = corpus_entries(folder / "corpus.jsonl", "answer")
    sessions = _index("insuranceqa", SourceRows(entries=entries), encoder, settings)

    def labelled(path: Path) -> list[Labelled]:
        rows = [json.loads(x) for x in path.open(encoding="utf-8")]
        return [Labelled(r["query"], tuple(r["relevant_ids"])) for r in rows]

    calibrate_on = labelled(folder / "queries.jsonl")[:n_calibrate]
    valid = labelled(folder / "queries_valid.jsonl")
    with sessions.begin() as session:
        testsets.replace_all(session, repository.get_collection(session, COLLECTION).id, calibrate_on)
    bands.store(sessions, settings, COLLECTION, None, "cleared")
    log(f"insuranceqa: {len(calibrate_on)} calibration questions, {len(valid)} evaluated")
    prior = summary(bands.evaluate(settings, sessions, encoder, COLLECTION, valid)[1])
    done = bands.calibrate(settings, sessions, encoder, COLLECTION, write=True)
    held_out = summary(bands.evaluate(settings, sessions, encoder, COLLECTION, valid)[1])
    service = SearchService(settings, encoder, sessions,
                            CollectionRegistry(settings, encoder, sessions, only=COLLECTION))
    encoded = hittest.encode(service, valid)
    single = {r.mode: hittest.metrics(hittest.run(service, COLLECTION, valid, ranking=r,
                                                  encoded=encoded),
                                      encoder.profile.thresholds)["recall_at_1"]
              for r in (Ranking("dense", 0.0), Ranking("lexical", 0.0))}
    held_out["single_mode_recall_at_1"] = single
    held_out["recall_gain_over_best_single"] = held_out["recall_at_1"] - max(single.values())
    dispose(settings.resolved_database_url)
    return {"n_questions": len(valid), "n_documents": len(entries),
            "folds": [{"fold": f"first {len(calibrate_on)} of queries.jsonl -> queries_valid.jsonl",
                       "calibrated_on": len(calibrate_on),
                       "thresholds": done.to_json() | {"in_sample": None},
                       "held_out": held_out, "prior": prior,
                       "checks": verdicts("insuranceqa", held_out)}]}


def markdown(results: dict) -> str:
    lines = [f"# Bands on held-out questions (seed {results['seed']}, {results['model']})", ""]
    for name, result in results["sets"].items():
        lines += [f"## {name} ({result['n_questions']} questions)", ""]
        rows = []
        for fold in result["folds"]:
            t = fold["thresholds"]
            for what, m in (("calibrated", fold["held_out"]), ("prior", fold["prior"])):
                rows.append([fold["fold"], what, Ranking(**m["ranking"]).label,
                             f"{t['high']:.4f} / {t['margin']:.4f}" if what == "calibrated" else "",
                             fmt(m["recall_at_1"], 3), fmt(m["high_precision"], 3),
                             fmt(m["high_share_of_answerable"], 3), fmt(m["right_labelled_none"], 3),
                             fmt(m["none_questions_low_or_none"], 3)])
        lines += [markdown_table(["fold", "bands", "ranking", "high / margin", "recall@1", "high precision",
                                  "high share (answerable)", "right labelled none",
                                  "off-topic in low/none"], rows), ""]
        for fold in result["folds"]:
            checks = ", ".join(f"{c['metric']} {fmt(c['value'], 3)} {c['target']}: "
                               f"{'met' if c['met'] else 'MISSED'}" for c in fold["checks"])
            lines.append(f"- {fold['fold']}: {checks}")
            single = fold["held_out"].get("single_mode_recall_at_1")
            if single:
                lines.append("  recall@1 on the same index: " + ", ".join(
                    f"{mode} only {fmt(r, 3)}" for mode, r in single.items()))
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", default="sample,covid,insuranceqa",
                        help="comma-separated: " + ", ".join(TARGETS))
    parser.add_argument("--kb-questions", type=int, default=500,
                        help="insuranceqa: questions of queries.jsonl to calibrate on")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(wanted) - set(TARGETS)
    if unknown:
        print(f"error: unknown set(s) {', '.join(sorted(unknown))}; choose from "
              f"{', '.join(TARGETS)}", file=sys.stderr)
        return 2
    folders = {"covid": "covid_qsim_tianchi", "insuranceqa": "insuranceqa_zh"}
    for name in wanted:
        if name in folders and not (DATASETS / folders[name]).is_dir():
            print(f"error: {DATASETS / folders[name]} not found (set SEMSEARCH_DATASETS)",
                  file=sys.stderr)
            return 2
    base = Settings(models_dir=ROOT / "data" / "models", _env_file=None)
    encoder = Encoder.from_settings(base)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict = {"seed": args.seed, "model": encoder.model_id,
                     "environment": _common.environment(), "sets": {}}
    with tempfile.TemporaryDirectory(prefix="semsearch-bands-") as tmp:
        for name in wanted:
            if name == "insuranceqa":
                results["sets"][name] = run_kb(encoder, base, Path(tmp), args.kb_questions)
                continue
            faq, questions = sample_set() if name == "sample" else covid_set()
            results["sets"][name] = run_set(name, faq, questions, args.seed, encoder, base, Path(tmp))
    write_report("bands", results, markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
