"""Account use cases: change and reset a password, the second factor (TOTP with recovery
codes), and what site admins do (create, disable, re-enable accounts).

They flush and never commit; the caller commits once. Every change to how an account
logs in (a new password, a reset, a second factor turned on or off, new recovery codes,
disabling) ends the account's other sessions and is audited; where the change is made
from a logged-in browser, ``renew_session`` starts a new session for that browser.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from flask import current_app

from .. import audit
from ..extensions import db
from ..mail import normalise_email, queue_account_message
from ..models import DomainError, Facilitator, PasswordReset, RecoveryCode, utcnow
from ..security import clear_failures, count_attempt
from .links import INVITATION_LIFETIME, RESET_LIFETIME
from .operations import account_key, create_facilitator, find_facilitator

RESET_ACCOUNT_SCOPE = "reset-account"
RESET_ADDRESS_SCOPE = "reset-address"
SECOND_FACTOR_SCOPE = "second-factor"
PASSWORD_CHANGE_SCOPE = "password-change"  # noqa: S105 - a throttle name
RESETS_PER_ACCOUNT = 3  # reset emails per typed address per window
RECOVERY_CODES = 10
ISSUER = "delphi"


class Throttled(Exception):
    """Too many attempts; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _window() -> int:
    return int(current_app.config["LOGIN_WINDOW_SECONDS"])


def _limit() -> int:
    return int(current_app.config["LOGIN_MAX_FAILURES"])


def renew_session(facilitator: Facilitator) -> None:
    """End every session of the account, then start a new one for this browser."""
    facilitator.end_all_sessions()
    facilitator.start_session()


# -- passwords ----------------------------------------------------------------------

def verify_password(facilitator: Facilitator, password: str, action: str) -> bool:
    """Check the current password before a change to the account, throttled as a login
    is (so an open session cannot be used to guess it). A wrong one is audited. The
    caller commits whatever the answer, before making the change in a unit of its own."""
    key = str(facilitator.id)
    claim = count_attempt(PASSWORD_CHANGE_SCOPE, key, _limit(), _window())
    if not claim.allowed:
        raise Throttled(claim.retry_after)
    if not facilitator.check_password(password):
        audit.record(facilitator, f"facilitator.{action}_failed", reason="wrong password")
        return False
    clear_failures(PASSWORD_CHANGE_SCOPE, key)
    return True


def change_password(facilitator: Facilitator, current: str, new: str) -> None:
    """A new password (the caller has checked ``current`` with ``verify_password``);
    other sessions end, and this browser gets a new one."""
    if new == current:
        raise DomainError("password.unchanged", "The new password is the same as the current one.")
    facilitator.set_password(new)
    renew_session(facilitator)
    audit.record(facilitator, "facilitator.password_changed")


def request_reset(email: str, address: str) -> None:
    """Queue a reset email for ``email``; the same work whether or not the account exists.

    Both cases look the account up, store a ``PasswordReset`` row, queue one email (for
    an unknown address it says there is no account) and write one audit event, so the
    answer and the time taken do not tell whether an account exists. Throttled per
    address typed and per client address, as logins are.
    """
    key = account_key(email)
    claim = count_attempt(RESET_ADDRESS_SCOPE, address, _limit() * 4, _window())
    if claim.allowed:
        claim = count_attempt(RESET_ACCOUNT_SCOPE, key, RESETS_PER_ACCOUNT, _window())
    if not claim.allowed:
        raise Throttled(claim.retry_after)
    email = normalise_email(email)[:254]
    facilitator = find_facilitator(email)
    if facilitator is not None and not facilitator.is_enabled:
        facilitator = None  # a disabled account cannot be reset back to life
    _queue_reset(email, facilitator, RESET_LIFETIME)
    who = {"facilitator_id": facilitator.id} if facilitator is not None else {"account": key}
    audit.record("reset", "facilitator.reset_requested", address=address, **who)


def _queue_reset(email: str, facilitator: Facilitator | None, lifetime: timedelta,
                 welcome: bool = False) -> PasswordReset:
    reset = PasswordReset(facilitator_id=facilitator.id if facilitator else None,
                          expires_at=utcnow() + lifetime)
    db.session.add(reset)
    db.session.flush()
    queue_account_message("password_reset", email, f"password-reset:{reset.id}",
                          reset_id=reset.id, welcome=welcome)
    return reset


def complete_reset(reset: PasswordReset, new: str) -> Facilitator:
    """Set the new password through a reset link (good once); every session ends."""
    facilitator = reset.facilitator
    if facilitator is None or not reset.is_open:
        raise DomainError("reset.closed", "This link was used already or has expired.")
    facilitator.set_password(new)  # ends every session
    reset.used_at = utcnow()
    reset.token_hash = None
    clear_failures("login-account", account_key(facilitator.email))
    audit.record(facilitator, "facilitator.password_reset")
    return facilitator


# -- the second factor --------------------------------------------------------------

def _code_hash(code: str) -> str:
    return hashlib.sha256(_normal_code(code).encode("ascii", "ignore")).hexdigest()


def _normal_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def provisioning_uri(facilitator: Facilitator) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    secret = facilitator.totp_pending_secret or ""
    return pyotp.TOTP(secret).provisioning_uri(name=facilitator.email, issuer_name=ISSUER)


def start_enrolment(facilitator: Facilitator) -> None:
    """A new secret to enrol (not yet in force: the first good code confirms it)."""
    if facilitator.has_second_factor:
        raise DomainError("two_factor.already_on", "The second factor is on already.")
    facilitator.totp_pending_secret = pyotp.random_base32()


