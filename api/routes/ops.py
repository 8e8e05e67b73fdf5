"""Operations: health, readiness, metrics and ``/v1/info``."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from search.errors import NotReadyError

from .. import metrics as prometheus
from ..deps import EngineDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict:
    """The process is alive (it may still be loading)."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> dict:
    """503 until the model and the indexes are loaded."""
    engine = request.app.state.engine
    if not engine.ready:
        raise NotReadyError("the model and index are still loading")
    return {"status": "ready", "collections": engine.registry.names(),
            "errors": dict(engine.registry.errors)}


@router.get("/metrics")
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
            collections[name] = {"build_id": store.info.build_id or None,
                                 "index_kind": store.info.index_kind, "vectors": store.size}
    return {
        "model": profile.name, "dimension": encoder.dim, "pooling": profile.pooling,
        "max_length": profile.max_length, "device": encoder.device,
        "precision": encoder.precision, "thresholds": profile.thresholds.as_dict(),
        "calibrated": profile.calibrated, "retrieval_mode": engine.settings.retrieval_mode,
        "default_collection": engine.settings.default_collection,
        "collections": collections, "errors": dict(engine.registry.errors),
    }
