"""Operations: health, readiness, metrics and ``/v1/info``."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from search.errors import NotReadyError

from .. import metrics as prometheus
from ..deps import EngineDep
from ..schemas import ErrorResponse

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(request: Request) -> dict:
    """The process is alive; it answers as soon as it listens, also while loading."""
    engine = request.app.state.engine
    state = "ready" if engine.ready else ("failed" if engine.failure else "loading")
    return {"status": "ok", "engine": state}


@router.get("/ready", responses={503: {"model": ErrorResponse}})
async def ready(request: Request) -> dict:
    """200 once the model is loaded and every collection can be served; 503 with the
    reasons (per collection) until then."""
    engine = request.app.state.engine
    reasons = engine.not_ready_reasons()
    if reasons:
        raise NotReadyError("not ready: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()),
                            {"reasons": reasons})
    return {"status": "ready", "collections": engine.registry.names()}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
async def metrics() -> Response:
    """Prometheus metrics; with several workers, the sum over all of them."""
    return Response(prometheus.render(), media_type=prometheus.CONTENT_TYPE)


@router.get("/v1/info")
async def info(engine: EngineDep) -> dict:
    """Model, dimension, thresholds and the build serving each collection."""
    encoder = engine.encoder
    profile = encoder.profile
    collections = {}
    for name in engine.registry.names():
        store = engine.registry.peek(name)
        if store is not None:
            tuning = engine.registry.tuning(name)
            prior = profile.thresholds
            collections[name] = {"build_id": store.info.build_id or None,
                                 "index_kind": store.info.index_kind, "vectors": store.size,
                                 "thresholds": tuning.thresholds("question", prior).as_dict(),
                                 "passage_thresholds": tuning.thresholds("answer", prior).as_dict(),
                                 "thresholds_source": "collection" if tuning.questions else "model",
                                 "ranking": engine.service.ranking_for(tuning).as_dict()}
    return {
        "model": profile.name, "dimension": encoder.dim, "pooling": profile.pooling,
        "max_length": profile.max_length, "device": encoder.device,
        "precision": encoder.precision, "thresholds": profile.thresholds.as_dict(),
        "calibrated": profile.calibrated, "retrieval_mode": engine.settings.retrieval_mode,
        "default_collection": engine.settings.default_collection,
        "collections": collections, "errors": dict(engine.registry.errors),
    }
