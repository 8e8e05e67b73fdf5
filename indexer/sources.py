"""Reading reindex sources and uploads: JSON Lines, CSV and Excel (.xlsx) exports of an FAQ or knowledge base.

FAQ rows: ``id, question, answer, similar_questions, category, tags, metadata``. In CSV
and XLSX the header may use the Chinese column names of an FAQ spreadsheet (问题 or
标准问题, 相似问题, 答案, 分类, 标签, …; see ``COLUMNS``); similar questions and tags are
separated by ``|`` or one per line, metadata is a JSON object, and without an id column
each entry's id is derived from its question. Knowledge-base articles are
``{id, title, text}`` rows. Every problem is reported as ``file:line: reason`` and the
caller decides whether any problem stops the run.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from search.config import Settings
from search.documents import FaqEntry
from search.errors import SourceError
from search.text import lone_surrogate_at, normalize

MAX_ID_LENGTH = 200
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".xlsx")
# Column names a spreadsheet header may use, by field (English names case-insensitive).
COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "ID号", "问题编号"),
    "question": ("question", "标准问题", "问题", "标准问"),
    "similar_questions": ("similar_questions", "相似问题", "相似问", "相似问法"),
    "answer": ("answer", "答案", "回答", "标准答案"),
    "category": ("category", "分类", "类别"),
    "tags": ("tags", "标签"),
    "metadata": ("metadata", "元数据"),
    "title": ("title", "标题"),
    "text": ("text", "正文"),
}
_FIELD_OF = {name.casefold(): key for key, names in COLUMNS.items() for name in names}
_LIST_SEPARATOR = re.compile(r"[|\n]")
Row = tuple[int, "dict[str, Any] | str"]  # (line, row or an already phrased problem)


@dataclass(frozen=True)
class EntryLimits:
    """How big one entry may be: every text is encoded on each write, so an entry with
    thousands of similar questions or a 100k-character question would hold a write (and
    the encoder) for a minute."""

    question_chars: int = 500  # the standard question and each similar question
    similar_questions: int = 100
    answer_chars: int = 20_000
    tags: int = 64

    @classmethod
    def of(cls, settings: Settings) -> "EntryLimits":
        return cls(settings.max_question_chars, settings.max_similar_questions,
                   settings.max_answer_chars, settings.max_tags)


class EntryTooLarge(ValueError):
    """A row over one of the :class:`EntryLimits` (HTTP 413 on a write)."""

    def __init__(self, message: str, field_name: str, limit: int) -> None:
        super().__init__(message)
        self.field_name, self.limit = field_name, limit


@dataclass
class SourceRows:
    entries: list[FaqEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "file:line: reason"
    ignored_columns: list[str] = field(default_factory=list)  # CSV/XLSX columns not read


def read_source(path: Path, limits: EntryLimits | None = EntryLimits()) -> SourceRows:
    """Parse a ``.jsonl``/``.json``/``.csv``/``.tsv``/``.xlsx`` file; never raises for a
    bad row. ``limits`` None checks no sizes (evaluation corpora are not served)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_source(str(path), raw, limits)


def parse_source(name: str, raw: bytes, limits: EntryLimits | None = EntryLimits()) -> SourceRows:
    """Parse a source's bytes; ``name`` (a path or an uploaded file's name) picks the
    format by its suffix and starts every problem reported."""
    suffix = Path(name).suffix.lower()
    result = SourceRows()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows: Iterator[Row] = _jsonl_rows(_decode(name, raw))
    elif suffix in (".csv", ".tsv"):
        rows = _table_rows(name, _csv_cells(name, _decode(name, raw), "\t" if suffix == ".tsv" else ","),
                           result.ignored_columns)
    elif suffix == ".xlsx":
        rows = _table_rows(name, _xlsx_cells(name, raw), result.ignored_columns)
    elif suffix == ".xls":
        raise SourceError(f"{name}: the old Excel format .xls is not read; save the sheet "
                          "as .xlsx (Excel workbook) or .csv (UTF-8)")
    else:
        raise SourceError(f"{name}: unsupported file type {suffix!r} "
                          "(use .jsonl, .csv or .xlsx)")
    seen: dict[str, int] = {}
    for line, row in rows:
        if isinstance(row, str):  # a parse error already phrased
            result.errors.append(f"{name}:{line}: {row}")
            continue
        try:
            entry = to_entry(row, limits)
        except ValueError as exc:
            result.errors.append(f"{name}:{line}: {exc}")
            continue
        if entry.external_id in seen:
            result.errors.append(f"{name}:{line}: duplicate id {entry.external_id!r} "
                                 f"(first on line {seen[entry.external_id]})")
            continue
        seen[entry.external_id] = line
        result.entries.append(entry)
    return result


