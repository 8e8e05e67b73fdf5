from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from indexer.sources import parse_source, read_source
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
    path = tmp_path / "faq.docx"
    path.write_bytes(b"PK")
    with pytest.raises(SourceError, match="unsupported file type"):
        read_source(path)
    with pytest.raises(SourceError, match="faq.xlsx: not a readable Excel .xlsx workbook"):
        parse_source("faq.xlsx", b"PK")
    with pytest.raises(SourceError, match=r"\.xls is not read; save the sheet as \.xlsx"):
        parse_source("faq.xls", b"")


def _workbook(rows: list[list], merge: tuple[str, ...] = ()) -> bytes:
    sheet_book = Workbook()
    sheet = sheet_book.active
    for row in rows:
        sheet.append(row)
    for span in merge:
        sheet.merge_cells(span)
    buffer = io.BytesIO()
    sheet_book.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_chinese_headers_lines_and_a_merged_category() -> None:
    raw = _workbook([["标准问题", "相似问题", "答案", "分类", "标签", "备注"],
                     ["怎么退款", "退钱\n怎么退|退款流程", "在订单页申请", "售后", "退款", "旧"],
                     ["多久到账", None, "三天", None, None, None],
                     [None, None, None, None, None, None],
                     [101, None, 3.0, "其他", None, None]], merge=("D2:D3",))
    rows = parse_source("faq.xlsx", raw)
    assert not rows.errors and rows.ignored_columns == ["备注"]
    refund, arrival, number = rows.entries
    assert refund.similar_questions == ["退钱", "怎么退", "退款流程"] and refund.tags == ["退款"]
    assert arrival.category == "售后"  # the merged cell counts in each row it covers
    assert (number.question, number.answer) == ("101", "3")
    assert refund.external_id.startswith("q-") and refund.external_id != arrival.external_id
    assert parse_source("again.xlsx", raw).entries[0].external_id == refund.external_id


def test_xlsx_header_problems_are_refused_with_the_reason() -> None:
    merged = _workbook([["问题", None, "答案"], ["怎么退款", "x", "申请"]], merge=("A1:B1",))
    with pytest.raises(SourceError, match=r"faq.xlsx:1: the header row has merged cells \(A1:B1\)"):
        parse_source("faq.xlsx", merged)
    no_question = _workbook([["编号", "答案"], ["a1", "申请"]])
    with pytest.raises(SourceError, match="no question column: name one 问题, 标准问题 or question"):
        parse_source("faq.xlsx", no_question)
    twice = _workbook([["问题", "标准问题"], ["a", "b"]])
    with pytest.raises(SourceError, match="two columns mean 'question'"):
        parse_source("faq.xlsx", twice)
    with pytest.raises(SourceError, match="the file is empty"):
        parse_source("faq.xlsx", _workbook([]))


def test_csv_rows_with_more_cells_than_the_header_are_reported() -> None:
    rows = parse_source("faq.csv", "id,question\na1,怎么退款,多余\na2,多久到账\n".encode())
    assert [e.external_id for e in rows.entries] == ["a2"]
    assert rows.errors == ["faq.csv:2: more fields than the header names"]


def test_a_quote_left_open_refuses_the_csv_rather_than_swallowing_its_rows() -> None:
    """Without strict quoting, the rows after an unclosed quote became part of one cell
    and the file was indexed as fewer, wrong entries."""
    text = 'id,question,answer\na1,怎么退款,"在订单页申请\na2,多久到账,三到五天\na3,怎么改地址,订单页\n'
    with pytest.raises(SourceError, match=r'^faq\.csv:2: malformed CSV from this row on .*opens a quote'):
        parse_source("faq.csv", text.encode())
    ok = parse_source("faq.csv", 'id,question,answer\na1,怎么退款,"说 ""你好""\n再申请"\n'.encode())
    assert not ok.errors and ok.entries[0].answer == '说 "你好"\n再申请'
