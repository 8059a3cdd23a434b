"""Declarations of potential conflicts of interest: a panellist's or a team member's."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .accounts import Facilitator

MAX_DECLARATION = 2000


class ConflictDeclaration(Model):
    """One person's declaration in one study: none to declare, or what they declare.

    Exactly one of ``panellist_id`` (a panellist, from their link) and ``facilitator_id``
    (a member of the study's team, from the Team page) is set.  An update overwrites it
    and moves ``declared_at``.  Erasing a panellist blanks ``details`` and keeps whether
    they declared, so the report's count holds (docs/personal-data.md).
    """

    __tablename__ = "conflict_declaration"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "panellist_id"),
        sa.UniqueConstraint("study_id", "facilitator_id"),
        sa.CheckConstraint("(panellist_id IS NULL) <> (facilitator_id IS NULL)",
                           name="declaration_one_declarant"),
        sa.CheckConstraint("has_conflicts OR details = ''", name="declaration_details_if_any"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"),
                                          index=True)
    panellist_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("panellist.id", ondelete="CASCADE"), index=True)
    facilitator_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("facilitator.id", ondelete="CASCADE"), index=True)
    has_conflicts: Mapped[bool] = mapped_column(default=False)
    details: Mapped[str] = mapped_column(sa.Text, default="")
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    facilitator: Mapped[Facilitator | None] = relationship()