def _decode(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")  # a BOM from Excel exports is tolerated
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = " (it looks like GBK/GB18030: convert it with `iconv -f GB18030 -t UTF-8`)" \
            if _decodes_as_gbk(raw) else ""
        raise SourceError(f"{name}:{line}: not valid UTF-8 at byte {exc.start}{hint}") from exc


def _decodes_as_gbk(raw: bytes) -> bool:
    try:
        raw.decode("gb18030")
        return True
    except UnicodeDecodeError:
        return False


def _jsonl_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON ({exc.msg} at column {exc.colno})"
            continue
        yield number, row if isinstance(row, dict) else "expected a JSON object"


def _csv_cells(name: str, text: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    """Each row's (last) line number and cells. Strict quoting: a quote left open would read the
    rest of the file into one cell, rows and all, so the file is refused instead."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for cells in reader:
            yield reader.line_num, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SourceError(f"{name}:{start}: malformed CSV from this row on ({exc}); a cell that "
                          'opens a quote (") must close it, and a quote inside one is written ""') from exc


def _xlsx_cells(name: str, raw: bytes) -> Iterator[tuple[int, list[Any]]]:
    """The first sheet's rows; a cell merged over several rows or columns below the
    header counts in each of them (a category merged down a block of rows)."""
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(raw), data_only=True).worksheets[0]
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceError(f"{name}: not a readable Excel .xlsx workbook ({exc})") from exc
    merged = list(sheet.merged_cells.ranges)
    header = [str(r) for r in merged if r.min_row == 1]
    if header:
        raise SourceError(f"{name}:1: the header row has merged cells ({', '.join(header)}); "
                          "unmerge them so that each column has its own name")
    grid = [list(row) for row in sheet.iter_rows(values_only=True)]
    for span in merged:
        value = grid[span.min_row - 1][span.min_col - 1]
        for r in range(span.min_row - 1, min(span.max_row, len(grid))):
            for c in range(span.min_col - 1, min(span.max_col, len(grid[r]))):
                grid[r][c] = value
    for number, row in enumerate(grid, start=1):
        yield number, row


def _cell(value: Any) -> str:
    """A spreadsheet cell as text: 101 (or 101.0) is "101", a date its ISO form."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _table_rows(name: str, cells: Iterator[tuple[int, list[Any]]],
                ignored: list[str]) -> Iterator[Row]:
    """Rows of a CSV or sheet whose first non-empty line is the header; the names of
    columns that mean nothing here go to ``ignored``."""
    fields: list[str | None] | None = None
    for line, row in cells:
        texts = [_cell(v).strip() for v in row]
        if not any(texts):
            continue
        if fields is None:
            fields = _header(name, line, texts)
            ignored.extend(n for n, f in zip(texts, fields) if n and f is None)
            continue
        if any(t for t in texts[len(fields):]):
            yield line, "more fields than the header names"
            continue
        found = {f: t for f, t in zip(fields, texts) if f is not None and t}
        if "id" not in fields:
            basis = found.get("question") or found.get("title") or ""
            found["id"] = "q-" + hashlib.sha1(normalize(basis).encode()).hexdigest()[:12]
        yield line, found
    if fields is None:
        raise SourceError(f"{name}: the file is empty (the first row must name the columns)")


def _header(name: str, line: int, names: list[str]) -> list[str | None]:
    fields = [_FIELD_OF.get(n.casefold()) for n in names]
    for key in set(f for f in fields if f):
        if fields.count(key) > 1:
            raise SourceError(f"{name}:{line}: two columns mean {key!r} "
                              f"({', '.join(n for n, f in zip(names, fields) if f == key)})")
    if "question" not in fields and "title" not in fields:
        raise SourceError(
            f"{name}:{line}: the header has no question column: name one 问题, 标准问题 or "
            f"question (found {', '.join(repr(n) for n in names if n) or 'nothing'})")
    return fields


def _text(row: dict[str, Any], key: str, required: bool = False) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"missing {key!r}")
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(f"{key!r} must be a string, got {type(value).__name__}")
    return str(value).strip()


