"""The JSON API under ``/api/v1``: personal API tokens, problem documents, cursor paging,
ETags, and an OpenAPI 3.1 document generated from the pydantic models (``spec.py``).

No cookie authenticates a call and no CSRF token is asked: the blueprint is exempt from
Flask-WTF's check, and only ``Authorization: Bearer`` names the caller. Errors are the
problem documents ``delphi.errors`` answers with for every path under /api/.
"""

from __future__ import annotations

from flask import Flask

# Light at import: the command line imports api.cli, which must not load pydantic.


def init_app(app: Flask) -> None:
    from ..config import ConfigError
    from ..extensions import csrf
    from .auth import parse_rate

    try:  # a bad setting stops the start, rather than answering every API call with a 500
        parse_rate(app.config["RATE_LIMIT_API"])
    except ValueError as error:
        raise ConfigError(str(error)) from None
    from .console import bp as console_bp
    from .console import hooks_bp
    from .problems import ApiAbort
    from .views import bp

    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(hooks_bp)
    app.register_error_handler(ApiAbort, lambda e: e.response)  # refusals; the rest: delphi.errors
