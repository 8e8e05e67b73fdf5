"""The model's prior bands, fitted to the first answers of searches over labelled retrieval sets.

A collection without a hit-test set is banded with its model's prior thresholds, so the
prior must mean what a collection's own fit means: the precision of the first answer of
a search, not the precision of a pair classifier. ``outcomes`` indexes each retrieval set
(``corpus.jsonl`` and ``queries.jsonl``, the format of ``../shared/datasets``) into a
throw-away collection, as ``semsearch eval retrieval`` does, searches its calibration
questions with the server's ranking, and returns what search.fit fits. The questions:

- a query set with splits (``"split": "train"`` / ``"dev"``) is an FAQ with its history:
  the train queries become similar questions of the entries they point at (as a team's
  FAQ holds its users' paraphrases) and the dev queries are searched;
- a query set without splits gives its even-numbered queries (0, 2, 4, ...) to
  calibration and keeps the odd-numbered ones for checking the result (``held_out``).
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from search import hittest
from search.collections import CollectionRegistry
from search.config import Settings
from search.documents import FaqEntry
from search.errors import SourceError
from search.service import SearchService
from search.store import embeddings
from search.store.db import dispose, open_database
from search.store.testsets import Labelled

from .evaluate import copy_cache, corpus_entries
from .sources import SourceRows

COLLECTION = "prior"


@dataclass
class RetrievalSet:
    name: str
    entries: list[FaqEntry]
    calibration: list[Labelled]  # searched to fit the prior
    held_out: list[Labelled]  # searched only to check it


def _rows(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc


def read_set(folder: Path) -> RetrievalSet:
    """A retrieval set's entries and its calibration and held-out questions."""
    corpus, queries = folder / "corpus.jsonl", folder / "queries.jsonl"
    for path in (corpus, queries):
        if not path.is_file():
            raise SourceError(f"{folder} is not a retrieval set: {path.name} is missing")
    entries = {e.external_id: e for e in corpus_entries(corpus, "question")}
    rows = _rows(queries)
    try:
        labelled = [(row.get("split"), Labelled(row["query"], tuple(map(str, row["relevant_ids"]))))
                    for row in rows]
    except (KeyError, TypeError) as exc:
        raise SourceError(f"{queries}: query rows need 'query' and 'relevant_ids' ({exc})") from exc
    if any(split is not None for split, _ in labelled):
        for split, question in labelled:
            if split == "train":
                for entry_id in question.expected:
                    if entry_id in entries:
                        entries[entry_id].similar_questions.append(question.query)
        calibration = [q for split, q in labelled if split == "dev"]
        held_out: list[Labelled] = []
    else:
        calibration = [q for i, (_, q) in enumerate(labelled) if i % 2 == 0]
        held_out = [q for i, (_, q) in enumerate(labelled) if i % 2 == 1]
    if not calibration:
        raise SourceError(f"{queries}: no calibration questions (a dev split, or any query)")
    name = f"{folder.parent.name}/{folder.name}" if folder.name == "retrieval" else folder.name
    return RetrievalSet(name, list(entries.values()), calibration, held_out)


@dataclass
class SetOutcomes:
    calibration: list[hittest.Outcome]
    held_out: list[hittest.Outcome]


def outcomes(settings: Settings, encoder, sets: Sequence[RetrievalSet], *,  # type: ignore[no-untyped-def]
             cache: Path | None = None,
             status: Callable[[str], None] = lambda _: None) -> dict[str, SetOutcomes]:
    """Per set, the outcomes of its calibration and held-out questions searched with the
    server's ranking over a throw-away index of its entries. ``cache``: a SQLite file
    that keeps passage embeddings between runs."""
    from .reindex import reindex

    found = {}
    for one in sets:
        with tempfile.TemporaryDirectory(prefix="semsearch-prior-") as tmp:
            s = settings.model_copy(update={"data_dir": Path(tmp), "database_url": None,
                                            "keep_builds": 1})
            sessions = open_database(s.resolved_database_url)
            try:
                spaces = set(embeddings.spaces(encoder).values())
                if cache:
                    copy_cache(open_database(f"sqlite:///{cache.resolve()}"), sessions, spaces)
                status(f"{one.name}: indexing {len(one.entries)} entries…")
                reindex(s, sessions, encoder, SourceRows(entries=one.entries), COLLECTION,
                        gate=False)
                if cache:
                    copy_cache(sessions, open_database(f"sqlite:///{cache.resolve()}"), spaces)
                status(f"{one.name}: searching {len(one.calibration) + len(one.held_out)} "
                       "questions…")
                service = SearchService(s, encoder, sessions,
                                        CollectionRegistry(s, encoder, sessions, only=COLLECTION))
                found[one.name] = SetOutcomes(hittest.run(service, COLLECTION, one.calibration),
                                              hittest.run(service, COLLECTION, one.held_out))
            finally:
                dispose(s.resolved_database_url)
    return found
