"""``semsearch audit``: near-duplicate and conflicting entries, misfiled similar questions,
unreached entries."""
from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .common import collection_service, console, out, print_json

SHOWN = 30  # rows per table; the rest are counted


def audit(
    collection: Annotated[str | None, typer.Option(help="Collection name (default: settings).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The FAQ's problems: entry pairs whose questions reach the high band (duplicates;
    with different answers, conflicts), similar questions nearer another entry than their
    own (misfiled), and the entries no logged search had as its first hit (unreached)."""
    from search import audit as faq_audit

    name, service = collection_service(collection)
    with console.status("comparing every pair of questions…"):
        result = faq_audit.compute(service, name)
    if as_json:
        print_json(result.as_json())
        return
    found = result.as_json()
    counts = found["counts"]
    unreached = ("-" if counts["unreached"] is None
                 else f"{counts['unreached']} of {result.entries}")
    t = result.thresholds
    console.print(f"{name}: {result.entries} entries, {result.questions} questions "
                  f"(high {t['high']:.3f}, medium {t['medium']:.3f})")
    summary = Table("finding", "count", title="audit")
    summary.add_row("duplicates", f"{counts['duplicates']} ({counts['duplicates_sure']} at or "
                                  f"above the duplicate threshold {t['duplicate']:.4f})")
    for key in ("conflicts", "misfiled"):
        summary.add_row(key, str(counts[key]))
    summary.add_row("unreached", unreached)
    summary.add_row("searches logged", f"{result.searches} (last {result.log_days} days)")
    out.print(summary)
    for key, title in (("duplicates", "near-duplicate entries"),
                       ("conflicts", "duplicates with different answers")):
        table = Table("entry", "question", "entry", "question", "score", "sure", "same answer",
                      title=f"{title} ({counts[key]})")
        for d in found[key][:SHOWN]:
            table.add_row(Text(d["entry_a"]), Text(d["question_a"]), Text(d["entry_b"]),
                          Text(d["question_b"]), f"{d['score']:.4f}",
                          "yes" if d["sure"] else "check", "yes" if d["same_answer"] else "no")
        _print(table, counts[key])
    misfiled = Table("entry", "similar question", "own", "closer entry", "its question", "score",
                     title=f"misfiled similar questions ({counts['misfiled']})")
    for m in found["misfiled"][:SHOWN]:
        misfiled.add_row(Text(m["entry_id"]), Text(m["question"]), f"{m['own_score']:.3f}",
                         Text(m["other_entry_id"]), Text(m["other_question"]),
                         f"{m['other_score']:.3f}")
    _print(misfiled, counts["misfiled"])
    if result.unreached is None:
        out.print(Text(f"unreached: - ({result.unreached_reason})"))
        return
    table = Table("entry", "question", title=f"entries never the first hit ({unreached})")
    for u in result.unreached[:SHOWN]:
        table.add_row(Text(u["entry_id"]), Text(u["question"]))
    _print(table, len(result.unreached))


def _print(table: Table, total: int) -> None:
    out.print(table)
    if total > SHOWN:
        out.print(f"… {total - SHOWN} more (--json lists them all)")


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
