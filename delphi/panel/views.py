"""Panellist pages: the personal link, the voting page and the receipt."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import ValidationError, validate_csrf
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from .. import tokens
from ..consensus.scales import get_scale
from ..extensions import contention, db
from ..models import (
    AccessToken,
    Invitation,
    Response,
    ResponseState,
    Round,
    RoundState,
    Section,
    Study,
    utcnow,
)
from ..security import client_address, is_throttled, record_failure
from ..uow import unit_of_work
from .answers import Answer, AnswerSheet, parse_sheet
from .feedback import feedback_for, render_once
from .operations import (
    RoundClosed,
    SheetChanged,
    SheetVersion,
    current_response,
    load_answers,
    load_sheet,
    save_sheet,
)

bp = Blueprint("panel", __name__)

SESSION_KEY = "panel"
TOKEN_SCOPE = "token-address"  # noqa: S105 - a throttle scope name, not a secret
CSRF_EXPIRED = ("Your page had been open too long to save safely, so nothing was saved yet. "
                "Your answers are still below: press Save again.")
BUSY = "The platform is busy; nothing you typed is lost: press Save again in a moment."
BAD_VERSION = ("This page's version mark is damaged, so it cannot be saved safely. Your answers "
               "are still below: reload the page, put them back and press Save again.")
SAVE_ATTEMPTS = 3  # a lost race (deadlock, first save of a sheet twice at once) is retried
STATEMENT_TEMPLATE = "panel/_statement.html"
KEEP_ON_EXCHANGE = ("_user_id", "_fresh", "_id", "_started", "_seen")


@bp.route("/p/<token>")
def open_link(token: str):
    """Exchange a personal link for a session and move to an address without the secret.

    Nothing in the database changes here: mail scanners open links before people do.
    """
    cfg = current_app.config
    address = client_address()
    window = int(cfg["TOKEN_WINDOW_SECONDS"])
    if is_throttled(TOKEN_SCOPE, address, int(cfg["TOKEN_MAX_MISSES"]), window):
        abort(429)
    invitation = tokens.find_invitation(token)
    if invitation is None:
        with unit_of_work():
            record_failure(TOKEN_SCOPE, address, window)
        abort(404)
    access = db.session.scalar(
        db.select(AccessToken).where(AccessToken.token_hash == tokens.hash_token(token))
    )
    kept = {k: session[k] for k in KEEP_ON_EXCHANGE if k in session}
    session.clear()
    session.update(kept)
    session[SESSION_KEY] = {"invitation": invitation.id, "token": access.id}
    session.permanent = True
    if invitation.panellist.needs_consent():
        return redirect(url_for("panel.consent"))
    return redirect(_vote_url(invitation))


def _consent_first(invitation: Invitation, wants_json: bool = False) -> Any:
    from .participation import consent_first

    return consent_first(invitation, wants_json)


def _vote_url(invitation: Invitation, answers: dict[int, Answer] | None = None) -> str:
    """The voting page, at the first unanswered statement of a sheet already started
    (a panellist coming back continues where they stopped); at the top otherwise."""
    if answers is None:
        answers = load_answers(invitation)
    if not any(_is_answered(a) for a in answers.values()):
        return url_for("panel.vote")
    items = _items_of(invitation.round)
    first = next((i.id for i in items if not _is_answered(answers.get(i.id))), None)
    return url_for("panel.vote", _anchor=f"item-{first}" if first else None)


def _is_answered(answer: Answer | None) -> bool:
    """A rating or "unable to score" answers a statement; a comment alone does not."""
    return answer is not None and (answer.value is not None or answer.is_uts)


def _items_of(rnd: Round):
    return round_items(rnd.id, rnd.opened_at.isoformat()) if rnd.opened_at else rnd.items


@dataclass(frozen=True)
class Progress:
    """How far the panellist is: answered statements overall and per section."""

    answered: int
    total: int
    by_section: dict[int, tuple[int, int]]
    first_unanswered: int | None


def _progress(items, answers: dict[int, Answer]) -> Progress:
    by_section: dict[int, tuple[int, int]] = {}
    first = None
    for item in items:
        done = _is_answered(answers.get(item.id))
        got, of = by_section.get(item.section_id, (0, 0))
        by_section[item.section_id] = (got + done, of + 1)
        if not done and first is None:
            first = item.id
    return Progress(sum(g for g, _ in by_section.values()), len(items), by_section, first)


def current_invitation() -> Invitation:
    """The invitation of this browser's panellist session, or a 403 page."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        abort(403)
    invitation_id, token_id = data.get("invitation"), data.get("token")
    if not isinstance(invitation_id, int) or not isinstance(token_id, int):
        abort(403)
    # The invitation, its link, round and study in one query: every panellist page needs them.
    row = db.session.execute(
        sa.select(Invitation, AccessToken)
        .join(AccessToken, AccessToken.invitation_id == Invitation.id)
        .where(Invitation.id == invitation_id, AccessToken.id == token_id)
        .options(joinedload(Invitation.round).joinedload(Round.study))
    ).first()
    if row is None:
        abort(403)
    invitation, access = row
    if access.revoked_at is not None or invitation.revoked_at is not None:
        session.pop(SESSION_KEY, None)
        # Told plainly to whoever held the panellist's session (a bare link stays a 404).
        g.withdrawn = invitation.panellist.withdrawal_kind  # None unless withdrawn
        abort(403)
    return invitation


