"""What the steering committee decided for each statement between rounds, and item lineage."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .types import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .study import Item


class DecisionKind(enum.StrEnum):
    CARRY = "carry"
    DROP = "drop"
    REWORD = "reword"
    MERGE = "merge"
    SPLIT = "split"
    ADD = "add"


class DropOutcome(enum.StrEnum):
    CONSENSUS_IN = "consensus_in"
    CONSENSUS_OUT = "consensus_out"
    OTHER = "other"


class ItemDecision(Model):
    """One decision of the committee after a round, with its reason."""

    __tablename__ = "item_decision"
    __table_args__ = (
        sa.CheckConstraint("reason <> ''", name="reason_required"),
        sa.CheckConstraint("kind <> 'drop' OR outcome IS NOT NULL", name="drop_has_outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    after_round: Mapped[int] = mapped_column()
    kind: Mapped[DecisionKind] = mapped_column(enum_column(DecisionKind, "decision_kind"))
    outcome: Mapped[DropOutcome | None] = mapped_column(
        enum_column(DropOutcome, "drop_outcome"), nullable=True
    )
    reason: Mapped[str] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    links: Mapped[list[ItemLink]] = relationship(back_populates="decision",
                                                 cascade="all, delete-orphan")
    subjects: Mapped[list[DecisionSubject]] = relationship(back_populates="decision",
                                                           cascade="all, delete-orphan")


class DecisionSubject(Model):
    """An item a decision was about (several for a merge)."""

    __tablename__ = "decision_subject"
    __table_args__ = (sa.UniqueConstraint("decision_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        sa.ForeignKey("item_decision.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), index=True)

    decision: Mapped[ItemDecision] = relationship(back_populates="subjects")
    item: Mapped[Item] = relationship()


class ItemLink(Model):
    """Lineage: ``child`` came from ``parent`` through a decision (reword, merge or split)."""

    __tablename__ = "item_link"
    __table_args__ = (
        sa.UniqueConstraint("parent_id", "child_id"),
        sa.CheckConstraint("parent_id <> child_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        sa.ForeignKey("item_decision.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"),
                                           index=True)
    child_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), index=True)

    decision: Mapped[ItemDecision] = relationship(back_populates="links")
    parent: Mapped[Item] = relationship(foreign_keys=[parent_id])
    child: Mapped[Item] = relationship(foreign_keys=[child_id])


class MeetingOutcome(Model):
    """The final consensus meeting's vote on one statement and the wording it endorsed."""

    __tablename__ = "meeting_outcome"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "item_id"),
        sa.CheckConstraint("votes_for >= 0 AND votes_against >= 0 AND votes_abstain >= 0",
                           name="votes_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"),
                                          index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"),
                                         index=True)
    votes_for: Mapped[int] = mapped_column(default=0)
    votes_against: Mapped[int] = mapped_column(default=0)
    votes_abstain: Mapped[int] = mapped_column(default=0)
    # The wording the meeting endorsed ("" : the statement's own wording).
    final_wording: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[Item] = relationship()

    @property
    def endorsed(self) -> bool:
        """More votes for than against."""
        return self.votes_for > self.votes_against
