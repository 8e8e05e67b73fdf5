"""Reading reindex sources: JSON Lines and CSV exports of an FAQ or knowledge base.

FAQ rows: ``id, question, answer, similar_questions, category, tags, metadata``; in CSV,
similar questions and tags are separated by ``|`` and metadata is a JSON object.
Knowledge-base articles are ``{id, title, text}`` rows. Every problem is reported as
``file:line: reason`` and the caller decides whether any problem stops the run.
"""
from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.config import Settings
from search.documents import FaqEntry
from search.errors import SourceError
from search.text import lone_surrogate_at, normalize

MAX_ID_LENGTH = 200


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


def read_source(path: Path, limits: EntryLimits | None = EntryLimits()) -> SourceRows:
    """Parse a ``.jsonl``/``.json``/``.csv`` file; never raises for a bad row.
    ``limits`` None checks no sizes (evaluation corpora are not served)."""
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = _jsonl_rows(path, text)
    elif suffix in (".csv", ".tsv"):
        rows = _csv_rows(path, text, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise SourceError(f"{path}: unsupported file type {suffix!r} (use .jsonl or .csv)")
    result = SourceRows()
    seen: dict[str, int] = {}
    for line, row in rows:
        if isinstance(row, str):  # a parse error already phrased
            result.errors.append(f"{path}:{line}: {row}")
            continue
        try:
            entry = to_entry(row, limits)
        except ValueError as exc:
            result.errors.append(f"{path}:{line}: {exc}")
            continue
        if entry.external_id in seen:
            result.errors.append(f"{path}:{line}: duplicate id {entry.external_id!r} "
                                 f"(first on line {seen[entry.external_id]})")
            continue
        seen[entry.external_id] = line
        result.entries.append(entry)
    return result


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")  # a BOM from Excel exports is tolerated
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = " (it looks like GBK/GB18030: convert it with `iconv -f GB18030 -t UTF-8`)" \
            if _decodes_as_gbk(raw) else ""
        raise SourceError(f"{path}:{line}: not valid UTF-8 at byte {exc.start}{hint}") from exc


def _decodes_as_gbk(raw: bytes) -> bool:
    try:
        raw.decode("gb18030")
        return True
    except UnicodeDecodeError:
        return False


def _jsonl_rows(path: Path, text: str):  # type: ignore[no-untyped-def]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON ({exc.msg} at column {exc.colno})"
            continue
        yield number, row if isinstance(row, dict) else "expected a JSON object"


def _csv_rows(path: Path, text: str, delimiter: str):  # type: ignore[no-untyped-def]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise SourceError(f"{path}:1: the header must name an 'id' column "
                          f"(found {reader.fieldnames or 'nothing'})")
    for row in reader:
        if None in row:
            yield reader.line_num, "more fields than the header names"
            continue
        yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}


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
        value = value.split("|")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key!r} must be a list of strings (or '|'-separated in CSV)")
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
