"""Request and response schemas (kept apart from ORM rows and domain types)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BandName = Literal["high", "medium", "low", "none"]


class Strict(BaseModel):
    """Requests reject wrong JSON types and unknown fields instead of guessing."""

    model_config = ConfigDict(strict=True, extra="forbid")


class SearchOptions(Strict):
    top_k: int = Field(5, ge=1, le=100, description="Entries to return (1–100).")
    collection: str | None = Field(None, description="Collection; default from settings.")
    category: str | None = Field(None, description="Only entries of this category.")
    tags: list[str] = Field(default_factory=list, description="Only entries with all these tags.")
    min_band: BandName | None = Field(None, description="Drop hits below this band.")
    min_score: float | None = Field(None, ge=-1.0, le=1.0, description="Drop hits below this cosine.")


class SearchRequest(SearchOptions):
    query: str = Field(..., description="The user's question.", examples=["密码忘了怎么办"])


class BatchSearchRequest(SearchOptions):
    queries: list[str] = Field(..., min_length=1)


class Hit(BaseModel):
    id: int
    external_id: str
    question: str
    answer: str
    category: str | None
    tags: list[str]
    score: float
    band: BandName
    band_label: str
    matched_text: str
    matched_kind: str
    metadata: dict[str, Any] = {}
    ambiguous: bool = Field(False, description="Another entry reached `high` too, so this "
                            "hit was lowered to `medium`: which entry is meant is unclear.")


class SearchResponse(BaseModel):
    query: str
    normalized_query: str
    hits: list[Hit]
    thresholds: dict[str, float]
    model: str
    build_id: int | None
    took_ms: float


class BatchSearchResponse(BaseModel):
    results: list[SearchResponse]
    took_ms: float


class SimilarityRequest(Strict):
    source: str
    candidates: list[str] = Field(..., min_length=1)


class SimilarityScore(BaseModel):
    index: int
    text: str
    score: float
    band: BandName
    band_label: str


class SimilarityResponse(BaseModel):
    source: str
    scores: list[SimilarityScore]
    thresholds: dict[str, float]
    model: str
    took_ms: float


class EmbeddingsRequest(BaseModel):
    """OpenAI-compatible; ``input_type`` is an extension (query adds the query prefix)."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    input_type: Literal["query", "question", "passage"] = "query"
    user: str | None = None


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: Usage


class DocumentIn(Strict):
    question: str = Field(..., min_length=1)
    answer: str = ""
    similar_questions: list[str] = Field(default_factory=list)
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentOut(BaseModel):
    id: int
    collection: str
    external_id: str
    question: str
    answer: str
    similar_questions: list[str]
    category: str | None
    tags: list[str]
    metadata: dict[str, Any]
    updated_at: str


class CollectionOut(BaseModel):
    name: str
    documents: int
    passages: int
    build_id: int | None
    indexed_vectors: int | None
    categories: list[str]


class PredictRequest(BaseModel):
    data: list[Any]


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody
