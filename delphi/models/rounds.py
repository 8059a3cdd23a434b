"""Rounds, the personal links that open them, and the panel's answers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..consensus.schema import AnalysisResult, SchemaError, read_result
from ..extensions import Model
from .types import DomainError, IllegalTransition, UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .study import Item, Panellist, Study


class RoundState(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Round(Model):
    """One round of rating; draft, then open for votes, then closed for good."""

    __tablename__ = "round"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "number"),
        sa.CheckConstraint("number >= 1", name="number_positive"),
        sa.CheckConstraint("state = 'draft' OR opened_at IS NOT NULL", name="opened_when_open"),
        sa.CheckConstraint("state <> 'closed' OR closed_at IS NOT NULL", name="closed_has_time"),
        sa.CheckConstraint(
            "closes_at IS NULL OR opened_at IS NULL OR closes_at > opened_at",
            name="closes_after_opening",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    state: Mapped[RoundState] = mapped_column(
        enum_column(RoundState, "round_state"), default=RoundState.DRAFT
    )
    allow_suggestions: Mapped[bool] = mapped_column(default=False)
    ask_reason_on_band_change: Mapped[bool] = mapped_column(default=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How many times the round was reopened after a close by mistake.
    reopened: Mapped[int] = mapped_column(default=0, server_default="0")

    study: Mapped[Study] = relationship(back_populates="rounds")
    round_items: Mapped[list[RoundItem]] = relationship(
        back_populates="round", cascade="all, delete-orphan", order_by="RoundItem.position"
    )
    invitations: Mapped[list[Invitation]] = relationship(
        back_populates="round", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.state is RoundState.OPEN

    def open(self, now: datetime, closes_at: datetime | None) -> None:
        """Open a draft round for votes."""
        if self.state is not RoundState.DRAFT:
            raise IllegalTransition("round.not_draft", "round {number} is {state}, not draft",
                                    number=self.number, state=self.state.value)
        if closes_at is not None and closes_at <= now:
            raise IllegalTransition("round.closes_in_past",
                                    "the closing time must be in the future")
        self.state = RoundState.OPEN
        self.opened_at = now
        self.closes_at = closes_at

    def close(self, now: datetime) -> None:
        """Stop accepting votes for good."""
        if self.state is not RoundState.OPEN:
            raise IllegalTransition("round.not_open", "round {number} is {state}, not open",
                                    number=self.number, state=self.state.value)
        self.state = RoundState.CLOSED
        self.closed_at = now

    def is_past_deadline(self, now: datetime) -> bool:
        return self.closes_at is not None and now >= self.closes_at

    @property
    def shown_state(self) -> RoundState:
        """The state pages show: an open round past its deadline is closed (votes are
        refused from that moment), even before the worker has computed its results."""
        if self.state is RoundState.OPEN and self.is_past_deadline(utcnow()):
            return RoundState.CLOSED
        return self.state

    @property
    def items(self) -> list[Item]:
        return [ri.item for ri in self.round_items]


class RoundItem(Model):
    """An item frozen into a round's questionnaire, in order."""

    __tablename__ = "round_item"
    __table_args__ = (sa.UniqueConstraint("round_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)

    round: Mapped[Round] = relationship(back_populates="round_items")
    item: Mapped[Item] = relationship(lazy="joined")  # a round's items load in one query


class StatementBlock(Model):
    """A statement of a launched round as its voting page shows it to everyone, rendered once.

    Built when the round is launched (``delphi.results.blocks``): the statement's text
    (``head_html``) and the panel's feedback from the closed round before
    (``feedback_html``: the whole panel; ``groups_html``: the groups, the hidden-groups
    note and the comments). Nothing here belongs to one panellist: a view adds the
    panellist's own answers. ``feedback_item_id`` is the statement of the round before
    whose answers are fed back (the earlier wording of a reworded statement), so a view
    can find the panellist's own rating there. ``locale`` and ``template_version`` say
    what the HTML was rendered for; a view of another locale or template version renders
    afresh instead of using it. Rebuilt by ``rebuild_round_feedback`` when what is fed
    back changes (a comment moderated, results recomputed).
    """

    __tablename__ = "statement_block"
    __table_args__ = (sa.UniqueConstraint("round_id", "item_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    template_version: Mapped[str] = mapped_column(sa.String(16))
    position: Mapped[int] = mapped_column(default=0)
    head_html: Mapped[str] = mapped_column(sa.Text, default="")
    feedback_html: Mapped[str] = mapped_column(sa.Text, default="")
    groups_html: Mapped[str] = mapped_column(sa.Text, default="")
    feedback_item_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("item.id", ondelete="SET NULL"))
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invitation(Model):
    """A panellist's invitation to one round; its links are access tokens."""

    __tablename__ = "invitation"
    __table_args__ = (sa.UniqueConstraint("round_id", "panellist_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id", ondelete="CASCADE"), index=True)
    panellist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("panellist.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    round: Mapped[Round] = relationship(back_populates="invitations")
    panellist: Mapped[Panellist] = relationship()
    tokens: Mapped[list[AccessToken]] = relationship(
        back_populates="invitation", cascade="all, delete-orphan"
    )


class AccessToken(Model):
    """One personal link: only the SHA-256 of its secret is kept."""

    __tablename__ = "access_token"
    __table_args__ = (sa.CheckConstraint("length(token_hash) = 64", name="hash_is_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("invitation.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invitation: Mapped[Invitation] = relationship(back_populates="tokens")


class ResponseState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


class Response(Model):
    """A panellist's answer sheet for one round: a draft until submitted."""

    __tablename__ = "response"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "panellist_id"),
        sa.CheckConstraint(
            "state = 'draft' OR submitted_at IS NOT NULL", name="submitted_has_time"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id", ondelete="CASCADE"), index=True)
    panellist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("panellist.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[ResponseState] = mapped_column(
        enum_column(ResponseState, "response_state"), default=ResponseState.DRAFT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sheet's version: one more each time a save changes its answers or suggestions.
    # The voting page carries the version it was drawn from (and a mark of the page), so
    # a save from a page drawn before someone else's change is refused, not mixed in.
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The mark of the page whose save made this version ("" before the first change).
    saved_from: Mapped[str] = mapped_column(sa.String(16), default="", server_default="")

    ratings: Mapped[list[Rating]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )


class Rating(Model):
    """One panellist's answer to one item in one round: a scale point, UTS, or a comment only."""

    __tablename__ = "rating"
    __table_args__ = (
        sa.UniqueConstraint("panellist_id", "item_id", "round_id"),
        sa.CheckConstraint("value IS NULL OR NOT is_uts", name="value_or_uts"),
        sa.CheckConstraint("value IS NULL OR (value >= 0 AND value <= 100)", name="value_range"),
        sa.CheckConstraint("moderation IS NULL OR moderation IN ('hidden', 'redacted')",
                           name="moderation_known"),
        sa.CheckConstraint("moderation IS NULL OR moderated_at IS NOT NULL",
                           name="moderated_has_time"),
        sa.CheckConstraint("moderation IS NULL OR moderation <> 'redacted' OR "
                           "redacted_comment <> ''", name="redaction_has_text"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        sa.ForeignKey("response.id", ondelete="CASCADE"), index=True
    )
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id", ondelete="CASCADE"), index=True)
    panellist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("panellist.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), index=True)
    value: Mapped[int | None] = mapped_column()
    is_uts: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    change_reason: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Comment moderation by the study team (MODERATIONS): the comment is fed back and
    # reported as ``redacted_comment``, or not at all; ``comment`` keeps what was written
    # (the raw export shows both, with the reason).
    moderation: Mapped[str | None] = mapped_column(sa.String(8))
    redacted_comment: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    moderation_reason: Mapped[str] = mapped_column(sa.String(500), default="",
                                                   server_default="")
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    response: Mapped[Response] = relationship(back_populates="ratings")

    @property
    def shown_comment(self) -> str:
        """The comment as feedback and the report show it: redacted, hidden ("") or as written."""
        return shown_comment(self.comment, self.moderation, self.redacted_comment)

    @property
    def answer(self) -> int | str | None:
        """The value in the long format: an integer, ``"UTS"`` or None."""
        return "UTS" if self.is_uts else self.value


SUGGESTION_STATES = ("open", "dismissed", "merged", "split")
MODERATIONS = ("hidden", "redacted")


def shown_comment(comment: str, moderation: str | None, redacted: str) -> str:
    """What the panel and the report may read of a comment after moderation."""
    if moderation == "hidden":
        return ""
    if moderation == "redacted":
        return redacted
    return comment


class Suggestion(Model):
    """A panellist's proposal of a new statement or a rewording of one.

    The committee may dismiss it (with a reason), split a multi-line one into one per
    line, or merge several into one: the new suggestions have ``parent_id`` set (the
    first of a merge's) and are the committee's, never shown back to the panellist.
    """

    __tablename__ = "suggestion"
    __table_args__ = (
        sa.CheckConstraint("state IN ('open', 'dismissed', 'merged', 'split')",
                           name="suggestion_state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id", ondelete="CASCADE"), index=True)
    panellist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("panellist.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("item.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resulting_item_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("item.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(sa.String(16), default="open", server_default="open")
    # A dismissal's reason; the suggestion a split or merge made this one from.
    state_reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("suggestion.id", ondelete="SET NULL"), index=True)

    round: Mapped[Round] = relationship()
    item: Mapped[Item | None] = relationship(foreign_keys=[item_id])


class RoundResult(Model):
    """The statistics of a closed round, computed once at close and stored."""

    __tablename__ = "round_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        sa.ForeignKey("round.id", ondelete="CASCADE"), unique=True
    )
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The analysis as stored: an ``AnalysisResult`` of some schema version. Read it through
    # ``analysis``, which checks the version.
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    @property
    def analysis(self) -> AnalysisResult:
        """The stored analysis in the current schema (an older one converted on reading),
        or a DomainError saying why it cannot be read, never a misread."""
        return stored_analysis(self.data)


def stored_analysis(data: object) -> AnalysisResult:
    """A stored analysis read through the schema: converted from a known older version,
    refused with a clear message when its version is unknown."""
    try:
        return read_result(data)
    except SchemaError as error:
        raise DomainError("results.unreadable", "The results of this round cannot be shown: "
                          "{problem}.", problem=str(error)) from None
