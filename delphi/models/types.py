"""Column types and helpers shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always returned timezone-aware.

    SQLite has no time zones and hands back naive values; PostgreSQL would hand back
    aware ones.  Normalising here keeps comparisons working on both.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def enum_column(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enum: a VARCHAR with a named CHECK constraint listing the values."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class DomainError(Exception):
    """A request that the rules of a study refuse.

    ``code`` is stable: API clients, tests and translations key on it (the codes are listed
    in docs/errors.md). ``template`` is the English message with ``{name}`` placeholders
    filled from ``params`` when it is shown (``render``), so a surface can translate it
    first::

        raise DomainError("round.not_open", "Round {number} is not open.", number=2)
    """

    def __init__(self, code: str, template: str, **params: Any) -> None:
        self.code = code
        self.template = template
        self.params = params
        super().__init__(self.render())

    def render(self, template: str | None = None) -> str:
        """The message, from ``template`` (a translation of it) or the English one."""
        text = template if template is not None else self.template
        return text.format(**self.params) if self.params else text


class IllegalTransition(DomainError):
    """A state change the object's lifecycle does not allow."""
