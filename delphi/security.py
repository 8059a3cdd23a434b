"""Security headers, session timeouts, safe redirects and database-backed throttles."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, current_app, request, session
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest

from .extensions import db
from .models import ThrottleCounter, utcnow
from .models.types import UTCDateTime

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a browser says in Sec-Fetch-Site for a form of our own pages ("same-origin") or
# for something the user typed or bookmarked ("none").
SAME_ORIGIN_FETCH_SITES = frozenset({"same-origin", "none"})

log = logging.getLogger("delphi.security")


def init_app(app: Flask) -> None:
    """Register the header, input and session hooks."""
    app.after_request(_security_headers)
    app.before_request(_refuse_nul)
    app.before_request(_refuse_cross_origin)
    app.before_request(_session_timeouts)


def _refuse_nul() -> None:
    """Refuse NUL characters anywhere in the input: PostgreSQL cannot store them and SQLite
    would, so they are turned away the same way on both, before any use case runs."""
    for source in (request.args, request.form):
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                raise BadRequest(f"The field {key.replace(chr(0), '')!r} contains a NUL "
                                 "character, which cannot be stored. Remove it and try again.")


def _own_origins() -> set[str]:
    """The origins our own pages are served from: this request's, and DELPHI_BASE_URL's."""
    origins = {f"{request.scheme}://{request.host}".lower()}
    base = current_app.config.get("BASE_URL")
    if base:
        parts = urlsplit(base)
        if parts.scheme and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origins


def _refuse_cross_origin() -> None:
    """Refuse a state-changing request that a browser says came from another site.

    This replaces Flask-WTF's HTTPS Referer check (``WTF_CSRF_SSL_STRICT``, off in
    config.py): every page sends ``Referrer-Policy: no-referrer``, so browsers send no
    Referer and that check refused every POST over HTTPS. The CSRF token stays the
    main defence; this adds the browser's own word on where the request came from:

    - ``Sec-Fetch-Site`` (sent by current browsers over HTTPS and to localhost) must be
      ``same-origin`` or ``none``;
    - ``Origin``, when it names an origin, must be ours. Under ``no-referrer`` browsers
      send ``Origin: null`` even for our own forms (the Fetch standard serialises the
      origin as null for that policy), so ``null`` says nothing and is let through to
      the token check, as is a request with neither header (old clients, scripts).
    """
    if request.method not in UNSAFE_METHODS or request.blueprint == "api":
        return  # the API takes no cookie, so another site's request carries no session
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site.strip().lower() not in SAME_ORIGIN_FETCH_SITES:
        reason = f"Sec-Fetch-Site is {site!r}"
    elif origin and origin.strip().lower() != "null" and \
            origin.strip().rstrip("/").lower() not in _own_origins():
        reason = f"Origin {origin!r} is not this site"
    else:
        return
    # The endpoint, not the path: a path may hold a personal link's secret.
    log.warning("refused a cross-site %s to %s from %s: %s", request.method,
                request.endpoint or "-", client_address(), reason)
    raise CSRFError(f"The request came from another site ({reason}).")


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    return response


def _session_timeouts() -> None:
    """End a session idle for too long or older than the absolute limit."""
    if request.endpoint == "static" or request.blueprint == "api" or not session:
        return
    now = int(utcnow().timestamp())
    idle = int(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    absolute = int(current_app.config["SESSION_ABSOLUTE_HOURS"]) * 3600
    started = session.get("_started", now)
    seen = session.get("_seen", now)
    if now - seen > idle or now - started > absolute:
        session.clear()
        return
    # Any assignment marks the session modified and re-sends the cookie: assign only
    # what changes, so the cookie is rewritten at most every half minute.
    if "_started" not in session:
        session["_started"] = started
    if "_seen" not in session or now - seen > 30:
        session["_seen"] = now
    if not session.permanent:
        session.permanent = True


def start_fresh_session() -> None:
    """Drop everything in the session and start its clocks again (after a login or a link)."""
    session.clear()
    now = int(utcnow().timestamp())
    session["_started"] = now
    session["_seen"] = now
    session.permanent = True


def is_safe_next(target: str | None) -> TypeGuard[str]:
    """Accept only local paths for ``next=`` redirects."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def client_address() -> str:
    """The address the request came from (set ProxyFix in front of a proxy)."""
    return request.remote_addr or "unknown"


@dataclass(frozen=True)
class Claim:
    """The outcome of counting one attempt: allowed or not, the count, and the wait."""

    allowed: bool
    count: int
    retry_after: int = 0  # seconds until an attempt can be allowed again, when refused


def _counters() -> sa.Table:
    """The throttle counters' table (statements here are written against its columns)."""
    table = ThrottleCounter.__table__
    assert isinstance(table, sa.Table)  # a mapped class's own table, never a join
    return table


def _upsert(values: dict[str, Any]) -> Any:
    """An INSERT ... ON CONFLICT (scope, key) statement for the database in use; SQLite
    (3.35 and later) and PostgreSQL both run it, RETURNING included, as one atomic step."""
    table = _counters()
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).values(**values)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).values(**values)


def _window_fields(now: datetime, window_seconds: int) -> tuple[Any, dict[str, Any]]:
    """The 'window ran out' condition, and the SET clauses that start a new window."""
    table = _counters()
    expired = table.c.window_started_at < _at(now - timedelta(seconds=window_seconds))
    return expired, {
        "window_started_at": sa.case((expired, _at(now)), else_=table.c.window_started_at),
        "refused": sa.case((expired, 0), else_=table.c.refused),
    }


