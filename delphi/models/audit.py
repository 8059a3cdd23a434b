"""The audit log and the counters that throttle guessing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .types import UTCDateTime, utcnow


class AuditEvent(Model):
    """Who did what, when: one row for every state change."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("study.id", ondelete="CASCADE"), index=True
    )
    actor: Mapped[str] = mapped_column(sa.String(300))
    action: Mapped[str] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ThrottleCounter(Model):
    """Attempts or failures counted per key (an account, an address, or both) within a
    time window; always changed with one atomic statement (see ``delphi.security``)."""

    __tablename__ = "throttle_counter"
    __table_args__ = (sa.UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(300))
    count: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A slowed-down key accepts its next attempt from this time on (None: no delay).
    next_allowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attempts refused within the window: audit events are written at 1, 2, 4, 8, ...
    refused: Mapped[int] = mapped_column(default=0, server_default="0")
