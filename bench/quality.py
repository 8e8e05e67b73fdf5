"""Search quality: the measurements behind the retrieval defaults.

Each step indexes a corpus once and runs its queries under several settings:

1. fit  — the hybrid ranking (BM25 blend weight or RRF, hubness correction on or off, its
          neighbour count k) on two dev sets that are never reported as results: a
          retrieval view of LCQMC's *dev* pairs (open-domain questions, lexically close)
          and this project's sample FAQ with its held-out questions (colloquial FAQ
          search); the variant with the best mean recall@1 over the two wins, and is kept
          only if it beats dense-only on that mean;
2. faq  — passage kinds and entry merging on an FAQ built from the COVID corpus with
          paraphrases from its *train* pairs as similar questions, queried with the
          *dev* split, and on this project's sample FAQ with its held-out questions;
3. report — dense, lexical and the default (hybrid) on all 4,165 COVID queries and on
          InsuranceQA's validation questions (answers as passages);
4. traditional — the COVID queries converted to Traditional characters with OpenCC,
          with and without Traditional->Simplified normalisation;
5. opencc — which OpenCC config should turn Traditional queries into Simplified: the COVID
          queries and the sample FAQ's held-out questions, made Traditional with "s2t"
          (characters) and "s2twp" (Taiwan phrasing), converted back in the bench by each
          candidate config (product conversion off), against none and the originals.

Usage: python bench/quality.py [--steps fit,faq,report,traditional,opencc] [--quick]
Writes bench/results/quality.json and quality.md. Corpus embeddings are kept in
bench/results/eval-cache.db between runs (InsuranceQA takes an hour to encode on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.evaluate import evaluate_retrieval  # noqa: E402
from search.config import Settings  # noqa: E402
from search.encoder import Encoder  # noqa: E402

DATA = REPO.parent / "shared" / "datasets"
RESULTS = REPO / "bench" / "results"
CACHE = RESULTS / "eval-cache.db"
METRICS = ("recall_at_1", "recall_at_5", "recall_at_10", "mrr_at_10")


def run(encoder, settings, corpus, queries, variants, field="question", limit=None, kinds=None):
    s = settings.model_copy(update={"index_kinds": kinds}) if kinds else settings
    started = time.perf_counter()
    runs = evaluate_retrieval(s, encoder, corpus, queries, corpus_field=field, variants=variants,
                              limit=limit, cache=CACHE, status=lambda m: print("  " + m, flush=True))
    print(f"  ({time.perf_counter() - started:.0f}s)")
    return [{"variant": v, **{k: r.metrics[k] for k in (*METRICS, "n_queries")},
             "band_share": r.metrics["band_share"], "band_precision": r.metrics["band_precision"]}
            for v, r in zip(variants, runs)]


def write_jsonl(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return path


def fusion_variants() -> list[dict]:
    out = [{"retrieval_mode": "dense"}, {"retrieval_mode": "lexical"}]
    for hub in ({"hubness_weight": 0.0}, {"hubness_k": 3}, {"hubness_k": 10}):
        out += [{"retrieval_mode": "hybrid", "fusion": "blend", "hybrid_weight": w, **hub}
                for w in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)]
        out += [{"retrieval_mode": "hybrid", "fusion": "rrf", "hybrid_weight": 0.3, **hub}]
    return out


def pairs_view(pairs: Path, tmp: Path) -> tuple[Path, Path]:
    """A retrieval view of a pair set: every distinct second sentence is a document, and
    each first sentence with same-intent pairs is a query for them (queries that are
    themselves documents are left out). Unlabelled documents can be paraphrases too, so
    the view compares systems; its absolute numbers mean little."""
    rows = [json.loads(x) for x in pairs.open(encoding="utf-8")]
    docs = {text: f"d{i}" for i, text in enumerate(dict.fromkeys(r["b"] for r in rows))}
    relevant: dict[str, set[str]] = {}
    for r in rows:
        if r["label"] == 1 and r["a"] not in docs:
            relevant.setdefault(r["a"], set()).add(docs[r["b"]])
    name = pairs.parent.name
    return (write_jsonl(tmp / f"{name}_corpus.jsonl",
                        ({"id": doc_id, "title": "", "text": text} for text, doc_id in docs.items())),
            write_jsonl(tmp / f"{name}_queries.jsonl",
                        ({"query": text, "relevant_ids": sorted(ids)} for text, ids in relevant.items())))


def sample_queries(tmp: Path) -> Path:
    """The sample FAQ's held-out questions: those the tests use and the dev-only ones."""
    path = tmp / "faq_sample_all_queries.jsonl"
    path.write_text("".join((REPO / "data" / name).read_text(encoding="utf-8") for name in
                            ("faq_sample_queries.jsonl", "faq_sample_dev_queries.jsonl")),
                    encoding="utf-8")
    return path


