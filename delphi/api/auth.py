"""Who is calling: a personal API token in ``Authorization: Bearer``, never a cookie.

The token's facilitator is the actor of every write (the audit log names them). What a
call may do is the token's scopes intersected with the facilitator's role on the study,
through the permission each route names and the table the console uses
(``delphi.roles.ROLE_PERMISSIONS``); see below. Each token is rate
limited: with Redis (``DELPHI_REDIS_URL``) by the shared Flask-Limiter, else by a
fixed window kept in this process.
"""

from __future__ import annotations

import re
import threading
import time

import sqlalchemy as sa
from flask import current_app, g, request

from ..console import permission_for
from ..extensions import db
from ..models import ApiToken, Facilitator, Study, StudyMembership
from ..roles import Permission, allows
from ..uow import unit_of_work
from . import tokens
from .problems import ApiAbort

# What a call may do is decided per route, as in the console: every route of a study (its
# URL has ``<slug>``) names the ``Permission`` it needs with ``delphi.console.requires``,
# the same marker and the same role table (``delphi.roles.ROLE_PERMISSIONS``) the console
# checks. A statistician's token so reads results and exports but not the study page, the
# panel, the rounds or the audit log; a viewer's reads all of those and writes nothing.
# The token's scopes narrow it further: a ``read`` token may only GET routes that need one
# of READ_PERMISSIONS; anything else needs the ``write`` scope. A study route that names no
# permission is a programming error (tests/test_access.py walks every route and role).
READ_PERMISSIONS = frozenset({Permission.VIEW_STUDY, Permission.VIEW_PANEL,
                              Permission.VIEW_ROUNDS, Permission.VIEW_RESULTS,
                              Permission.VIEW_TEAM, Permission.EXPORT})


def scope_for(method: str, permission: Permission) -> str:
    """The token scope a call with ``method`` on a route needing ``permission`` needs."""
    return "read" if method in ("GET", "HEAD") and permission in READ_PERMISSIONS else "write"


_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(second|minute|hour|day)\s*$")
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """``"120 per minute"`` -> (120, 60)."""
    match = _RATE.match(text or "")
    if match is None:
        raise ValueError(f"DELPHI_RATE_LIMIT_API: {text!r} is not like '120 per minute'")
    return int(match.group(1)), _SECONDS[match.group(2)]


class _Windows:
    """Fixed one-window counters per token, in this process (without Redis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, tuple[float, int]] = {}

    def hit(self, key: int, limit: int, seconds: int) -> int:
        """Count a request; return 0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= seconds:
                start, count = now, 0
            if count >= limit:
                return max(1, int(start + seconds - now) + 1)
            self._counts[key] = (start, count + 1)
            if len(self._counts) > 10000:  # forget old windows; bounded memory
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < seconds}
            return 0

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


windows = _Windows()


def authenticate() -> None:
    """Before every API call but the document and its page: find the token or refuse."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiAbort(401, "auth.token_missing",
                       "Send a personal API token: Authorization: Bearer <token>.",
                       headers={"WWW-Authenticate": 'Bearer realm="delphi"'})
    token = tokens.authenticate(secret.strip())
    if token is None:
        raise ApiAbort(401, "auth.token_invalid",
                       "The API token is unknown, expired or revoked.",
                       headers={"WWW-Authenticate": 'Bearer realm="delphi", '
                                                    'error="invalid_token"'})
    _limit(token)
    if tokens.use_due(token):
        with unit_of_work():
            tokens.mark_used(token)
    g.api_token = token
    g.api_actor = token.facilitator
    check_study_in_path()
    _check_body()


def _check_body() -> None:
    """A body, where one is sent, is JSON: anything else is refused before any work. A NUL
    character anywhere (path, body) is refused as the console refuses it: PostgreSQL
    cannot store it."""
    for name, value in (request.view_args or {}).items():
        if "\x00" in str(value):
            raise ApiAbort(404, "http.404", "There is nothing at this address.",
                           errors=[{"where": f"path.{name}", "message": "NUL character"}])
    if request.method not in ("POST", "PUT", "PATCH") or not request.content_length:
        return
    if not request.is_json:
        raise ApiAbort(415, "request.media_type", "Send the body as application/json.",
                       params={"sent": (request.mimetype or "none")[:80]})
    if request.get_json(silent=True) is None:
        raise ApiAbort(400, "request.json_invalid", "The body is not valid JSON.",
                       errors=[{"where": "body", "message": "not JSON"}])
    if not isinstance(request.get_json(), dict):
        raise ApiAbort(422, "request.invalid", "The body must be a JSON object.",
                       errors=[{"where": "body", "message": "not an object"}])
    where = _nul_in(request.get_json(), "body")
    if where:
        raise ApiAbort(422, "request.nul", "A NUL character cannot be stored; remove it.",
                       errors=[{"where": where, "message": "NUL character"}])


def _nul_in(value: object, where: str) -> str | None:
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_in(key, where) or _nul_in(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, f"{where}[{index}]")
            if found:
                return found
    return None


def _limit(token: ApiToken) -> None:
    limit, seconds = parse_rate(current_app.config["RATE_LIMIT_API"])
    limiter = current_app.extensions.get("delphi_limiter")
    if limiter is not None:
        from limits import parse

        item = parse(current_app.config["RATE_LIMIT_API"])
        if limiter.limiter.hit(item, "api-token", str(token.id)):
            return
        wait = seconds
    else:
        wait = windows.hit(token.id, limit, seconds)
        if not wait:
            return
    raise ApiAbort(429, "auth.rate_limited",
                   "Too many requests with this token: at most {limit} per {seconds} s.",
                   params={"limit": limit, "seconds": seconds},
                   headers={"Retry-After": str(wait)})


def actor() -> Facilitator:
    return g.api_actor


def require_scope(scope: str) -> None:
    if scope not in g.api_token.scope_list:
        raise ApiAbort(403, "auth.scope_missing",
                       "This token may not {scope}: create one with the {scope} scope.",
                       params={"scope": scope})


def _membership(slug: str) -> tuple[Study, str]:
    row = db.session.execute(
        sa.select(Study, StudyMembership.role).join(StudyMembership)
        .where(Study.slug == slug, StudyMembership.facilitator_id == g.api_actor.id)
    ).first()
    if row is None:
        raise ApiAbort(404, "study.not_found", "You have no study {slug}.",
                       params={"slug": slug[:80]})
    return row[0], row[1]


def check_study_in_path() -> None:
    """Before the body is even validated: a study in the path must be one of the caller's
    (else 404, so another team's study answers 404 whatever is sent), the token must have
    the scope and the caller's role the permission the route names (else 403)."""
    slug = (request.view_args or {}).get("slug")
    if slug is None or request.endpoint is None:
        return
    study, role = _membership(str(slug))
    view = current_app.view_functions[request.endpoint]
    needed = permission_for(view, request.method)
    if needed is None:
        raise RuntimeError(f"{request.endpoint} names no permission (@requires)")
    require_scope(scope_for(request.method, needed))
    if not allows(role, needed):
        raise ApiAbort(403, "auth.role", "Your role on {slug} ({role}) may not do this: it "
                       "needs {permission}.",
                       params={"slug": study.slug, "role": role, "permission": needed.value})
    g.api_study, g.api_role = study, role


def study_for(slug: str) -> Study:
    """The study of this call, loaded and checked before the view ran
    (``check_study_in_path``)."""
    study = g.get("api_study")
    if study is None or study.slug != slug:  # a view of a route without <slug>: a bug
        raise RuntimeError("study_for outside a checked study route")
    return study
