"""Fixtures: an app on SQLite or on the database named by DELPHI_TEST_DATABASE_URL."""

from __future__ import annotations

import os
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient

from delphi import create_app
from delphi.extensions import db

from .browser import browser, live_server  # noqa: F401 - fixtures for the browser tests
from .factories import Factory

ROOT = Path(__file__).resolve().parent.parent


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DELPHI_TEST_DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite")


@pytest.fixture(scope="session")
def _app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": _database_url(tmp_path_factory),
        "BASE_URL": "https://delphi.test",
        "MAIL_FROM": "IMPACT study <study@delphi.test>",
    })
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def _empty_all_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, ``g`` and database session, as in production.

    Without this, requests reuse the test's app context: ``g`` (and the CSRF token
    Flask-WTF caches there) would leak from one request to the next.
    """

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # End the test's own transaction around the request, as separate processes
        # would: what the test wrote is visible to the request, and what the request
        # wrote is visible to the test afterwards.
        outer = has_app_context()
        if outer:
            db.session.commit()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if outer:
            db.session.commit()
            db.session.expire_all()
        return response


@pytest.fixture
def app(_app: Flask) -> Iterator[Flask]:
    """The app with an empty database and an application context."""
    _app.config.update(LOGIN_MAX_FAILURES=5, TOKEN_MAX_MISSES=20, SMTP_HOST=None)
    _app.test_client_class = FreshContextClient
    with _app.app_context():
        _empty_all_tables()
        yield _app
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def factory(app: Flask) -> Factory:
    return Factory()


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens SMTP or an outside connection without asking for it."""
    if "smtp" in request.fixturenames or request.node.get_closest_marker("browser"):
        return

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("this test tried to open an SMTP connection; mark it 'smtp'")

    monkeypatch.setattr(smtplib.SMTP, "connect", refuse)
    real_create_connection = socket.create_connection

    def local_only(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        host = address[0]
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"this test tried to reach {host}")
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", local_only)


def login(client: FlaskClient, email: str, password: str = "correct horse battery"):
    """Log a facilitator in through the real form."""
    page = client.get("/login")
    token = _csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": token})


def _csrf_from(html: str) -> str:
    marker = 'name="csrf_token" type="hidden" value="'
    start = html.find(marker)
    if start < 0:
        marker = 'name="csrf_token" value="'
        start = html.find(marker)
    assert start >= 0, "no CSRF token on the page"
    start += len(marker)
    return html[start:html.index('"', start)]


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on the page at ``url``."""
    return _csrf_from(client.get(url).get_data(as_text=True))


@pytest.fixture
def smtp(app: Flask):
    """A real SMTP server on localhost, with the app configured to deliver to it."""
    from .smtp_server import SmtpServer

    server = SmtpServer()
    server.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port)
    try:
        yield server.inbox
    finally:
        server.stop()
        app.config.update(SMTP_HOST=None)
