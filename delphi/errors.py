"""Error answers, one handler per surface: every error says what happened, never a traceback.

- Pages: an HTTP error or a refusal (``DomainError``) that reaches a view is a page with
  the site's layout (a refusal is a 409 saying what was refused and that nothing was
  changed); use cases run from a form flash the refusal and redirect instead
  (``console.run_use_case``).
- The JSON API (paths under ``/api/``): ``application/problem+json`` (RFC 9457) with
  ``type``, ``title``, ``status``, ``detail``, ``code`` and a refusal's parameters.
- The command line: ``cli._commit_or_fail`` turns a refusal into a click error.

Refusals carry a stable code and parameters; the codes are listed in docs/errors.md.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db
from .models import DomainError

API_PREFIX = "/api/"
PROBLEM_TYPE = "urn:delphi:error:"
PROBLEM_MIMETYPE = "application/problem+json"

MESSAGES = {
    400: "The request could not be understood. Go back and try again.",
    403: "You do not have access to this page.",
    404: "There is nothing here. If you followed a personal link, it may have expired or "
    "been replaced by a newer one: ask the study team for a new link.",
    405: "This page cannot be used that way.",
    409: "That cannot be done now; nothing was changed.",
    413: "What you sent is too large.",
    429: "Too many attempts. Wait a few minutes and try again.",
}
CSRF_MESSAGE = ("The form had expired or came from elsewhere, so nothing was saved. "
                "Reload the page and send it again.")


def init_app(app: Flask) -> None:
    """Render HTTP errors, CSRF failures and refusals for the surface that asked."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(DomainError, _domain_error)


def problem(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    """An ``application/problem+json`` answer: ``type`` (a URN naming ``code``), ``title``
    (the status's phrase), ``status``, ``detail``, ``code``, and ``extra`` members (a
    refusal's parameters, ``errors``: the places in the input that are wrong); the
    standard members cannot be overridden by ``extra``. ``headers`` are added to the answer
    (``Retry-After``, ``WWW-Authenticate``, ``Allow``); it is never cached."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {**_jsonable(extra), "type": PROBLEM_TYPE + code, "title": title, "status": status,
            "detail": detail, "code": code}
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype=PROBLEM_MIMETYPE)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def domain_problem(error: DomainError, status: int = 409) -> Response:
    """A use case's refusal under /api/: its code, its rendered message, its parameters."""
    return problem(status, error.code, error.render(), **error.params)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values: lists and mappings as they are, anything else as text."""
    return {k: v if isinstance(v, str | int | float | bool | list | dict | type(None))
            else str(v) for k, v in values.items()}


def _is_api() -> bool:
    return request.path.startswith(API_PREFIX)


def _http_error(error: HTTPException):
    code = error.code or 500
    custom = code in (400, 409, 413) and error.description != type(error).description
    message = (error.description if custom else MESSAGES.get(code)) or "Something went wrong."
    if isinstance(error, InternalServerError):
        # The failed transaction is rolled back before the page is drawn: the layout
        # reads the logged-in account (its name, whether a site admin), which a session
        # left in a failed flush could not load.
        db.session.rollback()
        message = "Something went wrong on our side. Nothing you sent was half-saved; try again."
    if _is_api():
        headers = {k: v for k, v in error.get_response().headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        return problem(code, f"http.{code}", message, headers=headers)
    return render_template("error.html", code=code, message=message), code


def _csrf_error(error: CSRFError):
    if _is_api():
        return problem(400, "http.csrf", CSRF_MESSAGE)
    return render_template("error.html", code=400, message=CSRF_MESSAGE), 400


def _domain_error(error: DomainError):
    """A rule of the study refused the request outside a use-case runner: say which, as a
    409, with nothing half-saved (the views' own handling flashes and redirects)."""
    db.session.rollback()
    if _is_api():
        return domain_problem(error)
    text = error.render().rstrip(".") or "That cannot be done now"
    message = f"{text[0].upper()}{text[1:]}. Nothing was changed."
    return render_template("error.html", code=409, message=message), 409
