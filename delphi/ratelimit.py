"""Optional rate limits in Redis (Flask-Limiter) in front of the database-backed throttles.

The database counters (``security.is_throttled``) always run; with ``DELPHI_REDIS_URL``
set, Flask-Limiter also caps login attempts (passwords, second-factor codes, reset
requests) and link openings (personal, reset and team-invitation links) per address,
shared by every web process, before a request reaches the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from flask import Flask
from flask.typing import ResponseReturnValue

from .config import ConfigError

LIMITED = (
    ("auth.login", "RATE_LIMIT_LOGIN", "POST"),
    ("auth.second_factor", "RATE_LIMIT_LOGIN", "POST"),
    ("auth.reset_request", "RATE_LIMIT_LOGIN", "POST"),
    ("auth.reset", "RATE_LIMIT_LINKS", None),
    ("join.join", "RATE_LIMIT_LINKS", None),
    ("panel.open_link", "RATE_LIMIT_LINKS", None),
)


def init_app(app: Flask) -> None:
    """Wrap the guessable endpoints in Redis-backed limits when Redis is configured."""
    url = app.config.get("REDIS_URL")
    if not url:
        return
    try:
        from flask_limiter import Limiter
        from flask_limiter.util import get_remote_address
    except ImportError:
        raise ConfigError("DELPHI_REDIS_URL is set but Flask-Limiter is not installed: "
                          "pip install -e '.[redis]'") from None
    limiter = Limiter(get_remote_address, app=app, storage_uri=url, default_limits=[],
                      key_prefix="delphi", strategy="fixed-window")
    for endpoint, setting, method in LIMITED:
        # Flask's type also allows coroutine views; delphi's are plain functions.
        view = cast(Callable[..., ResponseReturnValue], app.view_functions[endpoint])
        methods = [method] if method else None
        app.view_functions[endpoint] = limiter.limit(app.config[setting], methods=methods)(view)
    app.extensions["delphi_limiter"] = limiter
