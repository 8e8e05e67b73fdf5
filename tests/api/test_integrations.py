"""The integration routes end to end on the live server, with each protocol's documented
examples and the real client libraries: Dify's external knowledge API, TEI (through
huggingface_hub's InferenceClient), Cohere/Jina rerank, OpenAI models (openai) and
LangChain (langchain-openai, and the retriever over /v1/search)."""
from __future__ import annotations

import asyncio
import base64

import httpx
import numpy as np
import pytest

from tests.api.conftest import LiveServer

pytestmark = pytest.mark.model
AUTH = {"Authorization": "Bearer dify-key"}


def post(server: LiveServer, path: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=60, **kw)  # type: ignore[arg-type]


def retrieval(server: LiveServer, query: str, top_k: int = 5, threshold: float = 0.0,
              condition: dict | None = None) -> list[dict]:
    body: dict = {"knowledge_id": "default", "query": query,
                  "retrieval_setting": {"top_k": top_k, "score_threshold": threshold}}
    if condition is not None:
        body["metadata_condition"] = condition
    r = post(server, "/retrieval", body, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()["records"]


def query_vector(server: LiveServer, text: str) -> np.ndarray:
    r = post(server, "/v1/embeddings", {"input": text})
    return np.array(r.json()["data"][0]["embedding"])


# --- Dify ----------------------------------------------------------------------------------
def test_dify_documented_request_gets_records_with_band_metadata(live_server: LiveServer) -> None:
    # Dify's example request, with a question of the sample FAQ
    records = retrieval(live_server, "退款多久能到账", top_k=2, threshold=0.5)
    assert len(records) == 2 and all(set(r) == {"content", "score", "title", "metadata"}
                                     for r in records)
    top = records[0]
    assert top["metadata"]["entry_id"] == "refund-001" and top["title"] == "退款多久到账？"
    assert top["content"].startswith(top["title"] + "\n") and len(top["content"]) > 40
    assert top["metadata"]["band"] in ("high", "medium") and top["metadata"]["category"] == "退款"
    assert 0.5 <= records[1]["score"] <= top["score"] <= 1.0


def test_dify_score_threshold_and_band_condition_drop_weak_records(live_server: LiveServer) -> None:
    everything = retrieval(live_server, "今天天气怎么样", top_k=5)
    assert len(everything) == 5 and {r["metadata"]["band"] for r in everything} & {"none"}
    banded = retrieval(live_server, "今天天气怎么样", top_k=5, condition={
        "conditions": [{"name": "band", "comparison_operator": "is not", "value": "none"}]})
    assert all(r["metadata"]["band"] != "none" for r in banded) and len(banded) < 5
    cut = max(r["score"] for r in everything) - 0.005
    assert all(r["score"] >= cut for r in retrieval(live_server, "今天天气怎么样", 5, cut))


def test_dify_metadata_conditions_filter_category_tags_and_numbers(live_server: LiveServer) -> None:
    logistics = retrieval(live_server, "密码忘了", 5, condition={
        "logical_operator": "and",
        "conditions": [{"name": "category", "comparison_operator": "is", "value": "物流"}]})
    assert len(logistics) == 5 and {r["metadata"]["category"] for r in logistics} == {"物流"}
    either = retrieval(live_server, "退款", 10, condition={"logical_operator": "or", "conditions": [
        {"name": "category", "comparison_operator": "is", "value": "物流"},
        {"name": "tags", "comparison_operator": "contains", "value": "防诈骗"}]})
    assert either and all(r["metadata"]["category"] == "物流" or "防诈骗" in r["metadata"]["tags"]
                          for r in either)
    listed = retrieval(live_server, "退款", 10, condition={"conditions": [
        {"name": "category", "comparison_operator": "in", "value": ["退款", "支付"]},
        {"name": "score", "comparison_operator": "≥", "value": 0.85},
        {"name": "entry_id", "comparison_operator": "start with", "value": "refund-"}]})
    assert listed and all(r["metadata"]["entry_id"].startswith("refund-") and r["score"] >= 0.85
                          for r in listed)
    assert retrieval(live_server, "退款", 5, condition={"conditions": [
        {"name": "no_such_key", "comparison_operator": "not empty"}]}) == []


@pytest.mark.parametrize(("headers", "body", "status", "code"), [
    ({}, "ok", 403, 1001),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "ok", 403, 1001),
    ({"Authorization": "Bearer"}, "ok", 403, 1001),
    (AUTH, {"knowledge_id": "missing", "query": "退款",
            "retrieval_setting": {"top_k": 2, "score_threshold": 0.5}}, 404, 2001),
    (AUTH, "{not json", 422, 3001),
    (AUTH, {"knowledge_id": "default", "query": "退款"}, 422, 3001),
    (AUTH, {"knowledge_id": "default", "query": "退款", "retrieval_setting": {"top_k": 0}}, 422, 3001),
    (AUTH, {"knowledge_id": "default", "query": "退款", "retrieval_setting": {"top_k": 2},
            "metadata_condition": {"conditions": [{"name": "score", "comparison_operator": ">",
                                                   "value": "high"}]}}, 422, 3001),
    (AUTH, {"knowledge_id": "default", "query": "退款", "retrieval_setting": {"top_k": 2},
            "metadata_condition": {"conditions": [{"name": "x", "comparison_operator": "like",
                                                   "value": "a"}]}}, 422, 3001),
    (AUTH, {"knowledge_id": "default", "query": "退" * 2000, "retrieval_setting": {"top_k": 2}},
     413, 3002),
    (AUTH, "x" * 1_100_000, 413, 3002),
])
def test_dify_errors_have_difys_shape(live_server: LiveServer, headers: dict, body: object,
                                      status: int, code: int) -> None:
    if body == "ok":
        body = {"knowledge_id": "default", "query": "退款", "retrieval_setting": {"top_k": 1}}
    content = body if isinstance(body, str) else None
    r = httpx.post(live_server.url + "/retrieval", headers=headers, timeout=60,
                   content=content, json=None if content else body)
    assert (r.status_code, set(r.json()), r.json()["error_code"]) == (
        status, {"error_code", "error_msg"}, code), r.text


