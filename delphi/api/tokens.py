"""Personal API tokens: create (the secret is shown once), list, revoke, authenticate.

Use cases flush and never commit; the console, the CLI and the API commit through the
unit of work. The secret is ``dlp_`` and 43 URL-safe characters (256 random bits); only
its SHA-256 is stored.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import audit
from ..extensions import db
from ..models import ApiToken, DomainError, Facilitator, utcnow
from ..models.accounts import API_SCOPES

SECRET_PREFIX = "dlp_"  # noqa: S105 - a marker, not a secret
MAX_NAME = 80
MAX_DAYS = 366
# last_used_at is written at most this often per token, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_token(facilitator: Facilitator, name: str, scopes: str, days: int,
                 now: datetime | None = None) -> tuple[ApiToken, str]:
    """Add a token for ``facilitator``; return it and its secret (shown once, never kept)."""
    name = (name or "").strip()
    if not name:
        raise DomainError("token.name_missing", "Give the token a name, such as the script "
                          "or computer that uses it.")
    if len(name) > MAX_NAME or any(ord(c) < 32 or c == "\x7f" for c in name):
        raise DomainError("token.name_invalid", "The token's name must be one line of at most "
                          "{limit} characters.", limit=MAX_NAME)
    if scopes not in API_SCOPES:
        raise DomainError("token.scopes_invalid", "Scopes must be 'read' or 'read write'.")
    if not 1 <= days <= MAX_DAYS:
        raise DomainError("token.days_invalid", "A token lives 1 to {limit} days.",
                          limit=MAX_DAYS)
    now = now or utcnow()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(facilitator_id=facilitator.id, name=name, prefix=secret[:10],
                     secret_hash=ApiToken.hash(secret), scopes=scopes, created_at=now,
                     expires_at=now + timedelta(days=days))
    db.session.add(token)
    db.session.flush()
    audit.record(facilitator, "api_token.created", None, token=token.id, name=name,
                 scopes=scopes, expires_at=token.expires_at.isoformat())
    return token, secret


def tokens_of(facilitator: Facilitator) -> list[ApiToken]:
    return list(db.session.scalars(
        sa.select(ApiToken).where(ApiToken.facilitator_id == facilitator.id)
        .order_by(ApiToken.id.desc())))


def find_token(facilitator: Facilitator, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.facilitator_id != facilitator.id:
        raise DomainError("token.not_found", "You have no API token number {id}.", id=token_id)
    return token


def revoke_token(facilitator: Facilitator, token_id: int, actor: audit.Actor,
                 now: datetime | None = None) -> ApiToken:
    """Revoke one of ``facilitator``'s tokens; it stops working at once."""
    token = find_token(facilitator, token_id)
    if token.revoked_at is not None:
        raise DomainError("token.revoked", "API token {id} is revoked already.", id=token_id)
    token.revoked_at = now or utcnow()
    db.session.flush()
    audit.record(actor, "api_token.revoked", None, token=token.id, name=token.name)
    return token


def authenticate(secret: str, now: datetime | None = None) -> ApiToken | None:
    """The live token whose secret this is, its facilitator enabled; else None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(sa.select(ApiToken)
                              .where(ApiToken.secret_hash == ApiToken.hash(secret)))
    now = now or utcnow()
    if token is None or not token.is_live(now) or not token.facilitator.is_enabled:
        return None
    return token


def use_due(token: ApiToken, now: datetime | None = None) -> bool:
    """Whether this use is to be noted (the time of use is kept to the minute)."""
    now = now or utcnow()
    return token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION


def mark_used(token: ApiToken, now: datetime | None = None) -> bool:
    """Note the time of use (at most once a minute); True when it was noted."""
    now = now or utcnow()
    if not use_due(token, now):
        return False
    token.last_used_at = now
    return True
