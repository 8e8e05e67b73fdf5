"""One JSON error shape for every 4xx/5xx: ``{"error": {"code", "message", "detail"}}``."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from search.errors import NotReadyError, OverloadedError, SemsearchError

log = logging.getLogger("semsearch.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "input_too_large", 415: "unsupported_media_type",
               422: "invalid_input", 429: "overloaded", 503: "not_ready"}


def error_response(status: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": jsonable_encoder(detail)}}
    return JSONResponse(body, status_code=status, headers=headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, scope: dict) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only the first
    matching route's (GET without PUT and DELETE on a document)."""
    from starlette.routing import BaseRoute, Match, Mount

    def serves(route: BaseRoute, method: str) -> bool:
        if isinstance(route, Mount):  # static files: they match any method, serve two
            return method in ("GET", "HEAD") and route.matches(scope)[0] == Match.FULL
        return route.matches({**scope, "method": method})[0] == Match.FULL

    allowed = [m for m in _METHODS if any(serves(r, m) for r in app.router.routes)]
    return allowed + ["OPTIONS"] if allowed else []


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation details without echoing huge inputs back to the caller."""
    out = []
    for err in errors[:20]:
        item = {k: err[k] for k in ("loc", "msg", "type") if k in err}
        out.append(item)
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(SemsearchError)
    async def _domain(_: Request, exc: SemsearchError) -> JSONResponse:
        headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else None
        if exc.http_status >= 500 and not isinstance(exc, NotReadyError):  # polled: no noise
            log.error("%s: %s", exc.code, exc.message)
        return error_response(exc.http_status, exc.code, exc.message, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(422, "invalid_json", "the request body is not valid JSON",
                                  _clean(errors))
        return error_response(422, "invalid_input", _validation_message(errors), _clean(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not UTF-8 at all
            return error_response(422, "invalid_json",
                                  "the request body is not valid UTF-8 JSON")
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # a mounted static directory rewrites the scope's path: it serves GET and HEAD
            allowed = allowed_methods(app, request.scope) or ["GET", "HEAD"]
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        return error_response(exc.status_code, code, message, None, headers or None)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error")
