"""Problem documents (RFC 9457, ``application/problem+json``) with stable error codes.

Every refusal of the API is one of these: ``code`` is the stable dotted code a client keys
on (a ``DomainError``'s own code where a use case refused), ``detail`` the English
sentence, ``errors`` the places in the input that are wrong (a field path or a CSV line).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from pydantic import BaseModel, Field

from ..models import DomainError

PROBLEM_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    """One place in the input that is wrong."""

    where: str = Field(description="A field path (`body.title`, `query.limit`) or a CSV line "
                                   "(`line 4`).")
    message: str


class Problem(BaseModel):
    """An error: what went wrong, with a stable code to key on."""

    type: str = Field("about:blank", description="Always `about:blank`: `code` says which.")
    title: str
    status: int
    code: str = Field(description="Stable dotted error code, e.g. `round.not_open`.")
    detail: str
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="The values filled into `detail`.")
    errors: list[FieldError] = Field(default_factory=list)


def problem(status: int, code: str, detail: str, *, params: dict[str, Any] | None = None,
            errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """A problem+json response."""
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
            "code": code, "detail": detail, "params": _jsonable(params or {}),
            "errors": errors or []}
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type=PROBLEM_TYPE)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_domain_error(error: DomainError, status: int = 409) -> Response:
    """A use case's refusal: its code, its rendered message and its parameters."""
    errors = [{"where": f"line {e.line}", "message": e.message}
              for e in getattr(error, "errors", []) if hasattr(e, "line")]
    return problem(status, error.code, error.render(), params=error.params, errors=errors)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | float | bool | type(None)) else str(v)
            for k, v in params.items()}


class ApiAbort(Exception):
    """Raised inside a view to answer with a problem document."""

    def __init__(self, status: int, code: str, detail: str, **kwargs: Any) -> None:
        super().__init__(detail)
        self.response = problem(status, code, detail, **kwargs)
