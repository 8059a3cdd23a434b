"""The application factory behind ``delphi.create_app``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from .config import check_production, instance_path, load_config
from .extensions import csrf, db, login_manager, migrate
from .logs import install_log_handler, install_log_redaction

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def build_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, commands; no side effects."""
    app = Flask(__name__, instance_path=instance_path(), instance_relative_config=True)
    load_config(app, test_config)
    install_log_handler(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])  # before any log line
    check_production(app)
    logging.getLogger("delphi").setLevel(app.config["LOG_LEVEL"])
    install_log_redaction()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    login_manager.init_app(app)

    from . import (
        account,
        auth,
        builder,
        cli,
        decisions,
        errors,
        exports,
        filters,
        health,
        limits,
        panel,
        ratelimit,
        rounds,
        security,
        studies,
        team,
    )

    limits.init_app(app)  # first: routes pick their converters when they are added
    security.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    from .console import can

    app.jinja_env.globals["can"] = can
    auth.init_app(app)
    studies.init_app(app)
    builder.init_app(app)
    rounds.init_app(app)
    decisions.init_app(app)
    exports.init_app(app)
    team.init_app(app)
    account.init_app(app)
    panel.init_app(app)
    health.init_app(app)
    if app.config["BENCH_ENDPOINTS"]:
        from . import benchview

        benchview.init_app(app)
    cli.init_app(app)
    ratelimit.init_app(app)
    if app.config["COMPRESS_RESPONSES"]:
        init_compression(app)
    proxies = int(app.config["PROXIES"])
    if proxies:
        # Trust exactly this many proxies: the throttles key on the client's address.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    return app


def init_compression(app: Flask) -> None:
    """Brotli (else gzip) for pages and static files, from the application itself.

    Flask-Compress only adds ``Content-Encoding``, ``Vary: Accept-Encoding`` and a
    ``:br``/``:gzip`` suffix on strong ETags; it leaves ``Cache-Control`` and the CSP
    alone. Its defaults would also offer zstd and leave gzip out of streamed responses
    (static files are streamed), so both lists are set here.

    BREACH: a compressed page that carries a secret (the CSRF token) next to text an
    attacker chooses leaks the secret through its size. Flask-WTF's token is *not*
    masked per render: it is the session's raw token, base64, plus a timestamp and a
    signature, so its first part is the same on every page. Hence only answers to GET
    and HEAD are compressed, and those echo no request input next to the token; a POST
    answer (where typed text is shown again) never is, and Flask-Compress skips every
    status outside 200-299 anyway. The session cookie is SameSite=Lax, so another site
    cannot make the browser fetch a page with the panellist's token in it.
    """
    from flask_compress import Compress

    app.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_ALGORITHM_STREAMING=["br", "gzip"],
        COMPRESS_BR_LEVEL=5,
        COMPRESS_LEVEL=6,
        COMPRESS_REGISTER=False,  # registered below, for GET and HEAD only
    )
    compress = Compress()
    compress.init_app(app)

    @app.after_request
    def _compress(response: Response) -> Response:
        if request.method not in ("GET", "HEAD"):
            return response
        # A streamed response (a static file) is re-wrapped in a compressing generator,
        # and Flask-Compress drops the file: close it with the response, or it leaks.
        close = getattr(response.response, "close", None) if response.is_streamed else None
        if close is not None:
            response.call_on_close(close)
        return compress.after_request(response)
