"""The in-memory passage table, and a search's one trip to the database."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlalchemy import event

from indexer.writer import DocumentWriter
from search.documents import FaqEntry
from search.passages import KIND_CODES, PassageTable
from search.service import SearchService
from tests.conftest import REPO
from tests.indexer.test_insights import index_faq

Q, S = KIND_CODES["question"], KIND_CODES["similar"]


def table() -> PassageTable:
    # entry 10: passages 1, 2, 5; entry 20: 3; entry 30: 4
    return PassageTable.of_rows([(5, 10, "similar"), (1, 10, "question"), (3, 20, "question"),
                                 (2, 10, "similar"), (4, 30, "question")])


def test_lookup_and_passages_of_a_build() -> None:
    t = table()
    entries, kinds = t.lookup(np.array([4, 1, 99, 5]))
    assert entries.tolist() == [30, 10, -1, 10] and kinds.tolist()[:2] == [Q, Q]
    assert kinds.tolist()[3] == S
    pids, owners = t.passages_of(np.array([20, 10, 77]))
    assert pids.tolist() == [3, 1, 2, 5] and owners.tolist() == [20, 10, 10, 10]
    assert len(t) == 5


def test_online_writes_change_only_what_they_name_and_replay_is_idempotent() -> None:
    t = table()
    t.apply({6: (20, "similar"), 7: (40, "question")}, removed=[2, 4])
    for _ in range(2):  # a change log replayed again changes nothing
        assert t.lookup(np.array([2, 4, 6, 7, 1]))[0].tolist() == [-1, -1, 20, 40, 10]
        pids, owners = t.passages_of(np.array([10, 20, 30, 40]))
        assert pids.tolist() == [1, 5, 3, 6, 7] and owners.tolist() == [10, 10, 20, 20, 40]
        assert len(t) == 5
        t.apply({6: (20, "similar"), 7: (40, "question")}, removed=[2, 4])
    t.apply({}, removed=[6, 1])  # a passage written online, then one of the build
    assert t.passages_of(np.array([10, 20]))[0].tolist() == [5, 3]
    assert t.lookup(np.array([6, 1]))[0].tolist() == [-1, -1] and len(t) == 3


def sample(n: int) -> list[dict]:
    return [json.loads(line) for line in
            (REPO / "data" / "faq_sample.jsonl").read_text("utf-8").splitlines()[:n]]


def test_an_unfiltered_search_reads_only_the_hits_shown(settings, tmp_path: Path) -> None:
    rows = sample(40)
    sessions, encoder, service = index_faq(settings, tmp_path, rows)
    statements: list[tuple] = []  # (statement, parameters)
    engine = sessions.kw["bind"]
    listen = lambda *args: statements.append(args[2:4])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        for mode in ("hybrid", "dense", "lexical"):
            searcher = SearchService(settings.model_copy(update={"retrieval_mode": mode}),
                                     encoder, sessions, service.registry)
            statements.clear()
            hits = searcher.search(rows[3]["question"], top_k=3).hits
            assert hits[0].external_id == rows[3]["id"], mode
            # one query, for the fields of the hits shown only: the ranking reads none
            assert len(statements) == 1 and len(statements[0][1]) <= 3, (mode, statements)
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def test_a_write_reaches_the_table_and_the_next_search(settings, tmp_path: Path) -> None:
    rows = sample(20)
    sessions, encoder, service = index_faq(settings, tmp_path, rows)
    writer = DocumentWriter(settings, encoder, sessions)
    writer.upsert("default", FaqEntry(rows[0]["id"], rows[0]["question"],
                                      similar_questions=["数字人民币能不能付款"], answer="…"))
    service.registry.refresh()
    hit = service.search("数字人民币能不能付款", top_k=1).hits[0]
    assert hit.external_id == rows[0]["id"] and hit.matched_text == "数字人民币能不能付款"
    writer.delete("default", rows[0]["id"])
    service.registry.refresh()
    assert rows[0]["id"] not in {h.external_id for h in service.search("数字人民币能不能付款").hits}