@bp.errorhandler(403)
def _no_session(_error):
    return render_template("panel/no_session.html", withdrawn=g.get("withdrawn")), 403


def _page(invitation: Invitation, answers: dict[int, Answer], errors: dict[str, str],
          status: int = 200, suggestion: str | None = None, rewords: dict[int, str] | None = None,
          response: Response | None | Literal[False] = False,
          version: SheetVersion | None = None):
    rnd = invitation.round
    study = rnd.study
    items = _items_of(rnd)
    if response is False:  # not loaded by the caller
        response = current_response(invitation)
    now = utcnow()
    is_open = rnd.state is RoundState.OPEN and not rnd.is_past_deadline(now)
    if suggestion is None or rewords is None:
        saved = {s.item_id: s.text for s in _suggestions(invitation)} \
            if rnd.allow_suggestions else {}
        suggestion = saved.get(None, "") if suggestion is None else suggestion
        rewords = {k: v for k, v in saved.items() if k is not None} if rewords is None \
            else rewords
    feedback = feedback_for(invitation, items)
    return render_template(
        "panel/vote.html", invitation=invitation, round=rnd, study=study, items=items,
        sections=[s for s in round_sections(study.id, rnd.id, rnd.opened_at.isoformat()
                                            if rnd.opened_at else "")
                  if any(i.section_id == s.id for i in items)],
        statements=_statements(items, answers, feedback, errors, rnd, study, is_open, rewords),
        answers=answers, errors=errors, feedback=feedback, progress=_progress(items, answers),
        response=response, is_open=is_open, scale=page_scale(study, items),
        suggestion=suggestion,
        rewords=rewords, submitted=response is not None and response.state is
        ResponseState.SUBMITTED, sheet_version=version or SheetVersion.new_page(response),
    ), status


def page_scale(study, items) -> Any:
    """The one scale of the page's statements, or None when sections use different ones
    (each section then says how to answer)."""
    keys = {item.scale_key for item in items} or {study.scale_key}
    return get_scale(keys.pop()) if len(keys) == 1 else None


@dataclass(frozen=True)
class SectionView:
    id: int
    title: str
    description: str
    scale_key: str | None = None
    evidence: str = ""
    references: tuple[dict[str, str], ...] = ()

    @property
    def scale(self) -> Any:
        return get_scale(self.scale_key) if self.scale_key else None


@lru_cache(maxsize=256)
def round_sections(study_id: int, round_id: int, opened_at: str) -> tuple[SectionView, ...]:
    """A study's sections in order, read once per worker and round (they are fixed once
    round 1 has been launched; the round's opening time ties the entry to its life)."""
    scale_key = db.session.scalar(sa.select(Study.scale_key).where(Study.id == study_id))
    return tuple(
        SectionView(ident, title, description, own_scale or scale_key, evidence,
                    tuple(references or ()))
        for ident, title, description, own_scale, evidence, references in db.session.execute(
            sa.select(Section.id, Section.title, Section.description, Section.scale_key,
                      Section.evidence, Section.references)
            .where(Section.study_id == study_id).order_by(Section.position)))


