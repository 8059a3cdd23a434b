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


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    """An ``application/problem+json`` answer: ``type`` (a URN naming ``code``), ``title``
    (the status's phrase), ``status``, ``detail``, ``code``, and ``extra`` members (a
    refusal's parameters); the standard members cannot be overridden by ``extra``."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {**extra, "type": PROBLEM_TYPE + code, "title": title, "status": status,
            "detail": detail, "code": code}
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)


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
        response = problem(code, f"http.{code}", message)
        if code == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response
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
        return problem(409, error.code, error.render(), **error.params)
    text = error.render().rstrip(".") or "That cannot be done now"
    message = f"{text[0].upper()}{text[1:]}. Nothing was changed."
    return render_template("error.html", code=409, message=message), 409
