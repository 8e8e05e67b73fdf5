"""Dependencies for the routes, as ``Annotated`` aliases."""
from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from search.config import Settings
from search.errors import NotReadyError

from .engine import Engine


# The dependencies are ``async def`` though they never wait: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop on every request.


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    if not engine.ready:
        raise NotReadyError("the model and index are still loading")
    return engine


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def require_write_key(request: Request,
                            authorization: Annotated[str | None, Header()] = None,
                            x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Write routes need one of ``SEMSEARCH_API_KEYS`` when any is configured."""
    keys = request.app.state.settings.api_key_list
    if not keys:
        return
    given = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if not given or not any(secrets.compare_digest(given, k) for k in keys):
        raise HTTPException(401, "a valid API key is required for this route "
                                 "(Authorization: Bearer KEY or X-API-Key)",
                            headers={"WWW-Authenticate": "Bearer"})


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
WriteAccess = Depends(require_write_key)
