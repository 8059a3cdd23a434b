"""Request limits that hold for every encoding, and ids that stay inside the database's range.

Werkzeug applies ``max_form_parts`` to multipart bodies only: a url-encoded body of
150,000 short fields fits in 1 MB and costs seconds of CPU to parse into a MultiDict
(and more in every hook that walks the form).  The request class here counts the
fields of a url-encoded body (its ``&`` separators) before parsing it, and the query
string's too, and answers 413 when there are more than ``DELPHI_MAX_FORM_PARTS``.

Integer path segments (``<int:...>``) are bounded to 1..2**31-1: a larger id would
reach PostgreSQL as a bigint parameter compared to an integer column (fine) or be
bound to an integer column (an error, so a 500).  Outside the range is a 404.
"""

from __future__ import annotations

import io
from typing import IO, Any
from urllib.parse import parse_qsl

from flask import Flask, Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL integer (and the range every id column uses)


def too_many_fields(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"The form had more than {limit} fields, more than any page here sends, so nothing "
        "was read or saved. Reload the page and send it again."
    )


class LimitedFormDataParser(FormDataParser):
    """Counts url-encoded fields before parsing them (multipart parts Werkzeug counts)."""

    def _parse_urlencoded(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                          options: dict[str, str]) -> Any:
        body = stream.read()  # the stream is already limited to MAX_CONTENT_LENGTH
        limit = self.max_form_parts
        if limit is not None and body.count(b"&") + 1 > limit:
            raise too_many_fields(limit)
        items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        return io.BytesIO(b""), self.cls(items), self.cls()


class LimitedRequest(Request):
    form_data_parser_class = LimitedFormDataParser


def _refuse_long_query_strings() -> None:
    from flask import current_app, request

    limit = current_app.config["MAX_FORM_PARTS"]
    if request.query_string.count(b"&") + 1 > limit:
        raise too_many_fields(limit)


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` with the bounds of a database id: 1..2**31-1, else a 404."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Install the request class, the query-string check and the bounded ``int`` converter.

    Call before any blueprint is registered: a rule picks its converter when it is added.
    """
    app.request_class = LimitedRequest
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.url_map.converters["id"] = BoundedIntegerConverter
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_long_query_strings)


def bounded_int(raw: str | None) -> int | None:
    """A positive id from a form or query field, or None when it is not one (or too large)."""
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None
