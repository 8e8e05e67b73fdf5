"""``POST /api/predict``: the GTE web service's API, for existing clients.

Three shapes are accepted in ``data``:
1. ``[source, "cand1\\ncand2\\n…"]`` -> one score per non-empty candidate line;
2. ``[text, "", <booleans>…]`` -> the text's vector, flat (``len(data)`` is the
   dimension, as the GTE service's clients read it);
3. ``[s1, c1, s2, c2, …]`` (an even number of strings) -> the scores of each pair group,
   flattened in order.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from search.errors import InvalidInputError

from ..deps import EngineDep, SettingsDep
from ..schemas import ErrorResponse, PredictRequest
from .embeddings import check_texts, similarity_scores

router = APIRouter(prefix="/api", tags=["compatibility"], responses={422: {"model": ErrorResponse}})

SHAPES = ('[source, "cand1\\ncand2"] for scores; [text, "", true/false…] for a vector; '
          '[s1, c1, s2, c2, …] (an even number of strings) for several score groups')


def _lines(block: str) -> list[str]:
    return [line for line in block.split("\n") if line.strip()]


def classify(data: list[Any]) -> str:
    """Which of the three request shapes ``data`` is, or raise a 422 naming them."""
    if (len(data) >= 2 and isinstance(data[0], str) and data[1] == ""
            and all(isinstance(x, bool) for x in data[2:])):
        return "vector"
    if len(data) >= 2 and len(data) % 2 == 0 and all(isinstance(x, str) for x in data):
        return "scores"
    raise InvalidInputError(f"unrecognised 'data' shape; accepted forms: {SHAPES}",
                            {"accepted": SHAPES})


@router.post("/predict")
async def predict(body: PredictRequest, engine: EngineDep, settings: SettingsDep) -> dict:
    kind = classify(body.data)
    if kind == "vector":
        text = check_texts(engine, [body.data[0]], 1, "texts")
        vectors = await engine.batcher.encode(text, "query")
        return {"data": vectors[0].tolist()}
    scores: list[float] = []
    for source, block in zip(body.data[0::2], body.data[1::2]):
        candidates = _lines(block)
        if not candidates:
            raise InvalidInputError("a candidate block has no non-empty lines",
                                    {"accepted": SHAPES})
        clean_source = check_texts(engine, [source], 1, "sources")[0]
        clean = check_texts(engine, candidates, settings.max_candidates, "candidates")
        scores.extend(round(float(s), 6) for s in await similarity_scores(engine, clean_source, clean))
    return {"data": scores}