@dataclass(frozen=True)
class ItemView:
    """A statement as the voting page shows it (statements of a launched round never change)."""

    id: int
    key: str
    version: int
    label: str
    text: str
    plain_text: str
    rationale: str
    section_id: int
    created_at: Any
    parent: ItemView | None = None
    scale_key: str = "grade-1-9"
    references: tuple[dict[str, str], ...] = ()  # the cited sources, as stored

    @property
    def scale(self) -> Any:
        return get_scale(self.scale_key)

    @classmethod
    def of(cls, item: Any, with_parent: bool = True) -> ItemView:
        parent = cls.of(item.parent, False) if with_parent and item.parent is not None else None
        return cls(item.id, item.key, item.version, item.label, item.text, item.plain_text,
                   item.rationale, item.section_id, item.created_at, parent, item.scale_key,
                   tuple(item.references or ()))


@lru_cache(maxsize=256)
def round_items(round_id: int, opened_at: str) -> tuple[ItemView, ...]:
    """A launched round's statements in order, read once per worker and round."""
    rnd = db.session.get_one(Round, round_id)
    return tuple(ItemView.of(item) for item in rnd.items)


def _statements(items: list, answers: dict[int, Answer], feedback: dict, errors: dict[str, str],
                rnd: Round, study, is_open: bool, rewords: dict[int, str]) -> dict[int, Any]:
    """Each statement's block of the page, reused across panellists for the same inputs.

    A statement of a running round never changes (a rewording is a new statement), so
    its block depends only on what is in the key: the answer given, the feedback of the
    closed round before (with the panellist's own rating), and the round's settings.
    A page with errors is always drawn afresh.
    """
    out = {}
    for item in items:
        a, fb = answers.get(item.id), feedback.get(item.id)
        key = None
        if not errors and (fb is None or fb.cache_key is not None):
            # The creation times make the key unique even if ids are ever reused (a
            # database recreated under a running worker).
            key = ("statement", item.id, item.created_at, rnd.id, rnd.opened_at, is_open,
                   rnd.ask_reason_on_band_change,
                   rnd.allow_suggestions, study.allow_uts, item.scale_key,
                   None if a is None else (a.value, a.is_uts, a.comment, a.reason),
                   rewords.get(item.id, ""), None if fb is None else (fb.cache_key, fb.own))
        out[item.id] = render_once(key, STATEMENT_TEMPLATE, "statement", item, a, fb, errors,
                                   get_scale(item.scale_key), rnd, study, is_open, rewords)
    return out


def _suggestions(invitation: Invitation):
    from ..models import Suggestion

    return db.session.scalars(
        db.select(Suggestion).where(Suggestion.round_id == invitation.round_id,
                                    Suggestion.panellist_id == invitation.panellist_id)
    ).all()


@bp.route("/vote", methods=["GET"])
def vote():
    invitation = current_invitation()
    if (first := _consent_first(invitation)) is not None:
        return first
    response, answers = load_sheet(invitation)
    return _page(invitation, answers, {}, response=response)


