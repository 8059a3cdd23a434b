"""Facilitators and their membership of studies."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, db
from ..passwords import password_problem
from ..roles import ROLE_VALUES, Role
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .study import Study

# argon2-cffi's defaults are the RFC 9106 "low memory" profile of argon2id.
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash of a password nobody has, verified when the account is unknown so that a
    login for an unknown email costs the same as one for a known email.

    Cached once per process, made at first use rather than at import (hashing costs tens
    of milliseconds, which every command would pay). Key: none (no arguments), so it holds
    exactly one value, the same for every caller; bound: that one entry; invalidation:
    never needed, it depends on no input, user, language or database row.
    """
    return _hasher.hash("no account has this password")


_ROLES_SQL = ", ".join(f"'{r}'" for r in ROLE_VALUES)


class Facilitator(Model):
    """A member of a study's steering committee who logs in with email and password."""

    __tablename__ = "facilitator"
    __table_args__ = (sa.CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A site admin creates, disables and re-enables accounts in the browser.
    is_admin: Mapped[bool] = mapped_column(default=False)
    # The second factor: a base32 TOTP secret once confirmed; the one being enrolled; the
    # last time step accepted (a code is good once).
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    memberships: Mapped[list[StudyMembership]] = relationship(
        back_populates="facilitator", cascade="all, delete-orphan"
    )

    # The secret of the login session this object was loaded for (not a column): it
    # goes into the id Flask-Login keeps in the session cookie.
    session_secret = None  # type: str | None  # (a plain attribute, so no annotation)

    def set_password(self, password: str) -> None:
        """Hash and store a new password, ending every existing session. A password that
        is too short, too long or common is refused (``passwords.password_problem``)."""
        problem = password_problem(password, self.email)
        if problem is not None:
            raise problem
        self.password_hash = _hasher.hash(password)
        self.end_all_sessions()

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None

    def check_password(self, password: str) -> bool:
        """Return whether ``password`` matches, rehashing when the parameters changed."""
        try:
            _hasher.verify(self.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if _hasher.check_needs_rehash(self.password_hash):
            self.password_hash = _hasher.hash(password)
        return True

    @staticmethod
    def spend_equal_time(password: str) -> None:
        """Verify against a dummy hash so unknown accounts take as long as known ones."""
        try:
            _hasher.verify(_dummy_hash(), password)
        except VerificationError:
            pass

    # Flask-Login protocol. The id in the session cookie names the login session
    # (FacilitatorSession) by its secret, and the epoch; see auth.views.load_facilitator.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}:{self.session_secret or ''}"

    def start_session(self) -> str:
        """Record a new login session (flushed) and return its secret, for the cookie."""
        secret = secrets.token_urlsafe(32)
        db.session.add(FacilitatorSession(facilitator_id=self.id,
                                          secret_hash=FacilitatorSession.hash(secret)))
        db.session.flush()
        self.session_secret = secret
        return secret

    def end_session(self) -> None:
        """End the login session this object was loaded for (logout)."""
        if self.session_secret:
            secret_hash = FacilitatorSession.hash(self.session_secret)
            db.session.execute(
                sa.update(FacilitatorSession)
                .where(FacilitatorSession.secret_hash == secret_hash,
                       FacilitatorSession.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
        self.session_secret = None

    def end_all_sessions(self) -> None:
        """End every session of this facilitator (logout everywhere, a new password, or
        disabling): the rows end, and the epoch in every old cookie is stale."""
        self.session_epoch = (self.session_epoch or 0) + 1
        if self.id is not None:
            db.session.execute(
                sa.update(FacilitatorSession)
                .where(FacilitatorSession.facilitator_id == self.id,
                       FacilitatorSession.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
        self.session_secret = None

    def disable(self) -> None:
        """Stop this facilitator from logging in, and end every session."""
        self.is_enabled = False
        self.end_all_sessions()

    def can_access(self, study: Study) -> bool:
        """Return whether this facilitator is on the study's steering committee."""
        return any(m.study_id == study.id for m in self.memberships)

    def role_in(self, study: Study) -> Role | None:
        """This facilitator's role in ``study``, or None when not on its team."""
        for m in self.memberships:
            if m.study_id == study.id:
                return Role(m.role)
        return None


class StudyMembership(Model):
    """A facilitator's seat on one study's steering committee."""

    __tablename__ = "study_membership"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "facilitator_id"),
        sa.CheckConstraint(f"role IN ({_ROLES_SQL})", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    facilitator_id: Mapped[int] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16), default=Role.EDITOR.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    facilitator: Mapped[Facilitator] = relationship(back_populates="memberships")
    study: Mapped[Study] = relationship(back_populates="memberships")


class FacilitatorSession(Model):
    """One login of a facilitator. The session cookie carries a random secret, this row
    only its SHA-256; logging out ends the row, so a cookie copied before the logout
    (from a shared computer, a proxy log, a backup) no longer opens the console."""

    __tablename__ = "facilitator_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    facilitator_id: Mapped[int] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class RecoveryCode(Model):
    """A single-use code that stands in for the second factor (its SHA-256 only)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    facilitator_id: Mapped[int] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TeamInvitation(Model):
    """An invitation to join a study's team with a role, sent by email.

    The link's secret is made when the email is sent (only its SHA-256 is kept, in
    ``token_hash``); the invitation is good once, until ``expires_at``.
    """

    __tablename__ = "team_invitation"
    __table_args__ = (
        sa.CheckConstraint(f"role IN ({_ROLES_SQL})", name="role_known"),
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"),
                                          index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[str] = mapped_column(sa.String(16))
    invited_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="SET NULL"))
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    study: Mapped[Study] = relationship()
    invited_by: Mapped[Facilitator | None] = relationship(foreign_keys=[invited_by_id])

    @property
    def is_open(self) -> bool:
        return (self.accepted_at is None and self.cancelled_at is None
                and self.expires_at > utcnow())


class PasswordReset(Model):
    """A request to reset a password by email: good once, for 30 minutes.

    Made for every request, whether the account exists or not (``facilitator_id`` is
    then NULL and the email says there is no account), so both take the same work.
    The link's secret is made when the email is sent; only its SHA-256 is kept.
    """

    __tablename__ = "password_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    facilitator_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    facilitator: Mapped[Facilitator | None] = relationship()

    @property
    def is_open(self) -> bool:
        """For an account, not used yet and not expired."""
        return (self.facilitator_id is not None and self.used_at is None
                and self.expires_at > utcnow())


API_SCOPES = ("read", "read write")


class ApiToken(Model):
    """A personal API token: the holder acts as its facilitator on the JSON API.

    Only the SHA-256 of the secret is kept (the secret has 256 bits of entropy, so a fast
    hash is enough); ``prefix`` (the first characters of the secret) lets the owner tell
    their tokens apart. ``scopes`` is ``read`` or ``read write``.
    """

    __tablename__ = "api_token"
    __table_args__ = (
        sa.CheckConstraint("scopes IN ('read', 'read write')", name="scopes_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    facilitator_id: Mapped[int] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(80))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[str] = mapped_column(sa.String(16), default="read")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    facilitator: Mapped[Facilitator] = relationship()

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now
