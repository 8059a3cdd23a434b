"""Keep personal-link secrets out of every log line."""

from __future__ import annotations

import logging
import re

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