def step_fit(encoder, settings, quick, tmp):
    variants = fusion_variants()
    corpus, queries = pairs_view(DATA / "lcqmc/pairs_dev.jsonl", tmp)
    lcqmc = run(encoder, settings, corpus, queries, variants, limit=1000 if quick else None)
    sample = run(encoder, settings, REPO / "data/faq_sample.jsonl", sample_queries(tmp), variants)
    mean = [{"variant": v, "recall_at_1": (a["recall_at_1"] + b["recall_at_1"]) / 2,
             "mrr_at_10": (a["mrr_at_10"] + b["mrr_at_10"]) / 2}
            for v, a, b in zip(variants, lcqmc, sample)]
    best = max((m for m in mean if m["variant"]["retrieval_mode"] != "lexical"),
               key=lambda m: (m["recall_at_1"], m["mrr_at_10"]))
    return {"lcqmc_dev": lcqmc, "sample_faq_dev": sample, "mean_of_both": mean,
            "chosen": best["variant"]}


def covid_faq(tmp: Path) -> tuple[Path, Path]:
    """COVID standard questions with train-split paraphrases as similar questions."""
    corpus = [json.loads(x) for x in (DATA / "covid_qsim_tianchi/corpus.jsonl").open(encoding="utf-8")]
    queries = [json.loads(x) for x in (DATA / "covid_qsim_tianchi/queries.jsonl").open(encoding="utf-8")]
    similar: dict[str, list[str]] = {}
    for line in (DATA / "covid_qsim_tianchi/pairs_train.jsonl").open(encoding="utf-8"):
        pair = json.loads(line)
        if pair["label"] == 1:
            similar.setdefault(pair["a"], []).append(pair["b"])
    dev = [q for q in queries if q.get("split") == "dev"]
    held_out = {q["query"] for q in dev}
    faq = write_jsonl(tmp / "covid_faq.jsonl", (
        {"id": row["id"], "question": row["text"], "category": row["title"],
         "similar_questions": [s for s in similar.get(row["text"], []) if s not in held_out]}
        for row in corpus))
    qfile = write_jsonl(tmp / "covid_dev.jsonl", (
        {"query": q["query"], "relevant_ids": q["relevant_ids"]} for q in dev))
    return faq, qfile


def step_faq(encoder, settings, quick, tmp, fused):
    variants = [{"retrieval_mode": "dense", "merge": m} for m in ("max", "top2")]
    variants += [{**fused, "merge": m} for m in ("max", "top2")]
    faq, dev = covid_faq(tmp)
    out = {}
    for kinds in ("question", "question,similar", "question,similar,answer"):
        out[f"sample:{kinds}"] = run(encoder, settings, REPO / "data/faq_sample.jsonl",
                                     REPO / "data/faq_sample_queries.jsonl", variants, kinds=kinds)
        if kinds != "question,similar,answer":  # the COVID FAQ has no answers
            out[f"covid-faq:{kinds}"] = run(encoder, settings, faq, dev, variants, kinds=kinds,
                                            limit=200 if quick else None)
    return out


def step_report(encoder, settings, quick, sets):
    variants = [{"retrieval_mode": "dense"}, {"retrieval_mode": "lexical"}, {}]  # {} = defaults
    out = {}
    if "covid" in sets:
        out["covid"] = run(encoder, settings, DATA / "covid_qsim_tianchi/corpus.jsonl",
                           DATA / "covid_qsim_tianchi/queries.jsonl", variants,
                           limit=500 if quick else None)
    if "insuranceqa" in sets and not quick:
        out["insuranceqa_valid"] = run(encoder, settings, DATA / "insuranceqa_zh/corpus.jsonl",
                                       DATA / "insuranceqa_zh/queries_valid.jsonl", variants,
                                       field="answer")
    return out


def step_traditional(encoder, settings, quick, tmp):
    import opencc

    to_traditional = opencc.OpenCC("s2t")
    source = DATA / "covid_qsim_tianchi/queries.jsonl"
    rows = [json.loads(line) for line in source.open(encoding="utf-8")]
    traditional = write_jsonl(tmp / "covid_queries_traditional.jsonl",
                              ({**row, "query": to_traditional.convert(row["query"])} for row in rows))
    out = {}
    for t2s in (False, True):
        s = settings.model_copy(update={"traditional_to_simplified": t2s})
        enc = Encoder.from_settings(s)
        out[f"t2s={t2s}"] = run(enc, s, DATA / "covid_qsim_tianchi/corpus.jsonl", traditional,
                                [{"retrieval_mode": "dense"}, {}], limit=500 if quick else None)
    return out


OPENCC_CONFIGS = ("t2s", "tw2s", "tw2sp", "hk2s", "hk2sp")  # Traditional -> Simplified


