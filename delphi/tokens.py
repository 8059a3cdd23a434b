"""Personal links: a random secret per link, of which only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from flask import current_app

from .extensions import db
from .models import AccessToken, Invitation, RoundState

TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token(invitation: Invitation, flush: bool = True) -> str:
    """Create a new link for an invitation and return its secret (never stored).

    ``flush=False`` leaves the insert to the caller's next flush or commit (the mail
    worker mints a whole batch and inserts them together).
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(AccessToken(invitation=invitation, token_hash=hash_token(token)))
    if flush:
        db.session.flush()
    return token


def link_for(token: str) -> str:
    """The absolute URL of a personal link, built from DELPHI_BASE_URL, never the Host header."""
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    return f"{base}/p/{token}"


def find_invitation(token: str) -> Invitation | None:
    """The invitation a token opens, or None when it is wrong, revoked or its round is closed."""
    if not token or len(token) > 100 or not token.isascii():
        return None
    row = db.session.execute(
        sa.select(AccessToken, Invitation)
        .join(Invitation, AccessToken.invitation_id == Invitation.id)
        .where(AccessToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    access, invitation = row
    if access.revoked_at is not None or invitation.revoked_at is not None:
        return None
    if invitation.round.state is not RoundState.OPEN:
        return None
    return invitation
