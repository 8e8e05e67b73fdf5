"""Does the FAQ loop find what the FAQ is missing? Remove entries, send their questions, read the insights.

The FAQ of ``../shared/datasets/covid_qsim_tianchi`` (standard questions, with the
train-split queries as similar questions) with ``--remove`` (100) entries taken out at
random (``--seed``). The traffic: every query of the removed entries and the dev-split
queries of the kept ones, sent through the real HTTP API (`semsearch serve`, the search
log on). Then ``GET /v1/collections/{c}/insights`` and, with `--json` keys in brackets:

- removed entries recovered as a group whose questions are at least 90% that entry's,
  among the 150 largest groups [removed_recovered];
- ``add_similar`` suggestions that name the right entry (the one most of the group's
  questions point at) [add_similar_precision];
- every suggestion carried out through ``POST .../insights/apply`` (a new entry for a
  ``new_entry`` group, similar questions for an ``add_similar`` one), the same traffic sent
  again: recall@1 over the removed entries' queries [recall_after_apply]; before, it is 0.

Usage: python bench/insights.py [--seed 0] [--remove 100] [--json]
Writes bench/results/insights.json and insights.md.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx

from _common import DATASETS, covid_faq, environment, log, markdown_table, write_report
from load import SEMSEARCH, server_env, start, stop

PORT = 18731
LARGEST = 150
PURITY = 0.9


def faq_and_traffic(seed: int, remove: int) -> tuple[list[dict], list[tuple[str, str]], set[str]]:
    corpus, similar, queries = covid_faq()
    removed = set(random.Random(seed).sample(sorted(d["id"] for d in corpus), remove))
    faq = [{"id": d["id"], "question": d["text"], "category": d["title"],
            "similar_questions": similar.get(d["id"], [])} for d in corpus if d["id"] not in removed]
    traffic = [(q["query"], q["relevant_ids"][0]) for q in queries
               if q["relevant_ids"][0] in removed or q["split"] == "dev"]
    traffic += [(d["text"], d["id"]) for d in corpus if d["id"] in removed]  # its own wording too
    return faq, traffic, removed


def send(url: str, traffic: list[tuple[str, str]]) -> list[str | None]:
    """The first hit's entry per question (the searches are logged by the server)."""
    tops = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for query, _ in traffic:
            hits = client.post("/v1/search", json={"query": query, "top_k": 3}).json()["hits"]
            tops.append(hits[0]["external_id"] if hits else None)
    return tops


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--remove", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    args = parser.parse_args()
    if not (DATASETS / "covid_qsim_tianchi").is_dir():
        print(f"error: {DATASETS / 'covid_qsim_tianchi'} not found", file=sys.stderr)
        return 2
    faq, traffic, removed = faq_and_traffic(args.seed, args.remove)
    owner = {q: e for q, e in traffic}
    with tempfile.TemporaryDirectory(prefix="semsearch-insights-") as tmp:
        data = Path(tmp)
        source = data / "faq.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in faq), "utf-8")
        log(f"indexing {len(faq)} entries ({len(removed)} removed)")
        subprocess.run([SEMSEARCH, "reindex", str(source)], env=server_env(data), check=True,
                       capture_output=True)
        server = start(data, PORT)
        url = f"http://127.0.0.1:{PORT}"
        try:
            log(f"sending {len(traffic)} questions")
            send(url, traffic)
            found = httpx.get(url + "/v1/collections/default/insights", timeout=600).json()
            groups = found["groups"]
            largest = groups[:LARGEST]
            recovered = set()
            for g in largest:
                owners = Counter(owner.get(q) for q in g["questions"])
                entry, n = owners.most_common(1)[0]
                if entry in removed and n >= PURITY * len(g["questions"]):
                    recovered.add(entry)
            suggested = [g for g in groups if g["suggestion"] == "add_similar"]
            right = sum(Counter(owner.get(q) for q in g["questions"]).most_common(1)[0][0]
                        == g["entry_id"] for g in suggested)
            log(f"applying {len(groups)} suggestions")
            applied = Counter()
            for g in groups:
                done = httpx.post(url + "/v1/collections/default/insights/apply", timeout=600,
                                  json={"group_id": g["group_id"], "action": g["suggestion"]})
                applied[f"{g['suggestion']} {done.status_code}"] += 1
            removed_traffic = [(q, e) for q, e in traffic if e in removed]
            tops = send(url, removed_traffic)
            # a removed entry's questions now land on the entry made from their group:
            # right when that entry was made from (mostly) this entry's questions
            made = {}
            for g in groups:
                if g["suggestion"] == "new_entry":
                    owners = Counter(owner.get(q) for q in g["questions"])
                    made[f"faq-{g['group_id']}"] = owners.most_common(1)[0][0]
            hits = sum(made.get(top, top) == e for (q, e), top in zip(removed_traffic, tops))
        finally:
            stop([server])
    payload = {"seed": args.seed, "removed": len(removed), "traffic": len(traffic),
               "searches_logged": found["searches"], "groups": len(groups),
               "removed_recovered": len(recovered),
               "add_similar": len(suggested),
               "add_similar_precision": right / len(suggested) if suggested else None,
               "add_similar_groups": [
                   {"entry_id": g["entry_id"], "representative": g["representative"],
                    "size": g["size"], "nearest_score": g["nearest"]["score"],
                    "owners": Counter(owner.get(q) for q in g["questions"]).most_common(3),
                    "questions": g["questions"][:5]} for g in suggested],
               "new_entry": sum(g["suggestion"] == "new_entry" for g in groups),
               "applied": dict(applied),
               "recall_after_apply": hits / len(removed_traffic) if removed_traffic else None,
               "targets": {"removed_recovered": ">= 50", "add_similar_precision": ">= 0.90",
                           "recall_after_apply": ">= 0.70"},
               "environment": environment()}
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        write_report("insights", payload, "", quiet=True)
        return 0
    md = [f"# The FAQ loop on COVID (seed {args.seed}, {len(removed)} entries removed)", "",
          markdown_table(["measure", "value", "target"], [
              ["removed entries recovered as a ≥90% pure group (150 largest)", len(recovered), "≥ 50"],
              ["add_similar suggestions naming the right entry",
               f"{payload['add_similar_precision']:.3f} of {len(suggested)}" if suggested else "-", "≥ 0.90"],
              ["recall@1 on the removed entries' questions after applying",
               f"{payload['recall_after_apply']:.3f}", "≥ 0.70"],
              ["groups", len(groups), ""], ["searches logged", found["searches"], ""]])]
    write_report("insights", payload, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
