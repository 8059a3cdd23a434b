"""Flask extensions, created unbound here and bound in ``create_app``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Executable, MetaData, event, text
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.exc import StaleDataError

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
        for column in self.__table__.columns:
            default = column.default
            if column.key in kwargs or default is None or not default.is_scalar:
                continue
            kwargs[column.key] = default.arg
        # Only mapped attributes (columns, relationships) and properties: a misspelt
        # keyword (``Item(keyy="x")``) would otherwise set a plain attribute nobody saves.
        cls = type(self)
        for key, value in kwargs.items():
            if not hasattr(cls, key):
                raise TypeError(f"{key!r} is not an attribute of {cls.__name__}")
            setattr(self, key, value)


db = SQLAlchemy(model_class=Base)

# The models subclass ``Model``. At run time that is ``db.Model``, which Flask-SQLAlchemy
# builds from ``Base`` (same registry, metadata and ``__init__``) plus its own mixins; a
# type checker cannot follow a base class made at run time, so it is told the same thing
# as a class (the typed-model pattern Flask-SQLAlchemy's maintainers point to).
if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskModel

    class Model(_FlaskModel, Base):
        __abstract__ = True
else:
    Model = db.Model
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()

# How long a SQLite connection waits for another writer's lock before giving up with
# "database is locked" (the save path then answers 503 "the platform is busy").
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


def affected_rows(statement: Executable) -> int:
    """Run a bulk UPDATE or DELETE in the session and return how many rows it matched."""
    result = db.session.execute(statement)
    assert isinstance(result, CursorResult)  # what an UPDATE or DELETE without RETURNING gives
    return result.rowcount


def database_now() -> datetime:
    """The current time by the database's clock (PostgreSQL), else this process's, in UTC.

    PostgreSQL's ``now()`` is the start of the transaction, which may be long before a
    lock was granted; ``clock_timestamp()`` is the time of the call.  Used for times
    that must be ordered against a lock (a save and a round's close), so that web
    servers with slightly different clocks still agree with each other.
    """
    from .models import utcnow

    if db.session.get_bind().dialect.name != "postgresql":
        return utcnow()  # SQLite runs in this process: its clock is ours
    return db.session.execute(text("SELECT clock_timestamp()")).scalar_one().astimezone(UTC)


# SQLSTATEs of PostgreSQL: a deadlock or a serialization failure is worth a retry at
# once; a lock or statement timeout means the database is busy right now.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
BUSY_SQLSTATES = frozenset({"55P03", "57014"})
SQLITE_BUSY, SQLITE_LOCKED = 5, 6


def contention(exc: BaseException) -> str | None:
    """How a failed write lost to another one: "retry", "busy", or None (not contention).

    "retry": a deadlock, a serialization failure, or a row that another transaction
    changed or deleted under the ORM (``StaleDataError``): try again at once.
    "busy": the lock wait already ran out (SQLite's busy timeout, PostgreSQL's lock or
    statement timeout): trying again at once would only wait as long again.
    """
    if isinstance(exc, StaleDataError):
        return "retry"
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED):
            return "busy"
        text_ = str(orig).lower()
        return "busy" if "locked" in text_ or "busy" in text_ else None
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in RETRY_SQLSTATES:
        return "retry"
    if state in BUSY_SQLSTATES:
        return "busy"
    return None
