"""Hit rows in memory (search.hitrows): the database is read once per passage shown, and an
edited entry is shown as it is now."""
from __future__ import annotations

from pathlib import Path

import pytest

from indexer.reindex import reindex
from indexer.writer import DocumentWriter
from search import hitrows
from search.documents import FaqEntry
from search.service import SearchService
from search.store.db import open_database
from search.store.repository import HitRow
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The passage ids of each database read for hit rows."""
    seen: list[list[int]] = []
    real = hitrows.hit_rows

    def counted(connection, ids):
        seen.append(list(ids))
        return real(connection, ids)
    monkeypatch.setattr(hitrows, "hit_rows", counted)
    return seen


@pytest.fixture
def service(settings, tmp_path: Path) -> SearchService:
    encoder = FakeEncoder()
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, encoder, write_source(tmp_path / "faq.jsonl", SAMPLE), "default",
            console=QUIET)
    return SearchService(settings, encoder, sessions)


def test_a_search_reads_the_database_only_for_hits_not_shown_before(service: SearchService,
                                                                    reads: list[list[int]]) -> None:
    first = service.search(SAMPLE[0]["question"], top_k=3).hits
    assert len(reads) == 1 and len(reads[0]) == 3
    again = service.search(SAMPLE[0]["question"], top_k=3).hits
    assert len(reads) == 1  # all three from memory
    assert [(h.external_id, h.answer, h.matched_text) for h in again] == \
        [(h.external_id, h.answer, h.matched_text) for h in first]


def test_an_edited_entry_is_shown_as_it_is_now(service: SearchService, settings) -> None:
    entry = SAMPLE[0]
    before = service.search(entry["question"], top_k=1).hits[0]
    assert before.external_id == entry["id"] and before.answer == entry["answer"]
    writer = DocumentWriter(settings, service.encoder, service.sessions)
    writer.upsert("default", FaqEntry(entry["id"], entry["question"], "新的答案",
                                      category="新分类", tags=["改过"]))
    service.registry.refresh()
    after = service.search(entry["question"], top_k=1).hits[0]
    assert (after.external_id, after.answer, after.category, after.tags) == \
        (entry["id"], "新的答案", "新分类", ["改过"])


def _row(pid: int, answer: str) -> HitRow:
    return HitRow(pid, "question", "问题", pid, f"e{pid}", "问题", answer, None, (), {})


def test_the_rows_held_are_bounded_by_their_characters_least_recently_shown_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    table = {1: _row(1, "a" * 100), 2: _row(2, "b" * 100), 3: _row(3, "c" * 100), 4: _row(4, "d" * 5000)}
    asked: list[list[int]] = []

    def read(connection, ids):
        asked.append(list(ids))
        return {p: table[p] for p in ids if p in table}
    monkeypatch.setattr(hitrows, "hit_rows", read)
    from contextlib import nullcontext
    rows = hitrows.HitRows(max_chars=2 * hitrows._chars(table[1]))  # room for two
    connect = lambda: nullcontext(None)  # noqa: E731
    assert set(rows.get(connect, [1, 2, 99])) == {1, 2}  # 99 does not exist
    rows.get(connect, [1])  # 1 shown again: 2 is now the least recent
    rows.get(connect, [3])
    asked.clear()
    assert rows.get(connect, [1, 2, 3]).keys() == {1, 2, 3}
    assert asked == [[2]]
    assert rows.get(connect, [4])[4].answer == "d" * 5000  # bigger than the cache: read, not held
    assert len(rows) <= 2
