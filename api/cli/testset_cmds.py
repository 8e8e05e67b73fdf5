"""``semsearch testset import|export|list``: a collection's hit-test set, and
``semsearch eval testset``: how the collection answers it."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from search.errors import NotFoundError, SourceError
from search.tuning import Ranking

from .common import load_encoder, out, print_json, settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

testset_app = typer.Typer(help="Labelled test questions of a collection (hit-test sets).",
                          no_args_is_help=True)
CollectionOpt = Annotated[str | None, typer.Option(help="Collection name (default: settings).")]


def _sessions() -> sessionmaker[Session]:
    from search.store.db import open_database

    return open_database(settings().resolved_database_url)


def _collection_id(sessions: sessionmaker[Session], name: str) -> int:
    from search.store import repository

    with sessions() as session:
        return repository.get_collection(session, name).id


@testset_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help='JSONL: {"query", "expected_ids": [...]} or '
                                              '{"query", "expected": "none"}.')],
    collection: CollectionOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the whole set.")] = False,
) -> None:
    """Add labelled questions to the collection's hit-test set (a question already in
    it is relabelled)."""
    from search.store import testsets

    name = collection or settings().default_collection
    parsed = testsets.read_file(file)
    if parsed.errors:
        raise SourceError(f"{len(parsed.errors)} invalid line(s); nothing was imported:\n"
                          + "\n".join(parsed.errors[:20]), {"errors": parsed.errors})
    sessions = _sessions()
    coll_id = _collection_id(sessions, name)
    with sessions.begin() as session:
        write = testsets.replace_all if replace else testsets.add
        write(session, coll_id, parsed.questions)
    with sessions() as session:
        total, answerable = testsets.count(session, coll_id)
    typer.echo(f"{name}: {len(parsed.questions)} question(s) imported; the set holds {total} "
               f"({answerable} answerable, {total - answerable} marked none)", err=True)


@testset_app.command("export")
def export(
    file: Annotated[Path | None, typer.Argument(help="Write here (default: standard output).")] = None,
    collection: CollectionOpt = None,
) -> None:
    """Write the hit-test set as JSON Lines (the format `import` reads)."""
    from search.store import testsets

    sessions = _sessions()
    with sessions() as session:
        coll_id = _collection_id(sessions, collection or settings().default_collection)
        questions = testsets.load(session, coll_id)
    lines = "".join(json.dumps(q.as_json(), ensure_ascii=False) + "\n" for q in questions)
    if file is None:
        sys.stdout.write(lines)
    else:
        file.write_text(lines, encoding="utf-8")


@testset_app.command("list")
def list_(collection: CollectionOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the hit-test set."""
    from search.store import testsets

    sessions = _sessions()
    with sessions() as session:
        coll_id = _collection_id(sessions, collection or settings().default_collection)
        questions = testsets.load(session, coll_id)
    if as_json:
        print_json([q.as_json() | {"origin": q.origin} for q in questions])
        return
    table = Table("question", "expected", "from", title=f"{len(questions)} test question(s)")
    for q in questions:
        table.add_row(Text(q.query), Text(", ".join(q.expected) or "none"), q.origin)
    out.print(table)


def eval_testset(
    collection: CollectionOpt = None,
    testset: Annotated[Path | None, typer.Option(help="Questions from this JSONL file instead "
                                                      "of the stored set.")] = None,
    against: Annotated[int | None, typer.Option(help="List the questions whose first answer "
                                                     "differs from what build N answered.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """recall@1, MRR@10 and, per band, share and precision on a hit-test set."""
    from indexer.bands import evaluate
    from indexer.build import find_build
    from search.store import testsets

    s = settings()
    name = collection or s.default_collection
    sessions = _sessions()
    _collection_id(sessions, name)  # unknown collection: bad input, before the model loads
    questions = None
    if testset is not None:
        parsed = testsets.read_file(testset)
        if parsed.errors:
            raise SourceError(f"{len(parsed.errors)} invalid line(s):\n" + "\n".join(parsed.errors[:20]))
        questions = parsed.questions
    recorded = None
    if against is not None:
        recorded = (find_build(sessions, against).evaluation or {}).get("answers")
        if recorded is None:
            raise NotFoundError(f"build {against} recorded no hit-test answers (it was made "
                                "before the collection had a hit-test set)")
    encoder = load_encoder()
    found, result = evaluate(s, sessions, encoder, name, questions)
    if recorded is not None:
        result["changed"] = [{"query": o.question.query, "expected": list(o.question.expected),
                              "before": recorded.get(o.question.query), "after": o.top_id}
                             for o in found if o.question.query in recorded
                             and recorded[o.question.query] != o.top_id]
    if as_json:
        print_json(result)
        return
    _print_metrics(name, result)


def _print_metrics(name: str, result: dict) -> None:
    r1, mrr = result["recall_at_1"], result["mrr_at_10"]
    typer.echo(f"{name}: {result['n_questions']} questions ({result['n_answerable']} answerable)"
               f"; recall@1 {'-' if r1 is None else f'{r1:.4f}'}, MRR@10 "
               f"{'-' if mrr is None else f'{mrr:.4f}'}; ranking {Ranking(**result['ranking']).label}")
    table = Table("band", "questions", "share", "precision", "95% interval")
    for band, share in result["band_share"].items():
        precision, interval = result["band_precision"][band], result["band_interval"][band]
        table.add_row(band, str(result["band_count"][band]), f"{share:.3f}",
                      "-" if precision is None else f"{precision:.3f}",
                      "-" if interval is None else f"{interval[0]:.3f}–{interval[1]:.3f}")
    out.print(table)
    if result.get("changed") is not None:
        out.print(changed_table(result["changed"]))


def changed_table(rows: list[dict], limit: int | None = None) -> Table:
    """The test questions whose first answer changed (``search.hittest.changed`` rows)."""
    table = Table("question", "expected", "before", "after", title=f"{len(rows)} answer(s) changed")
    for row in rows[:limit]:
        table.add_row(Text(row["query"]), Text(", ".join(row["expected"]) or "none"),
                      Text(str(row["before"])), Text(str(row["after"])))
    return table


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.add_typer(testset_app, name="testset")
    eval_app.command("testset")(eval_testset)
