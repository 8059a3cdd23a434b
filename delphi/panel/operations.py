"""Panellist use cases: save a draft, submit, and read the feedback of the round before."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .. import audit, mail, timezones
from ..extensions import database_now, db
from ..models import (
    DomainError,
    Invitation,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundState,
    Suggestion,
)
from .answers import Answer, AnswerSheet


class RoundClosed(DomainError):
    """The round stopped accepting answers before this one arrived."""


@dataclass(frozen=True)
class SheetVersion:
    """What a voting page says it was drawn from: the sheet's version, and the page's mark.

    The mark is random per page drawn; it tells a later save from the same page (an
    autosave, then Save) apart from a save from another tab or window.
    """

    number: int
    page: str

    def __str__(self) -> str:
        return f"{self.number}-{self.page}"

    @classmethod
    def drawn_at(cls, number: int) -> SheetVersion:
        """The mark of a page drawn now from version ``number`` of the sheet."""
        return cls(number, secrets.token_hex(8))

    @classmethod
    def new_page(cls, response: Response | None) -> SheetVersion:
        return cls.drawn_at(response.version if response is not None else 0)

    @classmethod
    def parse(cls, text: str) -> SheetVersion | None:
        number, _, page = text.partition("-")
        if not (number.isascii() and number.isdigit() and len(number) <= 9
                and len(page) == 16 and all(c in "0123456789abcdef" for c in page)):
            return None
        return cls(int(number), page)


class SheetChanged(DomainError):
    """The sheet was changed from another tab or window after this page was drawn."""

    def __init__(self, response: Response, saved: dict[int, Answer],
                 saved_suggestions: dict[int | None, str]) -> None:
        self.changed_at = response.updated_at
        self.version = response.version
        self.saved = saved
        self.saved_suggestions = saved_suggestions
        super().__init__(
            "vote.sheet_changed", "Your answers were changed in another tab or window at "
            "{changed_at} UTC; here is what is saved now. What you typed in this tab was not "
            "saved; it is listed here so that nothing is lost: put back what you want and "
            "press Save again.", changed_at=f"{self.changed_at:%H:%M}")


def lock_open_round(rnd: Round, now: datetime | None = None) -> datetime:
    """Check, under a share lock, that the round still takes answers; return the time.

    On PostgreSQL ``FOR SHARE`` lets panellists save side by side while a close
    (which locks the same row for update) waits for them, so an answer either lands
    before the close or is refused; SQLite serialises writers and ignores the clause.
    The time is read after the lock is granted, from the database's clock: every
    answer accepted then carries a time before the one the close records.
    """
    state, closes_at = db.session.execute(
        sa.select(Round.state, Round.closes_at).where(Round.id == rnd.id)
        .with_for_update(read=True)
    ).one()
    now = now or database_now()
    if state is not RoundState.OPEN:
        raise RoundClosed("vote.round_closed", "round {number} has closed; your answers could not "
                          "be saved", number=rnd.number)
    if closes_at is not None and now >= closes_at:
        raise RoundClosed("vote.deadline_passed", "round {number} closed at its deadline; your "
                          "answers could not be saved", number=rnd.number)
    return now


def current_response(invitation: Invitation) -> Response | None:
    return db.session.scalar(
        sa.select(Response).where(Response.round_id == invitation.round_id,
                                  Response.panellist_id == invitation.panellist_id)
    )


SHEET = (sa.select(Response, Rating)
         .outerjoin(Rating, Rating.response_id == Response.id)
         .where(Response.round_id == sa.bindparam("round_id"),
                Response.panellist_id == sa.bindparam("panellist_id")))


def load_sheet(invitation: Invitation) -> tuple[Response | None, dict[int, Answer]]:
    """The panellist's answer sheet of this round and its answers, in one query."""
    rows = db.session.execute(SHEET, {"round_id": invitation.round_id,
                                      "panellist_id": invitation.panellist_id}).all()
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