def step_opencc(encoder, settings, quick, tmp):
    import opencc

    configs, not_loaded = {}, {}
    for name in OPENCC_CONFIGS:
        try:
            configs[name] = opencc.OpenCC(name)
        except Exception as exc:  # noqa: BLE001 - a config missing from this OpenCC build
            not_loaded[name] = str(exc)
    s = settings.model_copy(update={"traditional_to_simplified": False})  # the bench converts
    enc = Encoder.from_settings(s)
    modes = [{"retrieval_mode": "dense"}, {}]  # {} = the default (hybrid)
    sets = {"covid": (DATA / "covid_qsim_tianchi/corpus.jsonl",
                      DATA / "covid_qsim_tianchi/queries.jsonl", 500 if quick else None),
            "sample": (REPO / "data/faq_sample.jsonl", sample_queries(tmp), None)}
    out: dict = {"configs": ",".join(configs), **({"not_loaded": not_loaded} if not_loaded else {})}
    for name, (corpus, source, limit) in sets.items():
        rows = [json.loads(line) for line in source.open(encoding="utf-8")][:limit]
        cases = {f"{name}:original": [row["query"] for row in rows]}
        for variant in ("s2t", "s2twp"):
            to_traditional = opencc.OpenCC(variant)
            traditional = [to_traditional.convert(row["query"]) for row in rows]
            cases[f"{name}:{variant}:none"] = traditional
            cases.update({f"{name}:{variant}:{config}": [c.convert(q) for q in traditional]
                          for config, c in configs.items()})
        seen: dict[tuple[str, ...], list] = {}  # identical query lists are searched once
        for key, queries in cases.items():
            print(f"  {key}", flush=True)
            if tuple(queries) not in seen:
                path = write_jsonl(tmp / f"opencc_{key.replace(':', '_')}.jsonl",
                                   ({**row, "query": q} for row, q in zip(rows, queries)))
                seen[tuple(queries)] = run(enc, s, corpus, path, modes)
            out[key] = seen[tuple(queries)]
    hybrid = {config: [out[f"{name}:{variant}:{config}"][1] for name in sets
                       for variant in ("s2t", "s2twp")] for config in ("none", *configs)}
    out["mean_hybrid"] = [{"variant": {"opencc": config},
                           "recall_at_1": sum(r["recall_at_1"] for r in rs) / len(rs),
                           "mrr_at_10": sum(r["mrr_at_10"] for r in rs) / len(rs)}
                          for config, rs in hybrid.items()]
    out["best"] = max((m for m in out["mean_hybrid"] if m["variant"]["opencc"] != "none"),
                      key=lambda m: (m["recall_at_1"], m["mrr_at_10"]))["variant"]["opencc"]
    return out


def markdown(results: dict) -> str:
    lines = ["# Search quality", ""]
    for step, content in results.items():
        if step == "meta":
            continue
        lines += [f"## {step}", ""]
        groups = content.items() if isinstance(content, dict) else []
        for name, rows in groups:
            if not isinstance(rows, list):
                lines += [f"- {name}: `{json.dumps(rows)}`", ""]
                continue
            if rows and "band_precision" not in rows[0]:  # a summary: R@1 and MRR@10 only
                lines += [f"### {name}", "", "| variant | R@1 | MRR@10 |", "|---|---|---|"]
                lines += [f"| `{json.dumps(r['variant'])}` | {r['recall_at_1']:.4f} | "
                          f"{r['mrr_at_10']:.4f} |" for r in rows]
                lines.append("")
                continue
            lines += [f"### {name}", "",
                      "| variant | R@1 | R@5 | R@10 | MRR@10 | high share | high precision |",
                      "|---|---|---|---|---|---|---|"]
            for r in rows:
                hp = r["band_precision"]["high"]
                lines.append(f"| `{json.dumps(r['variant'])}` | {r['recall_at_1']:.4f} | "
                             f"{r['recall_at_5']:.4f} | {r['recall_at_10']:.4f} | {r['mrr_at_10']:.4f} | "
                             f"{r['band_share']['high']:.3f} | {'-' if hp is None else f'{hp:.3f}'} |")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="fit,faq,report,traditional,opencc")
    parser.add_argument("--quick", action="store_true", help="subsets only (minutes)")
    parser.add_argument("--report-sets", default="covid,insuranceqa",
                        help="datasets of the report step (InsuranceQA: ~1 h of encoding on 2 cores)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    settings = Settings(models_dir=REPO / "data" / "models", _env_file=None)
    encoder = Encoder.from_settings(settings)
    name = "quality-quick" if args.quick else "quality"
    path = RESULTS / f"{name}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["meta"] = {"model": encoder.model_id, "precision": encoder.precision,
                       "defaults": {k: getattr(settings, k) for k in (
                           "retrieval_mode", "fusion", "hybrid_weight", "merge", "index_kinds")}}
    steps = args.steps.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if "fit" in steps:
            print("step fit")
            results["fit"] = step_fit(encoder, settings, args.quick, Path(tmp))
        fused = results.get("fit", {}).get("chosen", {"retrieval_mode": "hybrid"})
        if "faq" in steps:
            print("step faq")
            results["faq"] = step_faq(encoder, settings, args.quick, Path(tmp), fused)
        if "report" in steps:
            print("step report")
            results["report"] = {
                **results.get("report", {}),
                **step_report(encoder, settings, args.quick, args.report_sets.split(","))}
        if "traditional" in steps:
            print("step traditional")
            results["traditional"] = step_traditional(encoder, settings, args.quick, Path(tmp))
        if "opencc" in steps:
            print("step opencc")
            results["opencc"] = step_opencc(encoder, settings, args.quick, Path(tmp))
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
