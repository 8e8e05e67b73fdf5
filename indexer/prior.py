"""The model's prior bands, fitted to the first answers of searches over labelled retrieval sets.

A collection without a hit-test set is banded with its model's prior thresholds, so the
prior must mean what a collection's own fit means: the precision of the first answer of
a search, not the precision of a pair classifier. ``outcomes`` indexes each retrieval set
(``corpus.jsonl`` and ``queries.jsonl``, the format of ``../shared/datasets``) into a
throw-away collection (indexer.evaluate.scratch_index, as ``semsearch eval retrieval``
does), searches its questions with the server's ranking, and returns what search.fit
fits. The questions:

- a query set with splits (``"split": "train"`` / ``"dev"``) is an FAQ with its history:
  the train queries become similar questions of the entries they point at (as a team's
  FAQ holds its users' paraphrases) and the dev queries are searched;
- a query set without splits gives its even-numbered queries (0, 2, 4, ...) to
  calibration and keeps the odd-numbered ones for checking the result (``held_out``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from search import hittest
from search.collections import CollectionRegistry
from search.config import Settings
from search.documents import FaqEntry
from search.encoder import TextEncoder
from search.errors import SourceError
from search.service import SearchService
from search.store.testsets import Labelled

from .evaluate import COLLECTION, corpus_entries, read_jsonl, scratch_index


@dataclass
class RetrievalSet:
    name: str
    entries: list[FaqEntry]
    calibration: list[Labelled]  # searched to fit the prior
    held_out: list[Labelled]  # searched only to check it


def read_set(folder: Path) -> RetrievalSet:
    """A retrieval set's entries and its calibration and held-out questions."""
    corpus, queries = folder / "corpus.jsonl", folder / "queries.jsonl"
    for path in (corpus, queries):
        if not path.is_file():
            raise SourceError(f"{folder} is not a retrieval set: {path.name} is missing")
    entries = {e.external_id: e for e in corpus_entries(corpus, "question")}
    rows = read_jsonl(queries)
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


def outcomes(settings: Settings, encoder: TextEncoder, sets: Sequence[RetrievalSet], *,
             cache: Path | None = None,
             status: Callable[[str], None] = lambda _: None) -> dict[str, SetOutcomes]:
    """Per set, the outcomes of its calibration and held-out questions searched with the
    server's ranking over a throw-away index of its entries. ``cache``: a SQLite file
    that keeps passage embeddings between runs."""
    found = {}
    for one in sets:
        status(f"{one.name}: indexing {len(one.entries)} entries…")
        with scratch_index(settings, encoder, one.entries, cache=cache) as (s, sessions):
            status(f"{one.name}: searching {len(one.calibration) + len(one.held_out)} "
                   "questions…")
            service = SearchService(s, encoder, sessions,
                                    CollectionRegistry(s, encoder, sessions, only=COLLECTION))
            found[one.name] = SetOutcomes(hittest.run(service, COLLECTION, one.calibration),
                                          hittest.run(service, COLLECTION, one.held_out))
    return found
