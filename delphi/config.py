"""Configuration: defaults in code, then the instance config file, then ``DELPHI_*`` variables.

Every setting is documented in ``docs/settings.md``; a test fails when one is not.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Config, Flask

INSTANCE_CONFIG_FILE = "delphi.cfg"
# Written by `delphi demo` in the instance folder: its secret key, address and password,
# so a restart keeps logins, and later commands find the demo database (see _demo_fallback).
DEMO_SETTINGS_FILE = "demo.cfg"
DEMO_SETTINGS = ("DEMO", "SECRET_KEY", "BASE_URL")

# Each default is the value used when neither the instance file nor the environment
# sets it.  Names are the ``DELPHI_`` environment variables without the prefix.
DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,
    "DATABASE_URL": None,  # None: SQLite file delphi.sqlite in the instance folder
    "BASE_URL": None,
    "DEBUG": False,
    "DEMO": False,
    "REQUIRE_2FA": False,  # site admins must use a second factor (TOTP)
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "SMTP_TIMEOUT": 20,
    "MAIL_FROM": "delphi@localhost",
    "MAIL_BATCH_SIZE": 100,
    "MAIL_MAX_ATTEMPTS": 8,
    "MAIL_LEASE_SECONDS": 120,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "MAX_FORM_PARTS": 2000,
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_WINDOW_SECONDS": 900,
    "LOGIN_DELAY_SECONDS": 30,
    "LOGIN_MAX_DELAY_SECONDS": 300,
    "TOKEN_MAX_MISSES": 20,
    "TOKEN_WINDOW_SECONDS": 900,
    "SESSION_IDLE_MINUTES": 120,
    "SESSION_ABSOLUTE_HOURS": 12,
    "SECURE_COOKIES": None,  # None: on unless DEBUG, DEMO or TESTING
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",  # "text" or "json" (one JSON object a line)
    "HEALTH_WORKER_MAX_AGE": 300,  # seconds; 0: no mail worker expected by /healthz
    "PROXIES": 0,  # reverse proxies in front that set X-Forwarded-For/-Proto (ProxyFix)
    "REDIS_URL": None,  # None: no Redis; the database counters throttle on their own
    "RATE_LIMIT_LOGIN": "20 per minute",
    "RATE_LIMIT_LINKS": "60 per minute",
    "COMPRESS_RESPONSES": True,  # brotli/gzip for GET pages and static files (Flask-Compress)
    "BENCH_ENDPOINTS": False,  # bench/load_voting.py only: adds /_bench/one-query
    "INSTANCE_PATH": None,  # read from the environment before the rest; see instance_path()
}

REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "BASE_URL", "DATABASE_URL")

MIN_SECRET_KEY_BYTES = 32
MAKE_A_SECRET_KEY = 'python3 -c "import secrets; print(secrets.token_hex(32))"'  # noqa: S105 - a command, not a key
# Every secret key written as an example in the docs or the README (a test keeps this
# list complete): anyone could sign a facilitator session with one of them.
KNOWN_EXAMPLE_SECRET_KEYS = frozenset({
    "replace-with-64-hex-characters",
    "restore-test",
    "from-file",
    "change-me",
    "changeme",
    "secret",
    "dev",
    "test-secret-key",
})


class ConfigError(RuntimeError):
    """The configuration cannot run the platform; the message says what to set."""


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from defaults, the instance file and the environment (or tests)."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile(INSTANCE_CONFIG_FILE, silent=True)
        app.config.from_prefixed_env("DELPHI")
        _demo_fallback(app)
    else:
        app.config.from_mapping(test_config)
    _derive(app)


def instance_path() -> str | None:
    """``DELPHI_INSTANCE_PATH``, absolute; None leaves Flask's default (``instance/`` beside
    a source checkout, ``<venv>/var/delphi-instance`` for an installed package)."""
    path = os.environ.get("DELPHI_INSTANCE_PATH")
    return os.path.abspath(path) if path else None


def read_demo_settings(folder: str) -> dict[str, Any] | None:
    """The settings ``delphi demo`` left in ``folder``, or None."""
    demo = Config(folder)
    return dict(demo) if demo.from_pyfile(DEMO_SETTINGS_FILE, silent=True) else None


def _demo_fallback(app: Flask) -> None:
    """After ``delphi demo``, later commands in the same instance folder run in demo mode on
    the demo database with its key.  Only while nothing names a database: a deployment
    must set DELPHI_DATABASE_URL, so a leftover demo file never relaxes it."""
    if app.config["DATABASE_URL"]:
        return
    demo = read_demo_settings(app.instance_path)
    if demo is None:
        return
    for name in DEMO_SETTINGS:
        if name in demo and not app.config.get(name) and f"DELPHI_{name}" not in os.environ:
            app.config[name] = demo[name]


def _derive(app: Flask) -> None:
    """Set the Flask and extension settings that follow from ours."""
    cfg = app.config
    url = cfg["DATABASE_URL"] or _default_sqlite_url(app)
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # Database errors would print the statement's values (names, addresses) in logs.
    cfg["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("hide_parameters", True)
    if url.startswith("postgresql"):
        cfg["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("pool_pre_ping", True)
    relaxed = bool(cfg["DEBUG"] or cfg["DEMO"] or cfg.get("TESTING"))
    secure = cfg["SECURE_COOKIES"]
    if secure is None:
        secure = not relaxed
    cfg["SESSION_COOKIE_SECURE"] = bool(secure)
    cfg["SESSION_COOKIE_NAME"] = "__Host-delphi" if secure else "delphi_session"
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["REMEMBER_COOKIE_DURATION"] = 0
    cfg["PERMANENT_SESSION_LIFETIME"] = int(cfg["SESSION_ABSOLUTE_HOURS"]) * 3600
    cfg["WTF_CSRF_TIME_LIMIT"] = None  # the session's own lifetime bounds the token
    # Flask-WTF's default (True) refuses every POST made over HTTPS without a same-origin
    # Referer, and our pages send Referrer-Policy: no-referrer, so browsers send none:
    # behind an HTTPS proxy no form could be sent. security._refuse_cross_origin checks
    # Origin and Sec-Fetch-Site instead.
    cfg["WTF_CSRF_SSL_STRICT"] = False
    cfg["MAX_FORM_PARTS"] = int(cfg["MAX_FORM_PARTS"])
    _check_mail_timing(cfg)


def _check_mail_timing(cfg: Any) -> None:
    """A worker waiting on a slow SMTP server must keep its lease, or a second worker
    sends its messages again: each SMTP command may wait ``SMTP_TIMEOUT`` seconds, and
    the lease is renewed every quarter of its length between messages."""
    timeout, lease = float(cfg["SMTP_TIMEOUT"]), float(cfg["MAIL_LEASE_SECONDS"])
    if timeout <= 0 or lease <= 0:
        raise ConfigError("DELPHI_SMTP_TIMEOUT and DELPHI_MAIL_LEASE_SECONDS must be positive "
                          f"(got {timeout:g} and {lease:g})")
    if timeout * 4 > lease:
        raise ConfigError(
            f"DELPHI_SMTP_TIMEOUT ({timeout:g} s) must be at most a quarter of "
            f"DELPHI_MAIL_LEASE_SECONDS ({lease:g} s): a worker waiting on a slow SMTP server "
            "would lose its lease and another worker would send the same messages again. "
            "Lower the timeout or lengthen the lease (see docs/settings.md)."
        )


def _default_sqlite_url(app: Flask) -> str:
    # Flask-SQLAlchemy resolves a relative SQLite path inside the instance folder
    # (and creates that folder when it binds the engine).
    return "sqlite:///delphi.sqlite"


def check_production(app: Flask) -> None:
    """Refuse to serve outside debug, demo or tests when a required setting is missing
    or the secret key is short or an example from the docs."""
    cfg = app.config
    if cfg["DEBUG"] or cfg["DEMO"] or cfg.get("TESTING"):
        if not cfg["SECRET_KEY"]:
            # A throwaway key: sessions end when the process does.  Said, not silent.
            app.logger.warning("DELPHI_SECRET_KEY is not set; using a random key for this run")
            cfg["SECRET_KEY"] = secrets.token_hex(32)
        return
    missing = [name for name in REQUIRED_IN_PRODUCTION if not cfg.get(name)]
    if missing:
        names = ", ".join(f"DELPHI_{name}" for name in missing)
        raise ConfigError(
            f"cannot start: {names} not set. Set them in the environment or in "
            f"{os.path.join(app.instance_path, INSTANCE_CONFIG_FILE)} (see docs/settings.md); "
            "for a local try-out run `delphi demo`."
        )
    problem = secret_key_problem(cfg["SECRET_KEY"])
    if problem:
        raise ConfigError(
            f"cannot start: DELPHI_SECRET_KEY {problem}: with it anyone could forge a "
            f"facilitator's session. Make a new one with  {MAKE_A_SECRET_KEY}  and set "
            "it as DELPHI_SECRET_KEY (changing it logs everyone out; nothing is lost)."
        )


def secret_key_problem(key: str | bytes) -> str | None:
    """Say what is wrong with a secret key for production, or None when it will do."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if raw.strip().decode("utf-8", "replace") in KNOWN_EXAMPLE_SECRET_KEYS:
        return "is an example value from the documentation"
    if len(raw) < MIN_SECRET_KEY_BYTES:
        return f"is too short ({len(raw)} bytes; at least {MIN_SECRET_KEY_BYTES} are needed)"
    return None
