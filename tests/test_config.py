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
    monkeypatch.setenv("DELPHI_SECRET_KEY", "s3cret-for-this-test-" + "x" * 11)
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


def _production_env(monkeypatch: pytest.MonkeyPatch, tmp_path, key: str) -> None:
    _clear_env(monkeypatch)
    monkeypatch.setenv("DELPHI_SECRET_KEY", key)
    monkeypatch.setenv("DELPHI_BASE_URL", "https://delphi.example.org")
    monkeypatch.setenv("DELPHI_DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite")


@pytest.mark.parametrize("key,says", [
    ("s3cret", "is too short (6 bytes; at least 32"),
    ("k" * 31, "is too short (31 bytes"),
    ("replace-with-64-hex-characters", "is an example value from the documentation"),
    ("restore-test", "is an example value from the documentation"),
])
def test_production_refuses_a_short_or_example_secret_key(monkeypatch, tmp_path, key, says):
    _production_env(monkeypatch, tmp_path, key)
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    message = str(excinfo.value)
    assert "DELPHI_SECRET_KEY" in message and says in message
    assert "secrets.token_hex(32)" in message  # how to make a good one
    assert key not in message.replace("DELPHI_SECRET_KEY", "")  # the key is not echoed


def test_production_accepts_a_generated_secret_key(monkeypatch, tmp_path):
    import secrets

    _production_env(monkeypatch, tmp_path, secrets.token_hex(32))
    assert create_app().config["SESSION_COOKIE_SECURE"] is True


def test_demo_mode_keeps_a_short_secret_key(monkeypatch, tmp_path):
    _production_env(monkeypatch, tmp_path, "short")
    monkeypatch.setenv("DELPHI_DEMO", "true")
    assert create_app().config["SECRET_KEY"] == "short"


def test_every_secret_key_in_the_docs_is_a_known_example():
    """A key written in a doc is public: the production guard must refuse it."""
    import re
    from pathlib import Path

    from delphi.config import KNOWN_EXAMPLE_SECRET_KEYS

    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"SECRET_KEY\s*=\s*['\"]?([^\s'\"`]+)")
    found = {}
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for value in pattern.findall(path.read_text()):
            if value.startswith("$"):
                continue  # $(python3 -c ...): generated where it is used
            found[value] = path.name
    assert found, "the docs show no example key: has the pattern gone stale?"
    unknown = {key: doc for key, doc in found.items() if key not in KNOWN_EXAMPLE_SECRET_KEYS}
    assert not unknown, f"add these doc examples to KNOWN_EXAMPLE_SECRET_KEYS: {unknown}"


def test_a_bad_api_rate_limit_stops_the_start_and_names_the_setting(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        create_app({"TESTING": True, "SECRET_KEY": "x", "RATE_LIMIT_API": "lots",
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'rate.sqlite'}"})
    assert "DELPHI_RATE_LIMIT_API" in str(excinfo.value)