@bp.route("/vote", methods=["POST"])
def save():
    invitation = current_invitation()
    rnd = invitation.round
    study = rnd.study
    sheet = parse_sheet(request.form, rnd.items, study.scale, study.allow_uts, rnd.id,
                        rnd.allow_suggestions)
    wants_json = sheet.action == "autosave"
    if (first := _consent_first(invitation, wants_json)) is not None:
        return first  # nothing is saved before consent
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        sheet.errors["csrf_token"] = CSRF_EXPIRED
    raw_version = request.form.get("sheet_version")
    seen = None if raw_version is None else SheetVersion.parse(raw_version)
    if raw_version is not None and seen is None:
        sheet.errors["sheet_version"] = BAD_VERSION
    if sheet.errors:
        return _refused(invitation, sheet, 400, wants_json, seen)
    # A submit with statements left blank is kept as a draft and asks first (see confirm),
    # unless the page's dialog (vote.js) has just asked.
    confirm_first = (sheet.action == "submit" and sheet.answered < len(sheet.answers)
                     and request.form.get("confirmed") != "1")
    if confirm_first:
        sheet.action = "save"
    try:
        response = _save_with_retry(invitation, sheet, seen)
    except RoundClosed as exc:
        sheet.errors["round"] = str(exc)
        return _refused(invitation, sheet, 409, wants_json, seen)
    except SheetChanged as exc:
        return _changed_elsewhere(invitation, sheet, exc, wants_json)
    except DatabaseBusy:
        sheet.errors["database"] = BUSY
        page, status = _refused(invitation, sheet, 503, wants_json, seen)
        return page, status, {"Retry-After": "5"}
    if wants_json:
        # The same page may keep saving with its old mark; a script may also take this one.
        mark = SheetVersion(response.version, seen.page) if seen else None
        return jsonify(saved_at=response.updated_at.isoformat(), answered=sheet.answered,
                       sheet_version=str(mark) if mark else None)
    if sheet.action == "submit":
        return redirect(url_for("panel.receipt"))
    if confirm_first:
        return redirect(url_for("panel.confirm"))
    flash(f"Saved: {sheet.answered} of {len(sheet.answers)} statements rated. You can come "
          "back to this page with your personal link until the round closes.", "info")
    return redirect(_vote_url(invitation, sheet.answers))


def _refused(invitation: Invitation, sheet: AnswerSheet, status: int, wants_json: bool,
             seen: SheetVersion | None = None):
    """Nothing was saved: say why, and draw the page again with what was typed.

    The page keeps the version it was drawn from: a refused page that is saved again
    must still be told if another tab changed the sheet meanwhile.
    """
    db.session.rollback()
    if wants_json:
        return jsonify(errors=sheet.errors), status
    return _page(invitation, sheet.answers, sheet.errors, status, sheet.suggestion,
                 {k: a.reword for k, a in sheet.answers.items()}, version=seen)


def _changed_elsewhere(invitation: Invitation, sheet: AnswerSheet, exc: SheetChanged,
                       wants_json: bool):
    """Another tab changed the sheet since this page was drawn: show what is saved now,
    and list what was typed here that differs, so that nothing typed is lost."""
    db.session.rollback()
    if wants_json:
        return jsonify(conflict=True, errors={"sheet_version": (
            f"your answers were changed in another tab or window at {exc.changed_at:%H:%M} "
            "UTC. Press Save to see what is saved now beside what you typed here.")}), 409
    errors = {"sheet_version": str(exc)}
    for item in invitation.round.items:
        typed = _describe(sheet.answers.get(item.id, Answer()),
                          sheet.answers.get(item.id, Answer()).reword)
        saved = _describe(exc.saved.get(item.id, Answer()),
                          exc.saved_suggestions.get(item.id, ""))
        if typed != saved:
            errors[f"typed-{item.id}"] = (f"Statement {item.label}: you had {typed} here; "
                                          f"saved now: {saved}.")
    if sheet.suggestion != exc.saved_suggestions.get(None, "") and sheet.suggestion:
        errors["typed-suggestion"] = f"Your suggestion here: “{sheet.suggestion}”."
    saved_texts = exc.saved_suggestions
    return _page(invitation, exc.saved, errors, 409, saved_texts.get(None, ""),
                 {k: v for k, v in saved_texts.items() if k is not None},
                 version=SheetVersion.drawn_at(exc.version))


def _describe(answer: Answer, reword: str) -> str:
    """An answer in words, complete (comments in full): what was typed must not be lost."""
    if answer.is_uts:
        parts = ["“unable to score”"]
    elif answer.value is not None:
        parts = [f"rating {answer.value}"]
    else:
        parts = ["no rating"]
    for label, text in (("comment", answer.comment), ("reason", answer.reason),
                        ("rewording", reword)):
        if text:
            parts.append(f"{label} “{text}”")
    return ", ".join(parts)


