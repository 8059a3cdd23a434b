"""Login checks: throttled per account-and-address and per address, slowed per account.

A login is two steps, each committed by the caller on its own:

1. ``begin_login`` counts the attempt in every throttle, atomically, *before* the
   password is checked, so that concurrent attempts are decided on the counts their
   own increments returned, never on a stale read;
2. ``finish_login`` checks the password (an argon2 hash: slow on purpose, and outside
   any transaction that holds a counter's lock) and records the outcome.

The throttles:

- per account and address: ``LOGIN_MAX_FAILURES`` attempts in the window, then that
  address is refused for that account until the window ends;
- per address: four times as many (several facilitators may share a hospital's
  address), then that address is refused;
- per account, from anywhere: after ``LOGIN_MAX_FAILURES`` failures, one attempt per
  ``LOGIN_DELAY_SECONDS``, doubling up to ``LOGIN_MAX_DELAY_SECONDS``. The account is
  slowed down, never locked: someone guessing from elsewhere cannot keep the
  facilitator out for longer than the delay. A browser that has logged in to the
  account before carries a signed "known device" cookie and skips this delay
  altogether (it is still counted by the other two), so a guesser who takes the
  slots one by one still cannot keep the facilitator out of their usual browser.

Failed and refused logins go to the audit log and the server log, with the
facilitator's id or, for an unknown account, a short keyed hash of the email typed;
never the email, a name or the password.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from .. import audit
from ..extensions import db
from ..mail import address_problem, normalise_email, shown_address
from ..models import DomainError, Facilitator, FacilitatorSession, utcnow
from ..security import claim_slot, clear_failures, count_attempt, note_refusal, uncount_attempt

PAIR_SCOPE = "login-account-address"
ADDRESS_SCOPE = "login-address"
ACCOUNT_SCOPE = "login-account"
AUDIT_ACTOR = "login"
DEVICE_COOKIE_DAYS = 180

log = logging.getLogger("delphi.auth")


class LoginThrottled(Exception):
    """Too many attempts: for this account from this address, from this address, or
    (slowed down) for this account. ``retry_after`` is in seconds."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(scope)
        self.scope = scope
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        wait = _wait_text(self.retry_after)
        if self.scope == ACCOUNT_SCOPE:
            return ("This account has had several failed logins, so it accepts one attempt "
                    f"at a time for now. Try again in {wait}.")
        if self.scope == PAIR_SCOPE:
            return f"Too many failed attempts for this account. Try again in {wait}."
        return f"Too many login attempts from your network. Try again in {wait}."


@dataclass(frozen=True)
class LoginAttempt:
    """One counted login attempt, ready to be checked."""

    email: str
    address: str
    account_key: str

    @property
    def pair_key(self) -> str:
        return f"{self.account_key}|{self.address}"


def account_key(email: str) -> str:
    """A short keyed hash of an email typed at login: the throttles' key for the account,
    and what the logs show of an unknown account (the email itself never is)."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(secret, b"login-account:" + normalise_email(email).encode("utf-8"),
                      hashlib.sha256)
    return digest.hexdigest()[:16]


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="login-device")


def device_token(facilitator: Facilitator) -> str:
    """The value of the known-device cookie set after a successful login."""
    # The epoch makes logout everywhere and a new password forget every device too.
    return _device_serializer().dumps({"f": facilitator.id, "e": facilitator.session_epoch})


def _known_device(token: str | None, email: str) -> bool:
    """Whether ``token`` is a known-device cookie of the account behind ``email``."""
    if not token or len(token) > 200:
        return False
    try:
        data = _device_serializer().loads(token, max_age=DEVICE_COOKIE_DAYS * 86400)
    except BadData:
        return False
    facilitator = find_facilitator(email)
    return (isinstance(data, dict) and facilitator is not None
            and data.get("f") == facilitator.id and data.get("e") == facilitator.session_epoch)


def begin_login(email: str, address: str, device: str | None = None) -> LoginAttempt:
    """Count one login attempt in every throttle (flushed); raise LoginThrottled when one
    of them refuses it, after recording the refusal (the caller commits either way).
    ``device`` is the known-device cookie, if the browser sent one."""
    cfg = current_app.config
    limit, window = int(cfg["LOGIN_MAX_FAILURES"]), int(cfg["LOGIN_WINDOW_SECONDS"])
    attempt = LoginAttempt(normalise_email(email), address, account_key(email))
    # The same order in every request: concurrent logins lock the rows in one order.
    claim = count_attempt(ADDRESS_SCOPE, address, limit * 4, window)
    if not claim.allowed:
        _refuse(attempt, ADDRESS_SCOPE, address, claim.retry_after)
    claim = count_attempt(PAIR_SCOPE, attempt.pair_key, limit, window)
    if not claim.allowed:
        _refuse(attempt, PAIR_SCOPE, attempt.pair_key, claim.retry_after)
    if _known_device(device, email):
        return attempt
    claim = claim_slot(ACCOUNT_SCOPE, attempt.account_key, limit, int(cfg["LOGIN_DELAY_SECONDS"]),
                       int(cfg["LOGIN_MAX_DELAY_SECONDS"]), window)
    if not claim.allowed:
        # Waiting for the account's delay is no failure of this address for this account.
        uncount_attempt(PAIR_SCOPE, attempt.pair_key)
        _refuse(attempt, ACCOUNT_SCOPE, attempt.account_key, claim.retry_after)
    return attempt


def finish_login(attempt: LoginAttempt, password: str) -> Facilitator | None:
    """Check the password of a counted attempt: the facilitator, or None (recorded)."""
    facilitator = find_facilitator(attempt.email)
    if facilitator is None:
        Facilitator.spend_equal_time(password)
        reason = "unknown account"
    elif not facilitator.check_password(password):
        reason = "wrong password"
    elif not facilitator.is_enabled:
        reason = "account disabled"
    else:
        clear_failures(PAIR_SCOPE, attempt.pair_key)
        clear_failures(ACCOUNT_SCOPE, attempt.account_key)
        uncount_attempt(ADDRESS_SCOPE, attempt.address)  # a success costs the address nothing
        if not facilitator.has_second_factor:
            complete_login(facilitator)
        # else: no session yet; the caller asks for the second factor (complete_login then)
        return facilitator
    who = _who(attempt, facilitator)
    log.warning("login failed: %s address=%s reason=%s", _who_text(who), attempt.address, reason)
    audit.record(AUDIT_ACTOR, "facilitator.login_failed", address=attempt.address,
                 reason=reason, **who)
    return None


def complete_login(facilitator: Facilitator, **detail: object) -> None:
    """Start the login session of a facilitator whose password (and second factor, if
    any) was right."""
    facilitator.last_login_at = utcnow()
    _forget_old_sessions(facilitator)
    facilitator.start_session()
    audit.record(facilitator, "facilitator.login", **detail)


def _forget_old_sessions(facilitator: Facilitator) -> None:
    """Delete the facilitator's login sessions that have ended or run out."""
    hours = int(current_app.config["SESSION_ABSOLUTE_HOURS"])
    db.session.execute(
        sa.delete(FacilitatorSession).where(
            FacilitatorSession.facilitator_id == facilitator.id,
            sa.or_(FacilitatorSession.ended_at.is_not(None),
                   FacilitatorSession.created_at < utcnow() - timedelta(hours=hours)))
    )


