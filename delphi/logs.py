"""Keep personal-link secrets, email addresses and database row values out of every log line."""

from __future__ import annotations

import logging
import re
from typing import Any

# A personal link's secret after /p/, also percent-encoded (``next=%2Fp%2F...``).
TOKEN_PATH = re.compile(r"(/|%2f)p(/|%2f)(?:[A-Za-z0-9_\-]|%[0-9A-Fa-f]{2})+", re.IGNORECASE)
TOKEN_QUERY = re.compile(r"([?&;](?:token|t)=)[^&;\s\"']+", re.IGNORECASE)
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Database errors carry the row: PostgreSQL's DETAIL line ("Key (email)=(...)", "Failing
# row contains (...)") and SQLAlchemy's "[parameters: ...]" (hidden too by the engine's
# hide_parameters, set in config.py).
DB_DETAIL = re.compile(r"DETAIL:[^\n]*")
DB_PARAMETERS = re.compile(r"\[parameters: [^\n]*")


def scrub(text: str) -> str:
    """``text`` without link secrets, email addresses and database row values."""
    text = TOKEN_PATH.sub(r"\1p\2[redacted]", text)
    if "=" in text:
        text = TOKEN_QUERY.sub(r"\1[redacted]", text)
    if "@" in text or "%40" in text:
        text = EMAIL.sub("[email]", text)
    if "DETAIL:" in text:
        text = DB_DETAIL.sub("DETAIL: [redacted]", text)
    if "[parameters: " in text:
        text = DB_PARAMETERS.sub("[parameters redacted]", text)
    return text


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub a record's message and exception text in place.

    The exception is formatted here and dropped from ``exc_info``: a database error's
    text (Flask logs every unhandled one) holds the row's values, and a formatter or
    handler downstream would otherwise render it afresh from the exception object.
    """
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string is the caller's; log it as is
        message = str(record.msg)
    clean = scrub(message)
    if clean != message or record.args:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)


class RedactTokens(logging.Filter):
    """Scrub every record that passes through (see ``scrub``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


_FILTER = RedactTokens()


def _scrubbing_factory(previous: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub_record(record)
        return record

    factory.delphi_scrubs = True  # type: ignore[attr-defined]
    return factory


def install_log_redaction() -> None:
    """Scrub every log record of the process, whatever its logger (idempotent).

    Logger filters alone are not enough: a filter on ``delphi`` does not see the records
    of ``delphi.audit`` or of libraries, which propagate to the handlers without passing
    their ancestors' filters.  The record factory sees every record when it is made.
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, "delphi_scrubs", False):
        logging.setLogRecordFactory(_scrubbing_factory(current))
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "delphi"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
