"""Comment moderation: hide or redact a comment before it is fed back to the panel.

The comment as written stays in ``Rating.comment`` (the raw export shows it, with the
``moderated`` flag and the reason); feedback, the results page's shown text and the
report read ``shown_comment``.  Flushes and never commits; the caller commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .. import audit
from ..extensions import db
from ..models import (
    DomainError,
    Item,
    Panellist,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundState,
    Study,
    item_label,
    shown_comment,
    utcnow,
)
from ..results.blocks import rebuild_round_feedback
from ..surveys import MARKUP_RE

ACTIONS = ("hide", "redact", "restore")
MAX_REASON = 500
MAX_REDACTED = 5000


@dataclass(frozen=True)
class CommentView:
    """A submitted comment as the facilitator sees it: as written, and as shown."""

    rating_id: int
    item_id: int
    item: str
    comment: str
    moderation: str | None
    redacted: str
    reason: str
    moderated_at: datetime | None

    @property
    def shown(self) -> str:
        return shown_comment(self.comment, self.moderation, self.redacted)


def round_comment_views(rnd: Round) -> list[CommentView]:
    """Every submitted comment of the round, in questionnaire order (no names)."""
    rows = db.session.execute(
        sa.select(Rating.id, Rating.item_id, Item.key, Item.version, Rating.comment,
                  Rating.moderation, Rating.redacted_comment, Rating.moderation_reason,
                  Rating.moderated_at)
        .join(Response, Rating.response_id == Response.id)
        .join(Item, Rating.item_id == Item.id)
        .where(Rating.round_id == rnd.id, Rating.comment != "",
               Response.state == ResponseState.SUBMITTED)
    ).all()
    order = {ri.item_id: ri.position for ri in rnd.round_items}
    views = [CommentView(rid, item_id, item_label(key, version), comment, moderation, redacted,
                         reason, at)
             for rid, item_id, key, version, comment, moderation, redacted, reason, at in rows]
    return sorted(views, key=lambda v: (order.get(v.item_id, 0), v.comment.casefold(),
                                        v.rating_id))


def find_comment(study: Study, rating_id: int) -> Rating | None:
    """A submitted comment of one of the study's rounds, or None."""
    return db.session.scalar(
        sa.select(Rating).join(Round, Rating.round_id == Round.id)
        .join(Response, Rating.response_id == Response.id)
        .where(Rating.id == rating_id, Round.study_id == study.id, Rating.comment != "",
               Response.state == ResponseState.SUBMITTED))


def _text_problem(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"is {len(text)} characters long; at most {limit} are allowed"
    if any((ord(ch) < 32 and ch not in "\n\t\r") or ord(ch) == 127 for ch in text):
        return "contains a control character"
    if MARKUP_RE.search(text):
        return "contains markup such as <tag>; write plain text"
    return None


class ModerationInvalid(DomainError):
    """A moderation that cannot be saved; ``problems`` maps each field to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("comment.invalid", "{details}",
                         details="; ".join(f"{k}: {v}" for k, v in problems.items()))


def _state(rating: Rating) -> dict[str, Any]:
    return {"moderation": rating.moderation, "redacted_comment": rating.redacted_comment or None,
            "reason": rating.moderation_reason or None}


def moderate(study: Study, rating: Rating, action: str, reason: str, redacted: str,
             actor: audit.Actor) -> Rating:
    """Hide a comment, show a redacted text in its place, or restore it as written.

    Only a closed round's comments are moderated (an open round's may still change, and
    none is fed back before the round closes).  Audited with the moderation before and
    after (the comment as written is not copied into the audit log).
    """
    rnd = db.session.get(Round, rating.round_id)
    if rnd is None or rnd.study_id != study.id:
        raise DomainError("comment.not_found", "There is no such comment in this study.")
    if rnd.state is not RoundState.CLOSED:
        raise DomainError("comment.round_open", "Round {number} is still open: its comments "
                          "may change and none is fed back yet; moderate them once it has "
                          "closed.", number=rnd.number)
    reason = " ".join(reason.split())
    redacted = redacted.strip()
    problems: dict[str, str] = {}
    if action not in ACTIONS:
        problems["action"] = "choose hide, redact or restore"
    if not reason:
        problems["reason"] = "required: say why, for the audit log and the raw export"
    elif (p := _text_problem(reason, MAX_REASON)) is not None:
        problems["reason"] = p
    if action == "redact":
        if not redacted:
            problems["redacted"] = "required: the text the panel will read instead"
        elif (p := _text_problem(redacted, MAX_REDACTED)) is not None:
            problems["redacted"] = p
        elif redacted == rating.comment:
            problems["redacted"] = "is the comment as written; change what identifies someone"
    if problems:
        raise ModerationInvalid(problems)
    if action == "restore" and rating.moderation is None:
        raise DomainError("comment.not_moderated", "This comment is shown as written already.")
    before = _state(rating)
    now = utcnow()
    if action == "restore":
        rating.moderation, rating.redacted_comment = None, ""
        rating.moderation_reason, rating.moderated_at = reason, None
    else:
        rating.moderation = "hidden" if action == "hide" else "redacted"
        rating.redacted_comment = redacted if action == "redact" else ""
        rating.moderation_reason, rating.moderated_at = reason, now
    db.session.flush()
    pseudonym = db.session.scalar(sa.select(Panellist.pseudonym)
                                  .where(Panellist.id == rating.panellist_id))
    item = db.session.get(Item, rating.item_id)
    audit.record(actor, "comment.moderated", study, round=rnd.number,
                 item=item_label(item.key, item.version) if item else None,
                 panellist=pseudonym, before=before, after=_state(rating))
    # The stored statements of the round launched after ``rnd`` are rendered again, in
    # this unit of work: panellists see the moderated comment on their next page view.
    rebuild_round_feedback(rnd)
    return rating
