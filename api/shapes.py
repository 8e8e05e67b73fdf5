"""Error shapes of the compatibility routes: each protocol's clients read its own.

A router built with ``shaped_route(render)`` answers every error its routes raise (invalid
JSON, schema errors, domain errors, HTTP errors) through ``render(status, code, message)``
instead of semsearch's ``{"error": {"code", "message", "detail"}}``. Errors raised before
routing (a body over the size limit) find the renderer of their path through
``render_for_path``.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from search.errors import SemsearchError

from .errors import _validation_message

Render = Callable[[int, str, str], JSONResponse]
Guard = Callable[[Request], None]
_BY_PATH: dict[str, Render] = {}


class ShapedRoute(APIRoute):
    render: Render
    guard: Guard | None = None  # checked before the body is read (Dify: the key first)

    def __init__(self, path: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(path, *args, **kwargs)
        _BY_PATH[self.path] = type(self).render

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        render, guard = type(self).render, type(self).guard

        async def shaped(request: Request) -> Response:
            try:
                if guard is not None:
                    guard(request)
                return await handler(request)
            except RequestValidationError as exc:
                errors = list(exc.errors())
                if any(e.get("type") == "json_invalid" for e in errors):
                    return render(422, "invalid_json", "the request body is not valid JSON")
                return render(422, "invalid_input", _validation_message(errors))
            except SemsearchError as exc:
                return render(exc.http_status, exc.code, exc.message)
            except HTTPException as exc:
                if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
                    return render(422, "invalid_json", "the request body is not valid UTF-8 JSON")
                message = exc.detail if isinstance(exc.detail, str) else "request refused"
                return render(exc.status_code, "http_error", message)

        return shaped


def shaped_route(render: Render, guard: Guard | None = None) -> type[APIRoute]:
    """An ``APIRoute`` class whose errors are rendered by ``render``; ``guard`` runs first."""
    return type(f"Shaped_{render.__name__}", (ShapedRoute,),
                {"render": staticmethod(render),
                 "guard": staticmethod(guard) if guard else None})


def render_for_path(path: str) -> Render | None:
    return _BY_PATH.get(path)