class DatabaseBusy(Exception):
    """The database stayed locked by other writers longer than a save may wait."""


def _save_with_retry(invitation: Invitation, sheet: AnswerSheet, seen: SheetVersion | None):
    """Save and commit; a save that loses a race with another one is tried again.

    Retried: a unique-constraint clash (two first saves of one sheet), a dropped
    connection, a deadlock or serialization failure, a row changed under the ORM.
    A lock wait that ran out (SQLite's busy timeout) is not: it already waited, and
    ``DatabaseBusy`` lets the page say so.
    """
    for attempt in range(1, SAVE_ATTEMPTS + 1):
        try:
            with unit_of_work():
                invitation = db.session.get_one(Invitation, invitation.id)
                response = save_sheet(invitation, sheet, seen=seen)
            return response
        except (DBAPIError, StaleDataError) as exc:
            db.session.rollback()
            kind = contention(exc)
            if kind == "busy" or (kind == "retry" and attempt == SAVE_ATTEMPTS):
                raise DatabaseBusy from exc
            if kind is None and not isinstance(exc, IntegrityError | OperationalError):
                raise
            if attempt == SAVE_ATTEMPTS:
                raise
            invitation = db.session.get_one(Invitation, invitation.id)
    raise AssertionError("unreachable")


@bp.route("/vote/confirm", methods=["GET"])
def confirm():
    """Before submitting a sheet with blank statements: say how many and which, and ask."""
    invitation = current_invitation()
    if (first := _consent_first(invitation)) is not None:
        return first
    rnd = invitation.round
    response, answers = load_sheet(invitation)
    if response is None:
        return redirect(url_for("panel.vote"))
    items = _items_of(rnd)
    missing = [i for i in items if not _is_answered(answers.get(i.id))]
    is_open = rnd.state is RoundState.OPEN and not rnd.is_past_deadline(utcnow())
    return render_template("panel/confirm.html", invitation=invitation, round=rnd,
                           study=rnd.study, missing=missing, total=len(items),
                           answered=len(items) - len(missing), is_open=is_open)


@bp.route("/vote/confirm", methods=["POST"])
def submit_saved():
    """"Submit anyway": submit the answers saved as a draft when the confirmation was shown."""
    invitation = current_invitation()
    if (first := _consent_first(invitation)) is not None:
        return first
    rnd = invitation.round
    sheet = AnswerSheet(action="submit")
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        sheet.errors["csrf_token"] = CSRF_EXPIRED
    if request.form.get("round", "") != str(rnd.id):
        sheet.errors["round"] = ("this form belongs to another round; reload the page to see "
                                 "the current one")
    answers = load_answers(invitation)
    saved = {s.item_id: s.text for s in _suggestions(invitation)} if rnd.allow_suggestions \
        else {}
    for item in rnd.items:
        answer = answers.get(item.id) or Answer()
        answer.reword = saved.get(item.id, "")
        sheet.answers[item.id] = answer
    sheet.suggestion = saved.get(None, "")
    if sheet.errors:
        return _refused(invitation, sheet, 400, False)
    try:
        # What is stored is submitted as it stands: no page version to compare with.
        _save_with_retry(invitation, sheet, None)
    except RoundClosed as exc:
        sheet.errors["round"] = str(exc)
        return _refused(invitation, sheet, 409, False)
    except DatabaseBusy:
        sheet.errors["database"] = BUSY
        page, status = _refused(invitation, sheet, 503, False)
        return page, status, {"Retry-After": "5"}
    return redirect(url_for("panel.receipt"))


@bp.route("/vote/receipt")
def receipt():
    invitation = current_invitation()
    response = current_response(invitation)
    if response is None or response.state is not ResponseState.SUBMITTED:
        return redirect(url_for("panel.vote"))
    answers = load_answers(invitation)
    answered = sum(1 for a in answers.values() if a.value is not None or a.is_uts)
    return render_template("panel/receipt.html", invitation=invitation, round=invitation.round,
                           study=invitation.round.study, response=response, answered=answered,
                           total=len(invitation.round.round_items))
