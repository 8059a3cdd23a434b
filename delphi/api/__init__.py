"""The JSON API under ``/api/v1``: personal API tokens, problem documents, cursor paging,
ETags, and an OpenAPI 3.1 document generated from the pydantic models (``spec.py``).

No cookie authenticates a call and no CSRF token is asked: the blueprint is exempt from
Flask-WTF's check, and only ``Authorization: Bearer`` names the caller.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

# Light at import: the command line imports api.cli, which must not load pydantic.

PUBLIC_ENDPOINTS = {"api.openapi", "api.reference"}
ERROR_CODES = {400: "request.bad", 404: "route.not_found", 405: "route.method",
               413: "request.too_large", 415: "request.media_type", 500: "server.error"}


def is_api_request() -> bool:
    return request.path == "/api/v1" or request.path.startswith("/api/")


def http_problem(error: HTTPException) -> Response:
    """An HTTP error on an API path as a problem document (used by delphi.errors)."""
    from .problems import problem

    code = error.code or 500
    detail = error.description if code != 500 else \
        "Something went wrong on our side; nothing was half-saved."
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return problem(code, ERROR_CODES.get(code, f"http.{code}"), detail or "Error.",
                   headers=headers)


def init_app(app: Flask) -> None:
    from ..extensions import csrf
    from .console import bp as console_bp
    from .console import hooks_bp
    from .problems import ApiAbort
    from .views import bp

    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(hooks_bp)
    app.register_error_handler(ApiAbort, lambda e: e.response)  # raised before a view is matched