def save_sheet(invitation: Invitation, sheet: AnswerSheet, now: datetime | None = None,
               seen: SheetVersion | None = None) -> Response:
    """Save every answer of the sheet, and submit it when asked; all in the caller's transaction.

    One writer at a time per sheet: the panellist's Response row is locked (created
    first if need be: a concurrent creation fails on the unique constraint and the
    caller retries), and the answers are read again under the lock.  ``seen`` is the
    version the page was drawn from: when someone else has changed the sheet since and
    this save would change it too, nothing is applied and ``SheetChanged`` says so.
    Without ``seen`` (a page from before versions existed) the save is applied.
    """
    rnd = invitation.round
    now = lock_open_round(rnd, now)
    response = _locked_response(invitation, now)
    existing = {r.item_id: r for r in db.session.scalars(
        sa.select(Rating).where(Rating.response_id == response.id)
        .execution_options(populate_existing=True))}
    suggestions = {s.item_id: s for s in db.session.scalars(
        sa.select(Suggestion).where(Suggestion.round_id == invitation.round_id,
                                    Suggestion.panellist_id == invitation.panellist_id,
                                    Suggestion.parent_id.is_(None))
        .execution_options(populate_existing=True))}
    saved = {item_id: Answer(r.value, r.is_uts, r.comment, r.change_reason)
             for item_id, r in existing.items()}
    saved_texts = {item_id: s.text for item_id, s in suggestions.items()}
    changed = _content(saved, saved_texts) != _sheet_content(sheet)
    if changed and seen is not None and seen.number != response.version \
            and seen.page != response.saved_from:
        raise SheetChanged(response, saved, saved_texts)
    if changed:
        for item_id, answer in sheet.answers.items():
            _store(response, existing.get(item_id), item_id, answer, now)
        _store_suggestions(invitation, sheet, suggestions, now)
        response.version += 1
        response.saved_from = seen.page if seen is not None else ""
    response.updated_at = now
    if invitation.first_opened_at is None:
        invitation.first_opened_at = now
    if sheet.action == "submit":
        _submit(invitation, response, sheet, now)
    db.session.flush()
    return response


def _locked_response(invitation: Invitation, now: datetime) -> Response:
    """The panellist's answer sheet of the round, locked for update (created if missing)."""
    response = db.session.scalar(
        sa.select(Response).where(Response.round_id == invitation.round_id,
                                  Response.panellist_id == invitation.panellist_id)
        .with_for_update().execution_options(populate_existing=True))
    if response is None:
        # Two first saves at once: one INSERT waits for the other's commit, then fails
        # on the unique (round, panellist) constraint; the caller retries and locks it.
        response = Response(round_id=invitation.round_id, panellist_id=invitation.panellist_id,
                            state=ResponseState.DRAFT, created_at=now, updated_at=now)
        db.session.add(response)
        db.session.flush()
    return response


def _content(answers: dict[int, Answer], texts: dict[int | None, str]) -> tuple:
    """A sheet's content in a comparable form: its non-empty answers and suggestions."""
    return ({k: (a.value, a.is_uts, a.comment, a.reason) for k, a in answers.items()
             if not a.is_empty},
            {k: t for k, t in texts.items() if t})


def _sheet_content(sheet: AnswerSheet) -> tuple:
    texts: dict[int | None, str] = {None: sheet.suggestion}
    texts.update({item_id: a.reword for item_id, a in sheet.answers.items()})
    return _content(sheet.answers, texts)


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


def _store_suggestions(invitation: Invitation, sheet: AnswerSheet,
                       existing: dict[int | None, Suggestion], now: datetime) -> None:
    """Keep one suggestion of each kind per panellist and round: the latest text."""
    wanted: dict[int | None, str | None] = {None: sheet.suggestion}
    for item_id, answer in sheet.answers.items():
        wanted[item_id] = answer.reword
    for about, text in wanted.items():  # a statement's id, or None for a new statement
        current = existing.get(about)
        if not text:
            if current is not None and current.resulting_item_id is None:
                db.session.delete(current)
        elif current is None:
            db.session.add(Suggestion(round_id=invitation.round_id, item_id=about,
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
    # One receipt per submitted version of the sheet: submitting the same answers again
    # (a double click, a second tab) sends none; submitting changed answers sends one.
    mail.queue("receipt", invitation.panellist, rnd.study,
               f"receipt:{rnd.id}:{invitation.panellist_id}:v{response.version}", invitation,
               answered=sheet.answered, total=len(sheet.answers),
               submitted_at=now.strftime("%Y-%m-%d %H:%M"),
               submitted_shown=timezones.shown(now, rnd.study.time_zone, "%d %B %Y at %H:%M"))
    audit.record(f"panellist:{invitation.panellist.pseudonym}",
                 "response.submitted" if first else "response.resubmitted", rnd.study,
                 round=rnd.number)
