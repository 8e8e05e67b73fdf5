"""Domain types for documents and their passages (no database, no model code)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

PassageKind = Literal["question", "similar", "answer", "chunk"]
PASSAGE_KINDS: tuple[PassageKind, ...] = ("question", "similar", "answer", "chunk")
QUESTION_KINDS: tuple[PassageKind, ...] = ("question", "similar")
StoredRole = Literal["question", "passage"]
STORED_ROLES: tuple[StoredRole, ...] = ("question", "passage")  # how stored text is encoded; see role_of


def role_of(kind: str) -> StoredRole:
    """How a passage is encoded: standard and similar questions as ``question``, answers
    and their chunks as ``passage`` (the model profile maps each role to its prefix)."""
    return "question" if kind in QUESTION_KINDS else "passage"


@dataclass
class FaqEntry:
    """One FAQ entry, or a knowledge-base article (``doc_type="article"``: question is
    the title and answer the text)."""

    external_id: str
    question: str
    answer: str = ""
    similar_questions: list[str] = field(default_factory=list)
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    doc_type: str = "faq"

    def content_hash(self, expansion: str = "") -> str:
        """Stable hash of everything that affects passages or what a search returns.

        ``expansion`` names how entries become passages (normalisation rules, indexed
        kinds, chunk sizes): an entry stored under other rules is then "changed" and a
        reindex expands it again, instead of keeping passages the rules no longer make.
        """
        payload = asdict(self)
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256((blob + expansion).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PassageSpec:
    kind: PassageKind
    ordinal: int
    text: str  # normalised text, without the model's prefix


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
