"""The API's problem documents (RFC 9457, ``application/problem+json``): the schema of the
one answer ``delphi.errors.problem`` builds for every error under /api/, and ``ApiAbort``
to answer with one from inside a view.

``code`` is the stable dotted code a client keys on (a ``DomainError``'s own code where a
use case refused), ``detail`` the English sentence, the refusal's parameters are members of
their own, and ``errors`` lists the places in the input that are wrong (a field path or a
CSV line).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import problem


class FieldError(BaseModel):
    """One place in the input that is wrong."""

    where: str = Field(description="A field path (`body.title`, `query.limit`) or a CSV line "
                                   "(`line 4`).")
    message: str


class Problem(BaseModel):
    """An error: what went wrong, with a stable code to key on. A refusal's parameters (the
    values filled into `detail`) are members of their own."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`urn:delphi:error:` followed by `code`.")
    title: str = Field(description="The HTTP status's phrase.")
    status: int
    code: str = Field(description="Stable dotted error code, e.g. `round.not_open`.")
    detail: str
    errors: list[FieldError] = Field(default_factory=list,
                                     description="Where the input is wrong, when it is.")


class ApiAbort(Exception):
    """Raised inside a view to answer with a problem document."""

    def __init__(self, status: int, code: str, detail: str, *,
                 params: dict[str, Any] | None = None,
                 errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        if params:
            try:  # the detail is a template of the parameters, as a DomainError's
                detail = detail.format_map(params)
            except (KeyError, IndexError, ValueError):
                pass
        super().__init__(detail)
        extra: dict[str, Any] = dict(params or {})
        if errors:
            extra["errors"] = errors
        self.response = problem(status, code, detail, headers=headers, **extra)
