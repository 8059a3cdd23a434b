"""Security headers, session timeouts, safe redirects and database-backed throttles."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, current_app, request, session
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest

from .extensions import db
from .models import ThrottleCounter, utcnow

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
    if request.method not in UNSAFE_METHODS:
        return
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
    if request.endpoint == "static" or not session:
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


def is_safe_next(target: str | None) -> bool:
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


def record_failure(scope: str, key: str, window_seconds: int) -> None:
    """Count one failure for ``key``, starting a new window when the old one ran out."""
    now = utcnow()
    row = db.session.scalar(
        sa.select(ThrottleCounter).where(ThrottleCounter.scope == scope, ThrottleCounter.key == key)
    )
    if row is None:
        db.session.add(ThrottleCounter(scope=scope, key=key, count=1, window_started_at=now))
    elif now - row.window_started_at > timedelta(seconds=window_seconds):
        row.count = 1
        row.window_started_at = now
    else:
        row.count += 1
    db.session.flush()


def clear_failures(scope: str, key: str) -> None:
    """Forget the failures of ``key`` (after a success)."""
    db.session.execute(
        sa.delete(ThrottleCounter).where(ThrottleCounter.scope == scope, ThrottleCounter.key == key)
    )
