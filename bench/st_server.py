"""A minimal embedding server: sentence-transformers behind FastAPI, OpenAI-shaped.

The fallback peer of bench/peer_http.py when infinity-emb cannot run here: what a user
writes in a dozen lines. ``POST /embeddings`` with ``{"input": str | [str], "model": …}``
returns ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], …}``.
The endpoint is a plain ``def``, so FastAPI runs concurrent requests on its thread pool.

    .venv/bin/python bench/st_server.py --model-dir DIR --port 18799
"""
from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class EmbeddingsRequest(BaseModel):
    input: str | list[str]
    model: str | None = None


def create_app(model_dir: str, batch_size: int) -> FastAPI:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    app = FastAPI(title="sentence-transformers embeddings")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/embeddings")
    def embeddings(body: EmbeddingsRequest) -> dict:
        texts = [body.input] if isinstance(body.input, str) else body.input
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return {"object": "list", "model": body.model or model_dir,
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                         for i, v in enumerate(vectors)]}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18799)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    uvicorn.run(create_app(args.model_dir, args.batch_size), host=args.host, port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
