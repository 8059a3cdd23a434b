"""Login checks with throttling per account and per address."""

from __future__ import annotations

from flask import current_app

from .. import audit
from ..models import Facilitator, utcnow
from ..security import clear_failures, is_throttled, record_failure
from ..studies.operations import find_facilitator

ACCOUNT_SCOPE = "login-account"
ADDRESS_SCOPE = "login-address"


class LoginThrottled(Exception):
    """Too many failed logins for this account or from this address."""


def authenticate(email: str, password: str, address: str) -> Facilitator | None:
    """Return the facilitator for valid credentials; count failures; raise when throttled."""
    cfg = current_app.config
    limit, window = int(cfg["LOGIN_MAX_FAILURES"]), int(cfg["LOGIN_WINDOW_SECONDS"])
    account_key = email.strip().lower()
    # The address limit is looser: several facilitators may share a hospital's address.
    if is_throttled(ACCOUNT_SCOPE, account_key, limit, window) or is_throttled(
        ADDRESS_SCOPE, address, limit * 4, window
    ):
        Facilitator.spend_equal_time(password)
        raise LoginThrottled
    facilitator = find_facilitator(email)
    if facilitator is None:
        Facilitator.spend_equal_time(password)
        ok = False
    else:
        ok = facilitator.check_password(password) and facilitator.is_enabled
    if not ok:
        record_failure(ACCOUNT_SCOPE, account_key, window)
        record_failure(ADDRESS_SCOPE, address, window)
        return None
    assert facilitator is not None
    clear_failures(ACCOUNT_SCOPE, account_key)
    facilitator.last_login_at = utcnow()
    audit.record(facilitator, "facilitator.login")
    return facilitator