def _step(now: float | None = None) -> int:
    return int((now if now is not None else time.time()) // 30)


def _totp_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step ``code`` is good for (this one, or one either side), or None; a step
    at or before ``last_step`` was used already."""
    code = _normal_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp, now = pyotp.TOTP(secret), _step()
    for step in (now, now - 1, now + 1):
        if secrets.compare_digest(totp.at(step * 30), code):
            return step if last_step is None or step > last_step else None
    return None


def confirm_enrolment(facilitator: Facilitator, code: str) -> list[str]:
    """Turn the second factor on with a first good code; return new recovery codes (shown
    once). Other sessions end."""
    secret = facilitator.totp_pending_secret
    if not secret:
        raise DomainError("two_factor.not_started", "Start setting up the second factor first.")
    step = _totp_step(secret, code, None)
    if step is None:
        raise DomainError("two_factor.wrong_code", "The code is not right. Check the time on the "
                          "phone and type the six digits the app shows now.")
    facilitator.totp_secret, facilitator.totp_pending_secret = secret, None
    facilitator.totp_last_step = step
    codes = _new_recovery_codes(facilitator)
    renew_session(facilitator)
    audit.record(facilitator, "facilitator.second_factor_on")
    return codes


def _new_recovery_codes(facilitator: Facilitator) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.facilitator_id == facilitator.id))
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(facilitator_id=facilitator.id, code_hash=_code_hash(c))
                       for c in codes)
    db.session.flush()
    return codes


def regenerate_recovery_codes(facilitator: Facilitator) -> list[str]:
    """New recovery codes (the old ones stop working); the caller checked the password."""
    if not facilitator.has_second_factor:
        raise DomainError("two_factor.no_codes",
                          "The second factor is off: there are no recovery codes.")
    codes = _new_recovery_codes(facilitator)
    renew_session(facilitator)
    audit.record(facilitator, "facilitator.recovery_codes_renewed")
    return codes


def turn_off_second_factor(facilitator: Facilitator) -> None:
    """Turn the second factor off; the caller checked the password."""
    if not facilitator.has_second_factor:
        raise DomainError("two_factor.off", "The second factor is off already.")
    if current_app.config.get("REQUIRE_2FA") and facilitator.is_admin:
        raise DomainError("two_factor.required", "Site admins must keep a second factor here.")
    facilitator.totp_secret = facilitator.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.facilitator_id == facilitator.id))
    renew_session(facilitator)
    audit.record(facilitator, "facilitator.second_factor_off")


def recovery_codes_left(facilitator: Facilitator) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode).where(
        RecoveryCode.facilitator_id == facilitator.id, RecoveryCode.used_at.is_(None))) or 0


@dataclass(frozen=True)
class SecondFactor:
    ok: bool
    kind: str = ""  # "totp" or "recovery code"


def check_second_factor(facilitator: Facilitator, code: str) -> SecondFactor:
    """Check a TOTP code or a recovery code at login (throttled like a login; each
    code is good once). Failures are audited; the caller commits either way."""
    key = str(facilitator.id)
    claim = count_attempt(SECOND_FACTOR_SCOPE, key, _limit(), _window())
    if not claim.allowed:
        audit.record(facilitator, "facilitator.second_factor_throttled",
                     retry_after=claim.retry_after)
        raise Throttled(claim.retry_after)
    result = SecondFactor(False)
    step = _totp_step(facilitator.totp_secret or "", code, facilitator.totp_last_step)
    if step is not None:
        facilitator.totp_last_step = step
        result = SecondFactor(True, "totp")
    elif len(code) <= 40:
        row = db.session.scalar(sa.select(RecoveryCode).where(
            RecoveryCode.facilitator_id == facilitator.id,
            RecoveryCode.code_hash == _code_hash(code), RecoveryCode.used_at.is_(None)))
        if row is not None:
            row.used_at = utcnow()
            result = SecondFactor(True, "recovery code")
    if result.ok:
        clear_failures(SECOND_FACTOR_SCOPE, key)
    else:
        audit.record(facilitator, "facilitator.second_factor_failed")
    return result


# -- site admins --------------------------------------------------------------------

def _admin_only(actor: Facilitator) -> None:
    if not actor.is_admin:
        raise DomainError("admin.required", "Only site admins manage accounts.")


def admin_create_account(actor: Facilitator, email: str, name: str) -> Facilitator:
    """An account with no usable password yet, and an email to choose one (7 days)."""
    _admin_only(actor)
    facilitator = create_facilitator(email, None, name, actor)
    _queue_reset(facilitator.email, facilitator, INVITATION_LIFETIME, welcome=True)
    return facilitator


def set_enabled(actor: Facilitator, facilitator: Facilitator, enabled: bool) -> None:
    """Disable an account (it cannot log in; every session ends) or enable it again."""
    _admin_only(actor)
    if facilitator.is_enabled == enabled:
        return
    if not enabled:
        if facilitator.id == actor.id:
            raise DomainError("admin.self", "You cannot disable your own account.")
        facilitator.disable()
    else:
        facilitator.is_enabled = True
    audit.record(actor, "facilitator.enabled" if enabled else "facilitator.disabled",
                 email=facilitator.email, before=not enabled, after=enabled)


def make_admin(facilitator: Facilitator, actor: audit.Actor, admin: bool = True) -> None:
    if facilitator.is_admin == admin:
        return
    facilitator.is_admin = admin
    audit.record(actor, "facilitator.admin_granted" if admin else "facilitator.admin_revoked",
                 email=facilitator.email, before=not admin, after=admin)


def all_accounts() -> list[Facilitator]:
    return list(db.session.scalars(sa.select(Facilitator).order_by(Facilitator.email)).all())


def find_account(ident: int) -> Facilitator | None:
    return db.session.get(Facilitator, ident)


__all__ = ["Throttled", "find_facilitator"]
