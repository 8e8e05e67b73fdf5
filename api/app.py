"""FastAPI application factory with a lifespan that starts and stops the engine."""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search.config import Settings, get_settings

from . import errors, metrics
from .engine import Engine, worker_id
from .routes import (audit, compat, dify, documents, embeddings, feedback, files, insights,
                     models, ops, rerank, search, tei, testsets, texts, web)
from .shapes import render_for_path

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("semsearch.api")


class BodyLimit:
    """Refuse bodies over the limit with 413, whether or not Content-Length is sent; a
    file upload (a path ending in ``/upload``) has a limit of its own."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit if scope["path"].endswith("/upload") else self.limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._reject(scope, receive, send, limit)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = f"request body is larger than {limit} bytes"
        shaped = render_for_path(scope["path"])  # a compatibility route's own error shape
        response = (shaped(413, "input_too_large", message) if shaped else
                    errors.error_response(413, "input_too_large", message, {"limit": limit}))
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class JsonByDefault:
    """Treat a body sent without a JSON content type (``curl -d``) as JSON.

    Every route that takes a body takes JSON; refusing ``curl -d '{"query": …}'`` for a
    missing header would only make the first try of every new user fail.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            kind = dict(scope["headers"]).get(b"content-type", b"")
            if not kind or kind.startswith(b"application/x-www-form-urlencoded"):
                # in place, not on a copy: the router writes the matched route into this
                # scope, and Observe (outside) names the request's route by it
                scope["headers"] = headers + [(b"content-type", b"application/json")]
        await self.app(scope, receive, send)


class AnswerOptions:
    """``OPTIONS`` answers 204 with every method the path allows (no route declares
    OPTIONS, so the router would answer 405 naming one route's methods only)."""

    def __init__(self, app: ASGIApp, routes_of: FastAPI) -> None:
        self.app, self.routes_of = app, routes_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            return await self.app(scope, receive, send)
        allowed = errors.allowed_methods(self.routes_of, scope)
        if allowed:
            response = Response(status_code=204, headers={"Allow": ", ".join(allowed)})
        else:
            response = errors.error_response(404, "not_found", "Not Found")
        await response(scope, receive, send)


class Observe:
    """Count each request and its latency by route and status (Prometheus), and name the
    process that answered in ``X-Semsearch-Worker``. Plain ASGI: Starlette's
    ``BaseHTTPMiddleware`` runs each request in a task group of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.worker = worker_id().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering
        root = scope.get("root_path", "")

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-semsearch-worker", self.worker)]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            path = getattr(scope.get("route"), "path", None)
            if path is None:  # a mount (/static) names no route; it extends the root path
                mounted = scope.get("root_path", "")[len(root):]
                path = mounted or "unmatched"
            metrics.REQUESTS.labels(path, scope["method"], str(status)).inc()
            metrics.LATENCY.labels(path).observe(time.perf_counter() - started)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The server listens at once; the engine loads meanwhile (``/health`` answers, other
    routes say 503 until it is ready)."""
    engine: Engine = app.state.engine
    loading = asyncio.create_task(engine.start(), name="engine-start")
    try:
        yield
    finally:
        loading.cancel()
        await engine.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # FastAPIOffline serves Swagger UI and ReDoc from files in its package: /docs works
    # without a network (FastAPI's own pages load them from a CDN).
    app = FastAPIOffline(title="semsearch", version="0.1.0", lifespan=lifespan,
                         description="Chinese-first semantic search for FAQ and knowledge bases.")
    app.state.engine = Engine(settings)
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(AnswerOptions, routes_of=app)  # inside CORS: preflights go there
    if settings.cors_origins:
        origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["*"])
    app.add_middleware(JsonByDefault)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes,
                       upload_limit=settings.max_upload_bytes)

    app.add_middleware(Observe)  # outermost: it counts the 413s and OPTIONS answers too

    for module in (search, feedback, insights, audit, texts, embeddings, models, rerank, compat,
                   dify, tei, documents, files, testsets, ops, web):
        app.include_router(module.router)
    if settings.dify_prefix:
        app.include_router(dify.router, prefix=settings.dify_prefix)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn's ``--factory`` (each worker builds its own app)."""
    return create_app(get_settings())
