"""Configuration order, the production guard and the SQLite connection settings."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from delphi import create_app
from delphi.config import ConfigError
from delphi.extensions import db


def _clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DELPHI_"):
            monkeypatch.delenv(name)
    # An empty instance folder: what `delphi demo` left in the checkout's must not count.
    import tempfile

    monkeypatch.setenv("DELPHI_INSTANCE_PATH", tempfile.mkdtemp(prefix="delphi-instance-"))


def test_environment_overrides_instance_file_which_overrides_defaults(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    (tmp_path / "delphi.cfg").write_text(
        "SECRET_KEY = 'from-file'\nBASE_URL = 'https://file.example'\n"
        "DATABASE_URL = 'sqlite:///x.sqlite'\nMAIL_FROM = 'file@example.org'\n"
    )
    monkeypatch.setenv("DELPHI_MAIL_FROM", "env@example.org")
    monkeypatch.setenv("DELPHI_SMTP_PORT", "2525")
    from flask import Flask

    from delphi.config import load_config

    app = Flask("delphi", instance_path=str(tmp_path), instance_relative_config=True)
    load_config(app, None)
    assert app.config["SECRET_KEY"] == "from-file"
    assert app.config["MAIL_FROM"] == "env@example.org"
    assert app.config["SMTP_PORT"] == 2525  # parsed as JSON, so a number
    assert app.config["MAIL_BATCH_SIZE"] == 100  # the default in code


def test_production_refuses_to_start_and_names_every_missing_setting(monkeypatch):
    _clear_env(monkeypatch)
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    message = str(excinfo.value)
    for name in ("DELPHI_SECRET_KEY", "DELPHI_BASE_URL", "DELPHI_DATABASE_URL"):
        assert name in message


def test_production_starts_with_the_required_settings(monkeypatch, tmp_path):
    _clear_env(monkeypatch)
    monkeypatch.setenv("DELPHI_SECRET_KEY", "s3cret-for-this-test")
    monkeypatch.setenv("DELPHI_BASE_URL", "https://delphi.example.org")
    monkeypatch.setenv("DELPHI_DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")


def test_debug_mode_without_a_secret_key_uses_a_random_one_and_says_so(monkeypatch, caplog):
    _clear_env(monkeypatch)
    monkeypatch.setenv("DELPHI_DEBUG", "true")
    app = create_app()
    assert len(app.config["SECRET_KEY"]) == 64
    assert "DELPHI_SECRET_KEY is not set" in caplog.text


def test_create_app_touches_no_database(tmp_path):
    target = tmp_path / "never.sqlite"
    create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{target}"})
    assert not target.exists()


def test_every_sqlite_connection_has_wal_foreign_keys_and_busy_timeout(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/pragmas.sqlite"})
    with app.app_context(), db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 5000