def _string_list(row: dict[str, Any], key: str) -> list[str]:
    value = row.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = _LIST_SEPARATOR.split(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key!r} must be a list of strings (or '|'-separated, or one per "
                         "line, in CSV and XLSX)")
    return [v.strip() for v in value if v.strip()]


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    value = row.get("metadata")
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"'metadata' is not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ValueError("'metadata' must be a JSON object")
    return value


def _check_metadata(value: Any, where: str = "metadata") -> None:
    """JSON has no NaN or Infinity: a value that cannot be written back is refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"'{where}' is {value}: JSON numbers must be finite")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_metadata(item, f"{where}.{key}")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_metadata(item, f"{where}[{i}]")


def _check_id(external_id: str) -> str:
    if len(external_id) > MAX_ID_LENGTH:
        raise EntryTooLarge(f"'id' is {len(external_id)} characters; the limit is "
                            f"{MAX_ID_LENGTH}", "id", MAX_ID_LENGTH)
    if any(unicodedata.category(c) == "Cc" for c in external_id):
        raise ValueError("'id' contains control characters")
    return external_id


def _check_sizes(entry: FaqEntry, limits: EntryLimits) -> None:
    def over(what: str, size: int, limit: int, unit: str = "characters") -> None:
        if size > limit:
            raise EntryTooLarge(f"{what} is {size} {unit}; the limit is {limit}", what, limit)

    over("question", len(entry.question), limits.question_chars)
    over("similar_questions", len(entry.similar_questions), limits.similar_questions, "questions")
    for i, similar in enumerate(entry.similar_questions):
        over(f"similar_questions[{i}]", len(similar), limits.question_chars)
    over("answer", len(entry.answer), limits.answer_chars)
    over("tags", len(entry.tags), limits.tags, "tags")


def to_entry(row: dict[str, Any], limits: EntryLimits | None = EntryLimits()) -> FaqEntry:
    """Validate one row (FAQ or article) and turn it into an entry."""
    found = lone_surrogate_at(row)
    if found:
        raise ValueError(f"{found} contains a lone UTF-16 surrogate (invalid Unicode)")
    external_id = _check_id(_text(row, "id", required=True))
    _check_metadata(row.get("metadata"))
    if "question" not in row and "title" in row:  # knowledge-base article
        entry = FaqEntry(external_id, _text(row, "title", True), _text(row, "text", True),
                         category=_text(row, "category") or None, tags=_string_list(row, "tags"),
                         metadata=_metadata(row), doc_type="article")
    else:
        entry = _faq_entry(external_id, row)
    if not normalize(entry.question):
        raise ValueError("'question' is empty once invisible and control characters are removed")
    if limits is not None:
        _check_sizes(entry, limits)
    return entry


def _faq_entry(external_id: str, row: dict[str, Any]) -> FaqEntry:
    return FaqEntry(
        external_id=external_id,
        question=_text(row, "question", required=True),
        answer=_text(row, "answer"),
        similar_questions=[q for q in _string_list(row, "similar_questions") if normalize(q)],
        category=_text(row, "category") or None,
        tags=_string_list(row, "tags"),
        metadata=_metadata(row),
    )