# --- TEI -----------------------------------------------------------------------------------
def test_tei_routes_answer_their_documented_examples(live_server: LiveServer) -> None:
    embedded = post(live_server, "/embed", {"inputs": "What is Deep Learning?"}).json()
    assert len(embedded) == 1 and len(embedded[0]) == 384
    vector = np.array(embedded[0])
    assert abs(np.linalg.norm(vector) - 1) < 1e-4
    assert float(vector @ query_vector(live_server, "What is Deep Learning?")) > 0.9999
    assert len(post(live_server, "/embed", {"inputs": ["你好", "再见"]}).json()) == 2
    scores = post(live_server, "/similarity", {"inputs": {
        "source_sentence": "退款多久到账", "sentences": ["今天天气不错", "退款几天能到"]}}).json()
    assert len(scores) == 2 and scores[1] > scores[0]
    ranks = post(live_server, "/rerank", {"query": "退款多久到账", "return_text": True,
                                          "texts": ["会员如何续费", "退款几天能到", "今天天气"]}).json()
    assert [r["index"] for r in ranks][0] == 1 and ranks[0]["text"] == "退款几天能到"
    assert [r["score"] for r in ranks] == sorted((r["score"] for r in ranks), reverse=True)
    assert "text" not in post(live_server, "/rerank", {"query": "a", "texts": ["b"]}).json()[0]
    tokens = post(live_server, "/tokenize", {"inputs": "test"}).json()[0]
    assert tokens[0]["special"] and tokens[-1]["special"] and not tokens[1]["special"]
    assert "".join(t["text"] for t in tokens[1:-1]) == "test"
    bare = post(live_server, "/tokenize", {"inputs": ["退款", "x"], "add_special_tokens": False}).json()
    assert len(bare) == 2 and not any(t["special"] for t in bare[0])
    info = httpx.get(live_server.url + "/info").json()
    assert info["model_id"] == "multilingual-e5-small-q4" and info["max_input_length"] == 512
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}


def test_tei_long_input_needs_truncate_and_errors_have_teis_shape(live_server: LiveServer) -> None:
    long = "退款到账" * 300  # about 600 tokens
    refused = post(live_server, "/embed", {"inputs": long, "prompt_name": "passage"})
    assert refused.status_code == 413 and refused.json()["error_type"] == "Validation"
    assert "512" in refused.json()["error"]
    assert len(post(live_server, "/embed", {"inputs": long, "truncate": True,
                                            "prompt_name": "passage"}).json()[0]) == 384
    for path, body, status in [("/embed", {"inputs": "x", "normalize": False}, 422),
                               ("/embed", {"inputs": []}, 422), ("/embed", {}, 422),
                               ("/embed", {"inputs": "x", "prompt_name": "nope"}, 422),
                               ("/similarity", {"inputs": {"source_sentence": "x"}}, 422),
                               ("/rerank", {"query": "x", "texts": []}, 422),
                               ("/tokenize", {"inputs": 3}, 422),
                               ("/", {"inputs": {"sentences": ["a"]}}, 422),
                               ("/embed", {"inputs": ["x"] * 300}, 413)]:
        r = post(live_server, path, body)
        assert (r.status_code, set(r.json())) == (status, {"error", "error_type"}), (path, r.text)
    r = httpx.post(live_server.url + "/similarity", content=b"{oops", timeout=30)
    assert r.status_code == 422 and r.json()["error_type"] == "Validation"


