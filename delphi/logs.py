"""Keep personal-link secrets, email addresses and database row values out of every log line."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

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


# --- handlers ------------------------------------------------------------------------
#
# Python drops INFO records of a logger with no handler (its last-resort handler
# prints WARNING and above only), and gunicorn configures only its own loggers: the
# ``delphi.*`` lines (audit, mail) went nowhere.  The platform attaches its own handler
# to the ``delphi`` logger, writing to standard error; records still propagate, so a
# logging configuration of your own (or pytest's capture) sees them as well.

HANDLER_NAME = "delphi-stderr"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Redacting(logging.Formatter):
    """Scrub the whole formatted line (``scrub``), the traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class TextFormatter(_Redacting):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self.converter = time.gmtime  # UTC, like every time the platform shows


class JsonFormatter(_Redacting):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # scrub_record has already turned an exception into (scrubbed) exc_text.
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return scrub(json.dumps(payload, ensure_ascii=False))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (it may be replaced)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def install_log_handler(log_format: str, level: str | int = "INFO") -> logging.Handler:
    """Attach (once) the stderr handler of the ``delphi`` loggers in ``log_format``.

    Idempotent: a second app in the same process reuses the handler and only changes
    its format.  The token redaction filter is on the handler itself: a logger's own
    filters do not see records that propagate from its children (``delphi.mail``).
    """
    fmt = str(log_format).strip().lower()
    if fmt not in LOG_FORMATS:
        from .config import ConfigError

        raise ConfigError(f"DELPHI_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                          f"got {log_format!r}")
    logger = logging.getLogger("delphi")
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if h.get_name() == HANDLER_NAME), None)
    if handler is None:
        handler = StderrHandler()
        handler.set_name(HANDLER_NAME)
        logger.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if _FILTER not in handler.filters:
        handler.addFilter(_FILTER)
    return handler
