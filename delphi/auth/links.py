"""The links in emails to facilitators: a team invitation (good for 7 days) and a
password reset (good for 30 minutes), each good once.

As with a panellist's link, the secret is made when the email is built by the mail
worker (``link_for_message``) and only its SHA-256 is stored; building the message again
(a retry) makes a new secret and the old link stops working.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import OutboxMessage, PasswordReset, TeamInvitation, utcnow
from ..roles import Role
from ..tokens import TOKEN_BYTES, hash_token

INVITATION_DAYS = 7
RESET_MINUTES = 30
INVITATION_LIFETIME = timedelta(days=INVITATION_DAYS)
RESET_LIFETIME = timedelta(minutes=RESET_MINUTES)
# How long a reset or invitation row is kept after its link expired (used, cancelled or
# not): long enough for the team page and an enquiry ("I never got the invitation"),
# short enough that an invitee's address is not kept for ever. docs/personal-data.md.
SPENT_LINK_DAYS = 30


def _base() -> str:
    return (current_app.config.get("BASE_URL") or "").rstrip("/")


def _mint(row: TeamInvitation | PasswordReset) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row.token_hash = hash_token(token)
    return token


def purge_spent_links(now: datetime | None = None) -> tuple[int, int]:
    """Delete the password resets and team invitations whose link expired more than
    ``SPENT_LINK_DAYS`` ago (each is useless by then, and an invitation holds an email
    address); how many of each. Flushes; the caller commits."""
    cutoff = (now or utcnow()) - timedelta(days=SPENT_LINK_DAYS)
    resets = db.session.execute(sa.delete(PasswordReset).where(
        PasswordReset.expires_at < cutoff))
    invitations = db.session.execute(sa.delete(TeamInvitation).where(
        TeamInvitation.expires_at < cutoff))
    # a DELETE's result is a CursorResult, which has the row count; execute() is typed
    # with the general Result
    return (cast("sa.CursorResult[Any]", resets).rowcount,
            cast("sa.CursorResult[Any]", invitations).rowcount)


def link_for_message(message: OutboxMessage) -> str | None:
    """A fresh link for a team invitation or a password reset, or None when there is
    nothing to open (a reset for an address with no account)."""
    from ..mail import UndeliverableMessage

    if message.kind == "team_invitation":
        invitation = db.session.get(TeamInvitation, message.context.get("team_invitation_id"))
        if invitation is None or not invitation.is_open:
            raise UndeliverableMessage("the invitation was cancelled, used or has expired")
        return f"{_base()}/join/{_mint(invitation)}"
    reset = db.session.get(PasswordReset, message.context.get("reset_id"))
    if reset is None or reset.facilitator_id is None:
        return None
    if not reset.is_open:
        raise UndeliverableMessage("the password reset was used or has expired")
    return f"{_base()}/reset/{_mint(reset)}"


def message_values(message: OutboxMessage) -> dict[str, Any]:
    """What the templates of these messages show besides the link."""
    if message.kind == "team_invitation":
        invitation = db.session.get(TeamInvitation, message.context.get("team_invitation_id"))
        inviter = invitation.invited_by if invitation else None
        return {"invitation": invitation, "study": invitation.study if invitation else None,
                "role": Role(invitation.role) if invitation else None,
                "inviter": (inviter.name or inviter.email) if inviter else "A colleague",
                "days": INVITATION_DAYS}
    reset = db.session.get(PasswordReset, message.context.get("reset_id"))
    return {"has_account": reset is not None and reset.facilitator_id is not None,
            "minutes": RESET_MINUTES, "address": message.to_address}


def _by_token(model: type, token: str) -> Any:
    if not token or len(token) > 100 or not token.isascii():
        return None
    from sqlalchemy import select

    return db.session.scalar(select(model).where(model.token_hash == hash_token(token)))


def find_team_invitation(token: str) -> TeamInvitation | None:
    """The open invitation a link opens, or None (wrong, used, cancelled or expired)."""
    invitation = _by_token(TeamInvitation, token)
    return invitation if invitation is not None and invitation.is_open else None


def find_reset(token: str) -> PasswordReset | None:
    """The usable reset a link opens, or None (wrong, used or expired)."""
    reset = _by_token(PasswordReset, token)
    return reset if reset is not None and reset.is_open else None
