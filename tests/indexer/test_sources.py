from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.sources import read_source
from search.errors import SourceError


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                            for r in rows), encoding="utf-8")
    return path


def test_jsonl_rows_become_entries(tmp_path: Path) -> None:
    rows = read_source(_jsonl(tmp_path / "faq.jsonl", [
        {"id": "a1", "question": "怎么退款", "answer": "在订单页申请", "similar_questions": ["退钱"],
         "category": "退款", "tags": ["退款"], "metadata": {"owner": "ops"}},
        {"id": "k1", "title": "退货政策", "text": "七天无理由退货。"},
    ]))
    assert not rows.errors
    faq, article = rows.entries
    assert (faq.external_id, faq.similar_questions, faq.metadata) == ("a1", ["退钱"], {"owner": "ops"})
    assert article.doc_type == "article" and article.answer == "七天无理由退货。"


def test_csv_with_bom_and_pipe_separated_lists(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes("\ufeffid,question,answer,similar_questions,category,tags,metadata\n"
                     'a1,怎么退款,申请即可,退钱|怎么退,退款,退款|售后,"{""k"": 1}"\n'.encode("utf-8"))
    rows = read_source(path)
    assert not rows.errors
    entry = rows.entries[0]
    assert entry.similar_questions == ["退钱", "怎么退"] and entry.tags == ["退款", "售后"]
    assert entry.metadata == {"k": 1}


def test_bad_rows_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "faq.jsonl", [
        {"id": "ok", "question": "好的"},
        "{not json",
        {"question": "没有 id"},
        {"id": "x", "question": "q", "similar_questions": 5},
        {"id": "ok", "question": "重复"},
        {"id": "y", "question": "   "},
    ])
    rows = read_source(path)
    assert [e.external_id for e in rows.entries] == ["ok"]
    assert [e.split(": ", 1)[0] for e in rows.errors] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6)]
    assert "invalid JSON" in rows.errors[0] and "missing 'id'" in rows.errors[1]
    assert "duplicate id 'ok'" in rows.errors[3]


def test_gbk_file_gets_a_clear_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes("id,question\na1,怎么退款\n".encode("gbk"))
    with pytest.raises(SourceError, match="not valid UTF-8.*GBK"):
        read_source(path)


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "faq.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(SourceError, match="unsupported file type"):
        read_source(path)