def logout(facilitator: Facilitator) -> None:
    """End the login session the request came with (flushed with the audit event)."""
    facilitator.end_session()
    audit.record(facilitator, "facilitator.logout")


def logout_everywhere(facilitator: Facilitator) -> None:
    """End every login session of the facilitator, on every device."""
    facilitator.end_all_sessions()
    audit.record(facilitator, "facilitator.logout_everywhere")


def _refuse(attempt: LoginAttempt, scope: str, key: str, retry_after: int) -> None:
    who = _who(attempt, find_facilitator(attempt.email))
    log.warning("login throttled: %s address=%s by=%s retry_after=%ss", _who_text(who),
                attempt.address, scope, retry_after)
    refused = note_refusal(scope, key)
    if refused & (refused - 1) == 0:  # 1, 2, 4, 8, ...: a flood stays a few rows
        audit.record(AUDIT_ACTOR, "facilitator.login_throttled", address=attempt.address,
                     throttle=scope, retry_after=retry_after, refused_in_window=refused, **who)
    raise LoginThrottled(scope, retry_after)


def _who(attempt: LoginAttempt, facilitator: Facilitator | None) -> dict[str, object]:
    if facilitator is not None:
        return {"facilitator_id": facilitator.id}
    return {"account": attempt.account_key}


def _who_text(who: dict[str, object]) -> str:
    return " ".join(f"{key}={value}" for key, value in who.items())


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minutes"


# -- facilitator accounts ------------------------------------------------------------

# Not an argon2 hash: no password matches it, until one is chosen through the emailed link.
UNUSABLE_PASSWORD = "!unusable"  # noqa: S105


def create_facilitator(email: str, password: str | None, name: str = "",
                       actor: audit.Actor = "cli") -> Facilitator:
    """Create a facilitator account with an argon2id password hash, or (``password`` None)
    with no usable password until its owner chooses one through a link."""
    email = normalise_email(email)
    problem = address_problem(email)
    if problem is not None:
        raise DomainError("facilitator.bad_email",
                          "{address!r} is not a valid email address: {problem}",
                          address=shown_address(email), problem=problem)
    if db.session.scalar(sa.select(Facilitator.id).where(Facilitator.email == email)):
        raise DomainError("facilitator.exists",
                          "a facilitator with the email {email} already exists", email=email)
    facilitator = Facilitator(email=email, name=name.strip())
    if password is None:
        facilitator.password_hash = UNUSABLE_PASSWORD
    else:
        facilitator.set_password(password)  # a DomainError says what the password lacks
    db.session.add(facilitator)
    db.session.flush()
    audit.record(actor, "facilitator.created", email=email)
    return facilitator


def find_facilitator(email: str) -> Facilitator | None:
    return db.session.scalar(
        sa.select(Facilitator).where(Facilitator.email == normalise_email(email))
    )
