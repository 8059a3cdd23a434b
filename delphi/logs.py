"""Keep personal-link secrets out of every log line."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime

TOKEN_PATH = re.compile(r"/p/[A-Za-z0-9_\-]+")


class RedactTokens(logging.Filter):
    """Replace the secret part of personal links in log records with a placeholder."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/p/" in message:
            record.msg = TOKEN_PATH.sub("/p/[redacted]", message)
            record.args = ()
        return True


_FILTER = RedactTokens()


def install_log_redaction() -> None:
    """Attach the filter to the loggers that print request lines (idempotent)."""
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
    """Redact link secrets from the whole formatted line, the traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return TOKEN_PATH.sub("/p/[redacted]", line) if "/p/" in line else line


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
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(payload, ensure_ascii=False)
        return TOKEN_PATH.sub("/p/[redacted]", line) if "/p/" in line else line


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (it may be replaced)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # type: ignore[no-untyped-def]
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
