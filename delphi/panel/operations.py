"""Panellist use cases: save a draft, submit, and read the feedback of the round before."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from .. import audit, mail
from ..extensions import db
from ..models import (
    DomainError,
    Invitation,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundState,
    Suggestion,
    utcnow,
)
from .answers import Answer, AnswerSheet


class RoundClosed(DomainError):
    """The round stopped accepting answers before this one arrived."""


def lock_open_round(rnd: Round, now: datetime) -> None:
    """Check, under a share lock, that the round still takes answers.

    On PostgreSQL ``FOR SHARE`` lets panellists save side by side while a close
    (an UPDATE of the same row) waits for them, so an answer either lands before the
    close or is refused; SQLite serialises writers and ignores the clause.
    """
    state, closes_at = db.session.execute(
        sa.select(Round.state, Round.closes_at).where(Round.id == rnd.id)
        .with_for_update(read=True)
    ).one()
    if state is not RoundState.OPEN:
        raise RoundClosed(f"round {rnd.number} has closed; your answers could not be saved")
    if closes_at is not None and now >= closes_at:
        raise RoundClosed(f"round {rnd.number} closed at its deadline; your answers could "
                          "not be saved")


def current_response(invitation: Invitation) -> Response | None:
    return db.session.scalar(
        sa.select(Response).where(Response.round_id == invitation.round_id,
                                  Response.panellist_id == invitation.panellist_id)
    )


def load_sheet(invitation: Invitation) -> tuple[Response | None, dict[int, Answer]]:
    """The panellist's answer sheet of this round and its answers, in one query."""
    rows = db.session.execute(
        sa.select(Response, Rating)
        .outerjoin(Rating, Rating.response_id == Response.id)
        .where(Response.round_id == invitation.round_id,
               Response.panellist_id == invitation.panellist_id)
    ).all()
    if not rows:
        return None, {}
    answers = {r.item_id: Answer(r.value, r.is_uts, r.comment, r.change_reason)
               for _, r in rows if r is not None}
    return rows[0][0], answers


def load_answers(invitation: Invitation) -> dict[int, Answer]:
    """The panellist's saved answers in this round, by item id."""
    rows = db.session.scalars(
        sa.select(Rating).where(Rating.round_id == invitation.round_id,
                                Rating.panellist_id == invitation.panellist_id)
    ).all()
    return {r.item_id: Answer(r.value, r.is_uts, r.comment, r.change_reason) for r in rows}


def save_sheet(invitation: Invitation, sheet: AnswerSheet,
               now: datetime | None = None) -> Response:
    """Save every answer of the sheet, and submit it when asked; all in the caller's transaction."""
    now = now or utcnow()
    rnd = invitation.round
    lock_open_round(rnd, now)
    response = current_response(invitation)
    if response is None:
        response = Response(round_id=rnd.id, panellist_id=invitation.panellist_id,
                            state=ResponseState.DRAFT, created_at=now)
        db.session.add(response)
        db.session.flush()
    existing = {r.item_id: r for r in response.ratings}
    for item_id, answer in sheet.answers.items():
        _store(response, existing.get(item_id), item_id, answer, now)
    _store_suggestions(invitation, sheet, now)
    response.updated_at = now
    if invitation.first_opened_at is None:
        invitation.first_opened_at = now
    if sheet.action == "submit":
        _submit(invitation, response, sheet, now)
    db.session.flush()
    return response


def _store(response: Response, rating: Rating | None, item_id: int, answer: Answer,
           now: datetime) -> None:
    if answer.is_empty:
        if rating is not None:
            db.session.delete(rating)
        return
    if rating is None:
        rating = Rating(response_id=response.id, round_id=response.round_id,
                        panellist_id=response.panellist_id, item_id=item_id)
        db.session.add(rating)
    rating.value = answer.value
    rating.is_uts = answer.is_uts
    rating.comment = answer.comment
    rating.change_reason = answer.reason
    rating.updated_at = now


def _store_suggestions(invitation: Invitation, sheet: AnswerSheet, now: datetime) -> None:
    """Keep one suggestion of each kind per panellist and round: the latest text."""
    wanted: dict[int | None, str] = {None: sheet.suggestion}
    for item_id, answer in sheet.answers.items():
        wanted[item_id] = answer.reword
    existing = {s.item_id: s for s in db.session.scalars(
        sa.select(Suggestion).where(Suggestion.round_id == invitation.round_id,
                                    Suggestion.panellist_id == invitation.panellist_id))}
    for item_id, text in wanted.items():
        current = existing.get(item_id)
        if not text:
            if current is not None and current.resulting_item_id is None:
                db.session.delete(current)
        elif current is None:
            db.session.add(Suggestion(round_id=invitation.round_id, item_id=item_id,
                                      panellist_id=invitation.panellist_id, text=text,
                                      created_at=now))
        else:
            current.text = text


def _submit(invitation: Invitation, response: Response, sheet: AnswerSheet,
            now: datetime) -> None:
    first = response.state is not ResponseState.SUBMITTED
    response.state = ResponseState.SUBMITTED
    response.submitted_at = now
    rnd = invitation.round
    mail.queue("receipt", invitation.panellist, rnd.study,
               f"receipt:{rnd.id}:{invitation.panellist_id}:{now.timestamp()}", invitation,
               answered=sheet.answered, total=len(sheet.answers),
               submitted_at=now.strftime("%Y-%m-%d %H:%M"))
    audit.record(f"panellist:{invitation.panellist.pseudonym}",
                 "response.submitted" if first else "response.resubmitted", rnd.study,
                 round=rnd.number)
