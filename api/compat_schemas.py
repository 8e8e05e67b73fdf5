"""Schemas of the integration routes, each after its protocol's published contract: Dify's
external knowledge API, text-embeddings-inference (TEI), Cohere/Jina rerank, OpenAI models.

Unlike semsearch's own requests these ignore unknown fields, as the services they mimic
do: a client that sends a newer field still gets an answer.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .schemas import Request, Text, WholeNumber

Name = Annotated[str, Field(min_length=1, max_length=200)]
Value = Annotated[str, Field(max_length=200)]


class Lenient(Request):
    model_config = ConfigDict(extra="ignore")


# --- Dify external knowledge API --------------------------------------------------------
DIFY_OPERATORS = ("contains", "not contains", "start with", "end with", "is", "is not", "in",
                  "not in", "empty", "not empty", "=", "≠", ">", "<", "≥", "≤", "before", "after")
DifyOperator = Literal["contains", "not contains", "start with", "end with", "is", "is not", "in",
                       "not in", "empty", "not empty", "=", "≠", ">", "<", "≥", "≤", "before",
                       "after"]


class DifyCondition(Lenient):
    name: Name | list[Name] = Field(description="The field: category, tags, band, entry_id, "
                                    "score or a key of the entry's metadata (a list: any of them).")
    comparison_operator: DifyOperator
    value: Value | float | list[Value] | None = Field(
        None, description="Omitted for empty and not empty; a list for in and not in.")


class DifyMetadataCondition(Lenient):
    logical_operator: Literal["and", "or"] = "and"
    conditions: list[DifyCondition] = Field(..., max_length=64)


class DifyRetrievalSetting(Lenient):
    top_k: WholeNumber = Field(..., ge=1, le=100, description="Records to return (1–100).")
    score_threshold: float | None = Field(0.0, ge=0.0, le=1.0,
                                          description="Drop records below this score (0: keep all).")


class DifyRetrievalRequest(Lenient):
    knowledge_id: Name = Field(..., description="The collection to search.", examples=["default"])
    query: Text = Field(..., description="The user's question.", examples=["退款多久能到账"])
    retrieval_setting: DifyRetrievalSetting
    metadata_condition: DifyMetadataCondition | None = None


class DifyRecord(BaseModel):
    content: str = Field(description="The entry's question and answer.")
    score: float = Field(description="The cosine of the best matching phrasing, within 0–1.")
    title: str = Field(description="The entry's question.")
    metadata: dict[str, Any] = Field(description="entry_id, band, band_label, category, tags, "
                                     "matched_text, collection and the entry's own metadata.")


class DifyRetrievalResponse(BaseModel):
    records: list[DifyRecord]


class DifyError(BaseModel):
    error_code: int
    error_msg: str


# --- text-embeddings-inference ------------------------------------------------------------
TeiInput = Annotated[Text | list[Text], Field(description="One text or a list of texts.")]
Direction = Literal["left", "right", "Left", "Right"]
PROMPT_NAMES = ("query", "question", "passage", "document")
PromptName = Annotated[str | None, Field(max_length=50, description=(
    "The role the texts are encoded in: query (the default), question (a stored question) or "
    "passage/document. With e5 models it picks the `query: ` or `passage: ` prefix."))]


class TeiEncodeOptions(Lenient):
    truncate: bool | None = Field(False, description="Cut inputs longer than the model's "
                                  "maximum instead of refusing them (413).")
    truncation_direction: Direction = "right"
    prompt_name: PromptName = None


class TeiEmbedRequest(TeiEncodeOptions):
    inputs: TeiInput
    normalize: bool = Field(True, description="Vectors are L2-normalised; false is refused.")


class TeiSimilarityInput(Lenient):
    source_sentence: Text = Field(..., examples=["退款多久能到账"])
    sentences: list[Text] = Field(..., min_length=1, examples=[["退款几天能到", "怎么修改密码"]])


class TeiSimilarityRequest(Lenient):
    inputs: TeiSimilarityInput
    parameters: TeiEncodeOptions | None = None


class TeiParameters(TeiEncodeOptions):
    normalize: bool = True


class TeiDefaultRequest(TeiEncodeOptions):
    """``POST /``: TEI's default route; a similarity body when ``inputs`` is an object."""

    inputs: TeiInput | TeiSimilarityInput
    normalize: bool = True
    parameters: TeiParameters | None = Field(None, description="huggingface_hub's "
                                             "InferenceClient sends its options here.")


class TeiRerankRequest(TeiEncodeOptions):
    query: Text = Field(..., examples=["退款多久能到账"])
    texts: list[Text] = Field(..., min_length=1, examples=[["退款几天能到", "怎么修改密码"]])
    raw_scores: bool = Field(False, description="The cosine itself; otherwise clipped to 0–1.")
    return_text: bool = False


class TeiRank(BaseModel):
    index: int
    score: float
    text: str | None = None


class TeiTokenizeRequest(Lenient):
    inputs: Annotated[str, Field(max_length=100_000)] | list[Annotated[str, Field(max_length=100_000)]]
    add_special_tokens: bool = True
    prompt_name: PromptName = None


class TeiToken(BaseModel):
    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


class TeiError(BaseModel):
    error: str
    error_type: Literal["Unhealthy", "Backend", "Overloaded", "Validation", "Tokenizer"]


# --- Cohere / Jina rerank -------------------------------------------------------------------
class RerankDocument(Lenient):
    text: Text


class RerankRequest(Lenient):
    model: str | None = Field(None, max_length=200, description="The served model (any of "
                              "its names, see GET /v1/models), or omitted.")
    query: Text = Field(..., examples=["退款多久能到账"])
    documents: list[Text | RerankDocument] = Field(..., min_length=1,
                                                   examples=[["退款几天能到", "怎么修改密码"]])
    top_n: WholeNumber | None = Field(None, ge=1, description="Results to return; default all.")
    return_documents: bool = False


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: RerankDocument | None = None


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[RerankResult]
    meta: dict[str, Any]
    usage: dict[str, int]


# --- OpenAI models --------------------------------------------------------------------------
class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "semsearch"
    aliases: list[str] = Field(default_factory=list, description="Other names /v1/embeddings "
                               "and /v1/rerank accept for it (case does not matter).")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
