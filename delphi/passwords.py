"""What a new password must be: at least 12 characters, at most 1,000, and not one of
the most common passwords (the list shipped in ``delphi/data/common-passwords.txt.gz``;
its header names its source and licence, see docs/accounts.md).

Pure: no Flask, no database. ``password_problem`` returns the ``DomainError`` to raise,
or None.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models.types import DomainError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000
_HEADER_END = "# ---"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased, loaded on first use (about 20,000 entries, 80 KB
    compressed). Key: none (no arguments), so one value, the same for every account and
    language; bound: that one set; invalidation: none, it depends only on a file shipped
    with the package, which changes only with a new release (and a restart)."""
    data = resources.files("delphi").joinpath("data/common-passwords.txt.gz").read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    start = lines.index(_HEADER_END) + 1 if _HEADER_END in lines else 0
    return frozenset(line.strip().lower() for line in lines[start:] if line.strip())


def password_problem(password: str, email: str | None = None) -> DomainError | None:
    """Why ``password`` cannot be a new password, or None when it can."""
    from .models.types import DomainError  # here: the models import this module

    if len(password) < MIN_PASSWORD_LENGTH:
        return DomainError(
            "password.too_short",
            "The password must have at least {minimum} characters (it has {length}).",
            minimum=MIN_PASSWORD_LENGTH, length=len(password))
    if len(password) > MAX_PASSWORD_LENGTH:
        return DomainError("password.too_long",
                           "The password must have at most {maximum} characters.",
                           maximum=MAX_PASSWORD_LENGTH)
    if "\x00" in password:
        return DomainError("password.nul", "The password cannot contain a NUL character.")
    folded = password.strip().lower()
    if folded in common_passwords():
        return DomainError("password.common",
                           "This password is one of the most common passwords, which are "
                           "tried first by anyone guessing. Choose another.")
    if email and folded in {email.strip().lower(), email.strip().lower().split("@")[0]}:
        return DomainError("password.is_email", "The password cannot be your email address.")
    return None