def test_huggingface_hub_inference_client(live_server: LiveServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import InferenceClient, constants
    from huggingface_hub.errors import HfHubHTTPError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # offline mode refuses every URL
    client = InferenceClient(base_url=live_server.url)
    vector = client.feature_extraction("会员到期了怎么续费")
    assert vector.shape == (1, 384)
    assert float(vector[0] @ query_vector(live_server, "会员到期了怎么续费")) > 0.9999
    passage = client.feature_extraction("会员到期了怎么续费", prompt_name="passage", truncate=True)
    assert float(passage[0] @ vector[0]) < 0.9999  # the passage prefix was applied
    scores = client.sentence_similarity("退款多久到账", ["退款几天能到", "今天天气不错"])
    assert len(scores) == 2 and scores[0] > scores[1]
    with pytest.raises(HfHubHTTPError, match="normalize=false is not supported"):
        client.feature_extraction("x", normalize=False)


# --- Cohere/Jina rerank and OpenAI models -------------------------------------------------
def test_cohere_rerank_shape(live_server: LiveServer) -> None:
    documents = ["Carson City is the capital city of the American state of Nevada.",
                 "Washington, D.C. is the capital of the United States.",
                 {"text": "Capital punishment has existed in the United States since before it "
                          "was a country."}]
    r = post(live_server, "/v1/rerank", {"model": "INTFLOAT/Multilingual-E5-Small", "top_n": 2,
                                         "query": "What is the capital of the United States?",
                                         "documents": documents, "return_documents": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"id", "model", "results", "meta"} <= set(body) and len(body["results"]) == 2
    assert body["results"][0]["index"] == 1
    assert body["results"][0]["document"] == {"text": documents[1]}
    assert 0 <= body["results"][1]["relevance_score"] <= body["results"][0]["relevance_score"] <= 1
    plain = post(live_server, "/v1/rerank", {"query": "退款", "documents": ["a", "b", "c"]}).json()
    assert len(plain["results"]) == 3 and "document" not in plain["results"][0]
    for body in ({"model": "bge-reranker", "query": "x", "documents": ["a"]},
                 {"query": "x", "documents": []}, {"query": "x", "documents": [{"txt": "a"}]},
                 {"query": "x", "documents": ["a"], "top_n": 0}):
        bad = post(live_server, "/v1/rerank", body)
        assert bad.status_code == 422 and set(bad.json()["error"]) == {"code", "message", "detail"}


def test_openai_models_aliases_and_base64(live_server: LiveServer) -> None:
    import openai

    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["multilingual-e5-small-q4"]
    assert client.models.retrieve("intfloat/multilingual-e5-small").id == "multilingual-e5-small-q4"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("text-embedding-3-small")
    floats = post(live_server, "/v1/embeddings", {"input": ["你好"], "encoding_format": "float"})
    expected = np.array(floats.json()["data"][0]["embedding"])
    for name in ("MULTILINGUAL-E5-SMALL-Q4", "intfloat/multilingual-e5-small", "Multilingual-E5-Small"):
        # the client asks for base64 and decodes it when no encoding_format is given
        got = np.array(client.embeddings.create(model=name, input=["你好"]).data[0].embedding)
        assert np.allclose(got, expected, atol=1e-6)
    raw = client.embeddings.create(model="default", input=["你好"], encoding_format="base64")
    decoded = np.frombuffer(base64.b64decode(raw.data[0].embedding), dtype="<f4")
    assert np.allclose(decoded, expected, atol=1e-6)
    with pytest.raises(openai.UnprocessableEntityError):
        client.embeddings.create(model="text-embedding-3-small", input=["你好"])


# --- LangChain ------------------------------------------------------------------------------
def test_langchain_openai_embeddings_and_the_retriever(live_server: LiveServer) -> None:
    from langchain_openai import OpenAIEmbeddings

    from api.langchain_retriever import SemsearchRetriever

    embeddings = OpenAIEmbeddings(base_url=live_server.url + "/v1", api_key="unused",
                                  model="intfloat/multilingual-e5-small",
                                  check_embedding_ctx_length=False)
    vector = np.array(embeddings.embed_query("会员到期了怎么续费"))
    assert float(vector @ query_vector(live_server, "会员到期了怎么续费")) > 0.9999
    assert len(embeddings.embed_documents(["退款", "发票", "密码"])) == 3

    retriever = SemsearchRetriever(base_url=live_server.url, top_k=3, category="退款")
    docs = retriever.invoke("退款多久能到账啊")
    assert len(docs) == 3 and docs[0].metadata["entry_id"] == "refund-001"
    assert all(d.metadata["category"] == "退款" for d in docs)
    assert docs[0].metadata["band"] in ("high", "medium") and docs[0].metadata["search_id"]
    assert docs[0].page_content.startswith("退款多久到账？\n")
    banded = asyncio.run(SemsearchRetriever(base_url=live_server.url, top_k=5,
                                            min_band="low").ainvoke("今天天气怎么样"))
    assert all(d.metadata["band"] != "none" for d in banded)


def test_new_operations_are_in_the_openapi_document(live_server: LiveServer) -> None:
    """bench/fuzz.py fuzzes every operation of /openapi.json: these are among them."""
    paths = httpx.get(live_server.url + "/openapi.json").json()["paths"]
    for path, method in [("/retrieval", "post"), ("/embed", "post"), ("/similarity", "post"),
                         ("/rerank", "post"), ("/tokenize", "post"), ("/info", "get"),
                         ("/", "post"), ("/v1/rerank", "post"), ("/v1/models", "get"),
                         ("/v1/models/{model}", "get")]:
        assert method in paths[path], path
