"""OpenAI's ``GET /v1/models`` and ``GET /v1/models/{model}``: the one model served, and
the names clients may call it by (case does not matter)."""
from __future__ import annotations

import time

from fastapi import APIRouter

from search.errors import NotFoundError
from search.profiles import BUNDLED_MODEL, ModelProfile

from ..compat_schemas import ModelCard, ModelList
from ..deps import EngineDep
from ..engine import Engine
from ..schemas import ErrorResponse

# The hub model each bundled reconstruction rebuilds (the same weights, 4-bit rounded).
HUB_IDS = {BUNDLED_MODEL: "intfloat/multilingual-e5-small"}
GENERIC = ("default", "semsearch")
_STARTED = int(time.time())

router = APIRouter(prefix="/v1", tags=["embeddings"], responses={404: {"model": ErrorResponse}})


def aliases(profile: ModelProfile) -> list[str]:
    """Other names of the served model: its short name, hub id and ModelScope twins."""
    hub = HUB_IDS.get(profile.name)
    candidates = [profile.name.split("/")[-1], *([hub, hub.split("/")[-1]] if hub else []),
                  *profile.aliases, *GENERIC]
    out, seen = [], {profile.name.lower()}
    for name in candidates:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def serves(profile: ModelProfile, requested: str) -> bool:
    wanted = requested.strip().lower()
    return wanted in {profile.name.lower(), *(a.lower() for a in aliases(profile))}


def card(engine: Engine) -> ModelCard:
    profile = engine.encoder.profile
    return ModelCard(id=profile.name, created=_STARTED, aliases=aliases(profile))


@router.get("/models", response_model=ModelList)
async def list_models(engine: EngineDep) -> ModelList:
    """The served embedding model (OpenAI's model list)."""
    return ModelList(data=[card(engine)])


@router.get("/models/{model:path}", response_model=ModelCard)
async def get_model(model: str, engine: EngineDep) -> ModelCard:
    """The served model under any of its names; 404 for another model."""
    if not serves(engine.encoder.profile, model):
        raise NotFoundError(f"model {model!r} is not served here; this server serves "
                            f"{engine.encoder.profile.name!r}", {"model": engine.encoder.profile.name})
    return card(engine)
