"""Flask extensions, created unbound here and bound in ``create_app``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraints get stable names for migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __init__(self, **kwargs: Any) -> None:
        # Column defaults normally appear only at flush; a new object should already
        # be in its initial state (a new round is a draft before anyone saves it).
        for column in self.__table__.columns:  # type: ignore[attr-defined]
            default = column.default
            if column.key in kwargs or default is None or not default.is_scalar:
                continue
            kwargs[column.key] = default.arg
        for key, value in kwargs.items():
            setattr(self, key, value)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()

SQLITE_BUSY_TIMEOUT_MS = 5000


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on WAL, foreign keys and a busy timeout on every SQLite connection."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Python's sqlite3 module opens a transaction only before a write, so a read-check-
    # write (is the round still open? then save) would not be atomic.  Let SQLAlchemy
    # emit BEGIN itself (see _sqlite_begin): the snapshot then starts at the first read,
    # and a write after someone else's commit fails (and is retried) instead of racing.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # In-memory databases cannot use WAL; SQLite answers "memory" and carries on.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


_write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Any) -> None:
    """Start SQLite transactions at BEGIN, or BEGIN IMMEDIATE inside ``write_transaction``."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


@contextmanager
def write_transaction() -> Iterator[None]:
    """Run the block in a fresh transaction that means to write.

    On SQLite it takes the write lock at the start (waiting up to the busy timeout),
    so its reads are current and it cannot fail half-way because another writer
    committed first; other databases rely on their own row locks.
    """
    db.session.commit()  # end any read-only transaction the request has open
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)
