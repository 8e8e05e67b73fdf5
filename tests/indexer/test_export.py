"""Export → import gives the same entries, in each of the three formats."""
from __future__ import annotations

import pytest

from indexer.export import FORMATS, export
from indexer.reindex import reindex
from indexer.sources import parse_source
from search.store import repository
from search.store.db import open_database
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, write_source

FAQ = [
    {"id": "faq/001", "question": "怎么退款", "answer": "在订单页申请，\n三个工作日内到账。",
     "similar_questions": ["退钱", "钱怎么退回来"], "category": "售后", "tags": ["退款", "钱"],
     "metadata": {"owner": "ops", "priority": 2, "links": ["a", "b"]}},
    {"id": "002", "question": "客服电话是多少", "answer": "400-000-0000"},
    {"id": "kb-1", "title": "退货政策", "text": "七天无理由退货。", "category": "政策"},
]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_export_then_import_gives_the_same_entries(settings, tmp_path, fmt: str) -> None:
    sessions = open_database(settings.resolved_database_url)
    encoder = FakeEncoder()
    reindex(settings, sessions, encoder, write_source(tmp_path / "faq.jsonl", FAQ), "default",
            console=QUIET)
    with sessions() as session:
        exported = export(session, "default", fmt)
    rows = parse_source(f"export{FORMATS[fmt][1]}", exported)
    assert not rows.errors
    assert rows.entries == parse_source("faq.jsonl", (tmp_path / "faq.jsonl").read_bytes()).entries
    # Imported into the collection it came from, nothing changes; into a new one, the same
    # entries (by content hash) are written.
    again = reindex(settings, sessions, encoder, rows, "default", full=True, console=QUIET)
    assert (again.plan.writes, again.plan.unchanged) == (0, len(FAQ))
    reindex(settings, sessions, encoder, rows, "copy", console=QUIET)
    with sessions() as session:
        hashes = [repository.document_hashes(session, repository.get_collection(session, c).id)
                  for c in ("default", "copy")]
    assert hashes[0] == hashes[1] and len(hashes[0]) == len(FAQ)
