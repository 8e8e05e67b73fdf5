"""SQLAlchemy models. SQLite is the source of truth; the FAISS index is derived.

Passage ids are the vector ids in the index, so they are never reused
(``sqlite_autoincrement``). Every write appends to ``changes`` in the same transaction:
servers follow that log from the watermark their loaded build records, which is how an
index catches up after a restart, a crash or a write made through another worker.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments INTEGER PRIMARY KEY columns; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The collection's own bands and ranking (search.tuning.tuning_from_json reads them),
    # from `semsearch calibrate --collection` or set by hand; None: the model's prior.
    bands: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class TestQuestion(Base):
    """A labelled question of a collection's hit-test set: the entries that answer it
    (``expected``), or none at all (an empty list: it must not be answered)."""

    __tablename__ = "test_questions"
    __test__ = False  # not a pytest class, whatever its name
    __table_args__ = (UniqueConstraint("collection_id", "query"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    query: Mapped[str] = mapped_column(Text)
    expected: Mapped[list] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(16), default="import")  # import | page | api
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Document(Base):
    """One FAQ entry (or knowledge-base article: question = title, answer = text)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("collection_id", "external_id"),
                      Index("ix_documents_category", "collection_id", "category"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    doc_type: Mapped[str] = mapped_column(String(16), default="faq")  # faq | article
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    similar_questions: Mapped[list] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    meta: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    passages: Mapped[list["Passage"]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True)
    tag_rows: Mapped[list["DocumentTag"]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True)


class DocumentTag(Base):
    """Tags as rows, so that tag filters are plain SQL on every database."""

    __tablename__ = "document_tags"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class Passage(Base):
    __tablename__ = "passages"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # question | similar | answer | chunk
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))

    document: Mapped[Document] = relationship(back_populates="passages")


class Change(Base):
    """Append-only log of passages added to or removed from a collection."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_collection_seq", "collection_id", "seq"),
                      {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[int] = mapped_column(Integer)
    passage_id: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(8))  # add | remove
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndexBuild(Base):
    __tablename__ = "index_builds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"),
                                               index=True)
    backend: Mapped[str] = mapped_column(String(16), default="faiss")
    model_id: Mapped[str] = mapped_column(String(300))
    dim: Mapped[int] = mapped_column(Integer)
    pooling: Mapped[str] = mapped_column(String(16))
    normalization: Mapped[str] = mapped_column(String(64))
    index_kind: Mapped[str] = mapped_column(String(64))
    nlist: Mapped[int] = mapped_column(Integer, default=0)
    nprobe: Mapped[int] = mapped_column(Integer, default=0)
    vector_count: Mapped[int] = mapped_column(Integer)
    file: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    recall_at_10: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    bands: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # served with this build
    # The hit-test set's result on this build when it was made: metrics and each
    # question's first answer (`semsearch eval testset --against BUILD` compares with it).
    evaluation: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class BuildSnapshot(Base):
    """The entries a build was made from (gzipped JSON Lines of FaqEntry fields), so that
    activating the build again can bring them back (``semsearch builds activate``)."""

    __tablename__ = "build_snapshots"

    build_id: Mapped[int] = mapped_column(
        ForeignKey("index_builds.id", ondelete="CASCADE"), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class EmbeddingCache(Base):
    """Vectors by (model, hash of the exact text fed to the model)."""

    __tablename__ = "embedding_cache"

    model_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SearchLogEntry(Base):
    """One question asked through ``/v1/search`` (or a batch), what it got, and its
    vector (for grouping the questions that went unanswered). Written off the request
    path by api.searchlog; kept ``search_log_days``."""

    __tablename__ = "search_log"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the response's search_id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    collection: Mapped[str] = mapped_column(String(200), index=True)
    query: Mapped[str] = mapped_column(Text)
    normalized_query: Mapped[str] = mapped_column(Text)
    top: Mapped[list] = mapped_column(JSON, default=list)  # up to 3 [entry id, score]
    top_band: Mapped[str] = mapped_column(String(8))  # the first hit's band; none: no hit
    took_ms: Mapped[float] = mapped_column(Float)
    user: Mapped[str | None] = mapped_column(String(200), nullable=True)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32


class Feedback(Base):
    """A user's verdict on a logged search: helpful or not, and which entry was right
    (None with ``helpful`` False: none fits)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    helpful: Mapped[bool] = mapped_column(Boolean)
    entry_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
