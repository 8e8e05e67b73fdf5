"""Request and response schemas (kept apart from ORM rows and domain types)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from search.text import lone_surrogate_at

BandName = Literal["high", "medium", "low", "none"]
MAX_FILTER_TAGS = 64


class Request(BaseModel):
    """Every request body: text must be valid Unicode, checked once here for all fields."""

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        found = lone_surrogate_at(data)
        if found:  # the message never repeats the text: it could not be encoded
            raise ValueError(f"{found} contains a lone UTF-16 surrogate (an unpaired "
                             "\\ud800-\\udfff escape); send valid Unicode text")
        return data


class Strict(Request):
    """Requests reject wrong JSON types and unknown fields instead of guessing."""

    model_config = ConfigDict(strict=True, extra="forbid")


def _whole_number(value: Any) -> Any:
    """JSON Schema's integers include 3.0; booleans are not numbers here."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
# A text to encode: at least one visible character (the schema says so, so that clients
# and fuzzers know an empty question is refused).
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]


class SearchOptions(Strict):
    top_k: WholeNumber = Field(5, ge=1, le=100, description="Entries to return (1–100).")
    collection: str | None = Field(None, max_length=200,
                                   description="Collection; default from settings.")
    category: str | None = Field(None, max_length=200, description="Only entries of this category.")
    tags: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=MAX_FILTER_TAGS,
        description=f"Only entries with all these tags (at most {MAX_FILTER_TAGS}).")
    min_band: BandName | None = Field(None, description="Drop hits below this band.")
    min_score: float | None = Field(None, ge=-1.0, le=1.0, description="Drop hits below this cosine.")


class SearchRequest(SearchOptions):
    query: Text = Field(..., description="The user's question.", examples=["密码忘了怎么办"])
    user: str | None = Field(None, max_length=200,
                             description="Who asked (any id of yours), kept in the search log.")


class BatchSearchRequest(SearchOptions):
    queries: list[Text] = Field(..., min_length=1)
    user: str | None = Field(None, max_length=200,
                             description="Who asked (any id of yours), kept in the search log.")


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
    rank_score: float = Field(description="What the hits are ordered by. In the default "
                              "hybrid mode it fuses the cosine (corrected for hubness) with "
                              "BM25, so the order can differ from `score`; `score` and `band` "
                              "are the raw cosine of the best matching phrasing.")


class SearchResponse(BaseModel):
    query: str
    normalized_query: str
    hits: list[Hit]
    thresholds: dict[str, float]
    model: str
    build_id: int | None
    took_ms: float
    search_id: str | None = Field(None, description="This search in the search log (for "
                                  "POST /v1/feedback); null when the log is off.")


class FeedbackIn(Strict):
    search_id: str = Field(..., pattern=r"^[0-9a-f]{32}$",
                           description="The search_id of a search response.")
    helpful: bool
    entry_id: str | None = Field(None, min_length=1, max_length=200,
                                 description="The entry that was right (with helpful false); "
                                 "omit it when none fits.")
    comment: str | None = Field(None, max_length=2000)


class ApplyIn(Strict):
    group_id: str = Field(..., min_length=1, max_length=64)
    action: Literal["add_similar", "new_entry"]
    entry_id: str | None = Field(None, min_length=1, max_length=200,
                                 description="add_similar: the entry (default: the suggested "
                                 "one); new_entry: the new entry's id.")
    answer: str | None = Field(None, max_length=20_000, description="new_entry: its answer.")
    since: str | None = Field(None, max_length=40, description="The window the group was "
                              "listed with (as GET insights).")
    until: str | None = Field(None, max_length=40)


class GroupTextsIn(Strict):
    texts: list[Text] = Field(..., min_length=1)
    threshold: float | None = Field(None, ge=-1.0, le=1.0, description="Cosine at which texts "
                                    "group; default: the collection's (or model's) band.")
    collection: str | None = Field(None, max_length=200,
                                   description="Whose thresholds give the default.")


class TextGroup(BaseModel):
    size: int
    representative: str
    indices: list[int]
    texts: list[str]


class GroupTextsOut(BaseModel):
    threshold: float
    texts: int
    groups: list[TextGroup]


class BatchSearchResponse(BaseModel):
    results: list[SearchResponse]
    took_ms: float


class SimilarityRequest(Strict):
    source: Text
    candidates: list[Text] = Field(..., min_length=1)


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


class EmbeddingsRequest(Request):
    """OpenAI-compatible; ``input_type`` is an extension (query adds the query prefix)."""

    model_config = ConfigDict(extra="ignore")

    input: Text | list[Text] = Field(description="One text or a list of texts.")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: WholeNumber | None = None
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
    question: Text
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


class DocumentPage(BaseModel):
    total: int  # entries that match q and category
    offset: int
    limit: int
    items: list[DocumentOut]


class CollectionOut(BaseModel):
    name: str
    documents: int
    passages: int
    build_id: int | None
    indexed_vectors: int | None
    categories: list[str]


class TestQuestionIn(Strict):
    __test__ = False  # not a pytest class, whatever its name
    query: Text = Field(max_length=1000)
    expected_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100,
        description="The entries that answer it; empty: it must not be answered.")
    expected: Literal["none"] | None = Field(
        None, description='"none": it must not be answered (as in the JSONL files).')

    @model_validator(mode="after")
    def _one_answer(self) -> TestQuestionIn:
        if self.expected == "none" and self.expected_ids:
            raise ValueError('give expected_ids or expected: "none", not both')
        return self


class TestSetIn(Strict):
    __test__ = False
    questions: list[TestQuestionIn] = Field(min_length=1, max_length=10_000)
    replace: bool = Field(False, description="Replace the whole set instead of adding.")


class TestSetOut(BaseModel):
    __test__ = False
    collection: str
    count: int
    answerable: int
    questions: list[TestQuestionIn]


class ThresholdsIn(Strict):
    high: float = Field(ge=-1, le=1.01)
    medium: float = Field(ge=-1, le=1.01)
    low: float = Field(ge=-1, le=1.01)
    margin: float = Field(0.0, ge=0, le=1)


class BandsIn(ThresholdsIn):
    passages: ThresholdsIn | None = Field(None, description=(
        "Thresholds for hits matched on an answer or an article chunk (default: the "
        "model's prior)."))


class BandsOut(BaseModel):
    collection: str
    thresholds: dict[str, float]
    passage_thresholds: dict[str, float]
    ranking: dict[str, Any]
    source: Literal["calibrated", "manual", "model"]
    report: dict[str, Any] = {}


class PredictRequest(Request):
    data: list[str | bool] = Field(min_length=2, description=(
        '[source, "cand1\\ncand2"] for scores; [text, "", true/false…] for a vector; '
        "[s1, c1, s2, c2, …] for several score groups"))


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody
