"""``semsearch eval retrieval``: measure search quality on a labelled retrieval set.

The corpus is indexed through the same pipeline as a reindex (expansion, cache, build)
into a throw-away database in a temporary directory, so the configured data is never
touched, and the queries go through the same SearchService as the API.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from search.config import Settings
from search.documents import FaqEntry
from search.encoder import TextEncoder
from search.errors import SourceError
from search.evaluation import band_metrics, retrieval_metrics
from search.collections import CollectionRegistry
from search.service import SearchService
from search.store import embeddings
from search.store.db import dispose, open_database

from .build import build_collection
from .writer import DocumentWriter

if TYPE_CHECKING:
    from search.builds import Identity

CorpusField = Literal["question", "answer"]
COLLECTION = "eval"


@dataclass
class RetrievalRun:
    metrics: dict
    top_scores: list[float] = field(default_factory=list)
    top_correct: list[bool] = field(default_factory=list)


def read_jsonl(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
    return rows


def corpus_entries(path: Path, corpus_field: CorpusField) -> list[FaqEntry]:
    """Documents to index. Rows in this project's FAQ format (with ``question``) are
    read as a reindex reads them; ``{"id","title","text"}`` rows put ``text`` in the
    standard question (title = category) or the answer (title = question)."""
    rows = read_jsonl(path)
    if rows and "question" in rows[0]:
        return _faq_entries(path)
    entries = []
    for row in rows:
        try:
            doc_id, title, text = str(row["id"]), row.get("title") or "", row["text"]
        except KeyError as exc:
            raise SourceError(f"{path}: corpus rows need 'id' and 'text' ({exc})") from exc
        if corpus_field == "question":
            entries.append(FaqEntry(doc_id, text, category=title or None))
        else:
            entries.append(FaqEntry(doc_id, title, answer=text))
    return entries


def _faq_entries(path: Path) -> list[FaqEntry]:
    from .sources import read_source

    rows = read_source(path, limits=None)
    if rows.errors:
        raise SourceError(f"{len(rows.errors)} invalid corpus row(s): {rows.errors[0]}")
    return rows.entries


def load_queries(path: Path, limit: int | None) -> list[tuple[str, set[str]]]:
    """``{"query", "relevant_ids": [...]}`` or ``{"query", "expected_id"}`` rows; a query
    with nothing relevant (``expected_id: null``) counts only in the band metrics."""
    out = []
    for row in read_jsonl(path)[:limit]:
        try:
            if "relevant_ids" in row:
                relevant = {str(r) for r in row["relevant_ids"]}
            else:
                relevant = {str(row["expected_id"])} if row["expected_id"] is not None else set()
            out.append((row["query"], relevant))
        except KeyError as exc:
            raise SourceError(f"{path}: query rows need 'query' and 'relevant_ids' "
                              f"or 'expected_id' ({exc})") from exc
    return out


def evaluate_retrieval(settings: Settings, encoder: TextEncoder, corpus: Path, queries: Path, *,
                       top_k: int = 10, corpus_field: CorpusField = "question",
                       variants: Sequence[dict] = ({},), limit: int | None = None,
                       cache: Path | None = None,
                       status: Callable[[str], None] = lambda _: None) -> list[RetrievalRun]:
    """Index ``corpus`` once, then run the queries under each variant (a dict of setting
    overrides such as ``{"retrieval_mode": "lexical"}``); one run per variant.

    ``cache`` names a SQLite file that keeps passage embeddings between runs, so a large
    corpus is encoded once; it is the only thing outside the temporary directory used.
    """
    entries = corpus_entries(corpus, corpus_field)
    labelled = load_queries(queries, limit)
    kinds = settings.index_kinds + (",answer" if corpus_field == "answer" else "")
    with scratch_index(settings.model_copy(update={"index_kinds": kinds}), encoder, entries,
                       cache=cache, status=status) as (s, sessions):
        status(f"encoding {len(labelled)} queries…")
        with_lexical = s.model_copy(update={"retrieval_mode": "hybrid"})
        registry = CollectionRegistry(with_lexical, encoder, sessions)  # serves every mode
        normalized = [SearchService(s, encoder, sessions, registry).normalize_query(q)
                      for q, _ in labelled]
        vectors = encoder.encode_queries(normalized)
        runs = []
        for overrides in variants:
            status(f"searching {len(labelled)} queries ({overrides or 'settings'})…")
            service = SearchService(s.model_copy(update=overrides), encoder, sessions, registry)
            runs.append(_run_queries(service, labelled, normalized, vectors, max(top_k, 10)))
        return runs


@contextmanager
def scratch_index(settings: Settings, encoder: TextEncoder, entries: Sequence[FaqEntry], *,
                  cache: Path | None = None, status: Callable[[str], None] = lambda _: None,
                  ) -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    """``entries`` written and built as collection ``COLLECTION`` in a throw-away
    database in a temporary directory: the settings that point there, and its sessions.
    ``cache``: see :func:`evaluate_retrieval`."""
    with tempfile.TemporaryDirectory(prefix="semsearch-eval-") as tmp:
        s = settings.model_copy(update={"data_dir": Path(tmp), "database_url": None,
                                        "keep_builds": 1})
        sessions = open_database(s.resolved_database_url)
        try:
            writer = DocumentWriter(s, encoder, sessions)
            spaces = set(embeddings.spaces(encoder).values())
            if cache:
                copy_cache(open_database(f"sqlite:///{cache.resolve()}"), sessions, spaces)
            status(f"indexing {len(entries)} documents…")
            writer.apply(COLLECTION, writer.plan(COLLECTION, entries, full=False))
            if cache:
                copy_cache(sessions, open_database(f"sqlite:///{cache.resolve()}"), spaces)
            build_collection(sessions, COLLECTION, _identity(encoder), encoder, s)
            yield s, sessions
        finally:
            dispose(s.resolved_database_url)


def copy_cache(source: sessionmaker[Session], target: sessionmaker[Session], spaces: set[str]) -> None:
    """Copy one model's cached embeddings (its cache spaces) between databases
    (duplicates are skipped)."""
    from sqlalchemy import select

    from search.store.embeddings import insert_rows
    from search.store.models import EmbeddingCache

    with source() as src, target.begin() as dst:
        query = select(EmbeddingCache).where(EmbeddingCache.model_id.in_(sorted(spaces)))
        batch = []
        for row in src.scalars(query.execution_options(yield_per=5000)):
            batch.append({c: getattr(row, c) for c in ("model_id", "text_hash", "dim", "vector",
                                                        "created_at")})
            if len(batch) >= 5000:
                insert_rows(dst, batch)
                batch = []
        insert_rows(dst, batch)


def _identity(encoder: TextEncoder) -> Identity:
    from search.builds import identity_for

    return identity_for(encoder)


def _run_queries(service: SearchService, labelled: list[tuple[str, set[str]]],
                 normalized: list[str], vectors: np.ndarray, top_k: int) -> RetrievalRun:
    ranked, run = [], RetrievalRun({})
    bands = []
    for (query, relevant), norm, vector in zip(labelled, normalized, vectors):
        hits = service.search_vector(query, norm, vector, collection=COLLECTION,
                                     top_k=top_k).hits
        ranked.append([h.external_id for h in hits])
        top = hits[0] if hits else None
        run.top_scores.append(top.score if top else -1.0)
        run.top_correct.append(bool(top and top.external_id in relevant))
        bands.append(top.band if top else "none")
    run.metrics = retrieval_metrics(ranked, [r for _, r in labelled])
    run.metrics.update(band_metrics(bands, run.top_correct))
    return run
