"""A LangChain retriever over a semsearch server's ``POST /v1/search``.

Needs ``langchain-core`` (``pip install 'semsearch[langchain]'``); nothing else in semsearch
imports this module. Each hit becomes a ``Document`` whose text is the entry's question and
answer and whose metadata holds the entry id, score, band and the rest of the hit::

    from api.langchain_retriever import SemsearchRetriever
    retriever = SemsearchRetriever(base_url="http://127.0.0.1:8000", top_k=3)
    docs = retriever.invoke("退款多久能到账")
"""
from __future__ import annotations

from typing import Any

import httpx
from langchain_core.callbacks import (AsyncCallbackManagerForRetrieverRun,
                                      CallbackManagerForRetrieverRun)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class SemsearchRetriever(BaseRetriever):
    """FAQ entries for a question, best first, as LangChain documents."""

    base_url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    collection: str | None = None
    top_k: int = 5
    category: str | None = None
    tags: list[str] = []
    min_band: str | None = None  # drop hits below this band ("high", "medium", "low")
    min_score: float | None = None
    user: str | None = None
    timeout: float = 30.0

    def _request(self, query: str) -> dict[str, Any]:
        body = {"query": query, "top_k": self.top_k, "collection": self.collection,
                "category": self.category, "tags": self.tags, "min_band": self.min_band,
                "min_score": self.min_score, "user": self.user}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return {"url": self.base_url.rstrip("/") + "/v1/search", "headers": headers,
                "json": {k: v for k, v in body.items() if v not in (None, [])},
                "timeout": self.timeout}

    @staticmethod
    def _documents(response: httpx.Response) -> list[Document]:
        response.raise_for_status()
        body = response.json()
        documents = []
        for hit in body["hits"]:
            metadata = {**hit.get("metadata", {}), "entry_id": hit["external_id"],
                        "score": hit["score"], "band": hit["band"],
                        "band_label": hit["band_label"], "question": hit["question"],
                        "category": hit["category"], "tags": hit["tags"],
                        "matched_text": hit["matched_text"], "search_id": body.get("search_id")}
            text = f"{hit['question']}\n{hit['answer']}" if hit["answer"] else hit["question"]
            documents.append(Document(page_content=text, metadata=metadata,
                                      id=hit["external_id"]))
        return documents

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self._documents(httpx.post(**self._request(query)))

    async def _aget_relevant_documents(
            self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        async with httpx.AsyncClient() as client:
            return self._documents(await client.post(**self._request(query)))
