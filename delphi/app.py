"""The application factory behind ``delphi.create_app``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

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
        auth,
        builder,
        cli,
        decisions,
        errors,
        exports,
        filters,
        health,
        panel,
        ratelimit,
        rounds,
        security,
        studies,
    )

    security.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    auth.init_app(app)
    studies.init_app(app)
    builder.init_app(app)
    rounds.init_app(app)
    decisions.init_app(app)
    exports.init_app(app)
    panel.init_app(app)
    health.init_app(app)
    if app.config["BENCH_ENDPOINTS"]:
        from . import benchview

        benchview.init_app(app)
    cli.init_app(app)
    ratelimit.init_app(app)
    proxies = int(app.config["PROXIES"])
    if proxies:
        # Trust exactly this many proxies: the throttles key on the client's address.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    return app