def _at(moment: datetime | None) -> Any:
    """A timestamp as a bound parameter of the column's type (naive UTC on both databases)."""
    return sa.null() if moment is None else sa.literal(moment, UTCDateTime())


def count_attempt(scope: str, key: str, limit: int, window_seconds: int) -> Claim:
    """Count one attempt for ``key``, atomically, and allow it while the count within the
    window is at most ``limit``. Counting comes first, before the attempt is evaluated,
    and the decision is taken on the count the increment returned: N concurrent attempts
    get N different counts, so no more than ``limit`` of them are ever allowed."""
    now = utcnow()
    table = _counters()
    expired, fresh = _window_fields(now, window_seconds)
    statement = _upsert({"scope": scope, "key": key, "count": 1, "refused": 0,
                         "window_started_at": now, "next_allowed_at": None})
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.key],
        set_={"count": sa.case((expired, 1), else_=table.c.count + 1), **fresh,
              "next_allowed_at": sa.case((expired, sa.null()), else_=table.c.next_allowed_at)},
    ).returning(table.c.count, table.c.window_started_at)
    count, started = db.session.execute(statement).one()
    if count <= limit:
        return Claim(True, count)
    return Claim(False, count, _seconds_until(started + timedelta(seconds=window_seconds), now))


def claim_slot(scope: str, key: str, free: int, delay_seconds: int, max_delay_seconds: int,
               window_seconds: int) -> Claim:
    """Slow ``key`` down instead of locking it out: ``free`` attempts within the window,
    then one attempt per ``delay_seconds``, doubling after each further attempt, up to
    ``max_delay_seconds``. One atomic statement counts the attempt and sets when the next
    one may come, and only when the current delay is over; nothing changes otherwise."""
    now = utcnow()
    table = _counters()
    expired, fresh = _window_fields(now, window_seconds)
    count = sa.case((expired, 1), else_=table.c.count + 1)
    delays, step = [], 0
    while True:
        wait = min(delay_seconds * 2 ** step, max_delay_seconds)
        delays.append((count == free + step, _at(now + timedelta(seconds=wait))))
        if wait >= max_delay_seconds:
            break
        step += 1
    next_allowed = sa.case((count < free, sa.null()), *delays,
                           else_=_at(now + timedelta(seconds=max_delay_seconds)))
    first_wait = None if free > 1 else now + timedelta(seconds=min(delay_seconds,
                                                                   max_delay_seconds))
    statement = _upsert({"scope": scope, "key": key, "count": 1, "refused": 0,
                         "window_started_at": now, "next_allowed_at": first_wait})
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.key],
        set_={"count": count, "next_allowed_at": next_allowed, **fresh},
        where=sa.or_(expired, table.c.next_allowed_at.is_(None),
                     table.c.next_allowed_at <= _at(now)),
    ).returning(table.c.count)
    allowed = db.session.execute(statement).scalar()
    if allowed is not None:
        return Claim(True, allowed)
    counted, next_allowed_at = db.session.execute(
        sa.select(table.c.count, table.c.next_allowed_at)
        .where(table.c.scope == scope, table.c.key == key)
    ).one()
    return Claim(False, counted, _seconds_until(next_allowed_at, now))


def uncount_attempt(scope: str, key: str) -> None:
    """Take back one counted attempt (a success, or one refused further on)."""
    table = _counters()
    db.session.execute(
        sa.update(table).where(table.c.scope == scope, table.c.key == key, table.c.count > 0)
        .values(count=table.c.count - 1)
    )


def note_refusal(scope: str, key: str) -> int:
    """Count one refused attempt for ``key`` and return how many there have been in the
    window (callers write an audit event at 1, 2, 4, 8, ... so a flood stays small)."""
    table = _counters()
    refused = db.session.execute(
        sa.update(table).where(table.c.scope == scope, table.c.key == key)
        .values(refused=table.c.refused + 1).returning(table.c.refused)
    ).scalar()
    return int(refused or 0)


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    if moment is None:
        return 0
    return max(1, math.ceil((moment - now).total_seconds()))


def is_throttled(scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Return whether ``key`` has reached ``limit`` failures within the window."""
    row = db.session.scalar(
        sa.select(ThrottleCounter).where(ThrottleCounter.scope == scope, ThrottleCounter.key == key)
    )
    if row is None:
        return False
    if utcnow() - row.window_started_at > timedelta(seconds=window_seconds):
        return False
    return row.count >= limit


def record_failure(scope: str, key: str, window_seconds: int) -> int:
    """Count one failure for ``key`` atomically (a new window when the old one ran out)
    and return the count. Two failures at once can neither lose a count nor collide on
    inserting the first row, as a read-then-write would."""
    now = utcnow()
    table = _counters()
    expired, fresh = _window_fields(now, window_seconds)
    statement = _upsert({"scope": scope, "key": key, "count": 1, "refused": 0,
                         "window_started_at": now, "next_allowed_at": None})
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.key],
        set_={"count": sa.case((expired, 1), else_=table.c.count + 1), **fresh},
    ).returning(table.c.count)
    return int(db.session.execute(statement).scalar_one())


def clear_failures(scope: str, key: str) -> None:
    """Forget the failures of ``key`` (after a success)."""
    db.session.execute(
        sa.delete(ThrottleCounter).where(ThrottleCounter.scope == scope, ThrottleCounter.key == key)
    )
