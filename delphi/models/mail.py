"""The outbox: every email is a row written with the action that caused it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .types import UTCDateTime, enum_column, utcnow


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Model):
    """One email to one recipient, delivered after commit by ``delphi send-mail``."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        sa.CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_time"),
        sa.Index("ix_outbox_message_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("study.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    panellist_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("panellist.id", ondelete="SET NULL"), index=True
    )
    invitation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("invitation.id", ondelete="SET NULL"), index=True
    )
    context: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[MailStatus] = mapped_column(
        enum_column(MailStatus, "mail_status"), default=MailStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which worker's batch holds the lease: a renewal or a send by a worker whose
    # lease ran out (and was claimed by another) changes nothing.
    leased_by: Mapped[str | None] = mapped_column(sa.String(200))
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerHeartbeat(Model):
    """A mail worker's last sign of life, written every pass (``/healthz`` reads it)."""

    __tablename__ = "worker_heartbeat"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker: Mapped[str] = mapped_column(sa.String(200), unique=True)  # host:pid
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
