"""Error pages: every error is a page that says what happened, never a traceback."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db
from .models import DomainError, IllegalTransition

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


def init_app(app: Flask) -> None:
    """Render HTTP errors and CSRF failures with the site's layout."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(IllegalTransition, _domain_error)


def _http_error(error: HTTPException):
    from .api import http_problem, is_api_request

    if is_api_request():
        return http_problem(error)
    code = error.code or 500
    custom = code in (400, 409, 413) and error.description != type(error).description
    message = (error.description if custom else MESSAGES.get(code)) or "Something went wrong."
    if isinstance(error, InternalServerError):
        message = "Something went wrong on our side. Nothing you sent was half-saved; try again."
    return render_template("error.html", code=code, message=message), code


def _csrf_error(error: CSRFError):
    from .api import is_api_request

    if is_api_request():  # the API asks no CSRF token; only a cross-site check can land here
        from .api.problems import problem

        return problem(403, "request.cross_site", error.description or "Refused.")
    message = (
        "The form had expired or came from elsewhere, so nothing was saved. "
        "Reload the page and send it again."
    )
    return render_template("error.html", code=400, message=message), 400


def _domain_error(error: Exception):
    """A rule of the study refused the request outside a use-case runner: say which, as a
    409 page, with nothing half-saved (the views' own handling flashes and redirects)."""
    db.session.rollback()
    from .api import is_api_request

    if is_api_request():
        from .api.problems import from_domain_error

        return from_domain_error(error)  # type: ignore[arg-type]
    text = str(error).rstrip(".") or "That cannot be done now"
    message = f"{text[0].upper()}{text[1:]}. Nothing was changed."
    return render_template("error.html", code=409, message=message), 409
