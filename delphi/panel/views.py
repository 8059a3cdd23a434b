"""Panellist pages: the personal link, the voting page and the receipt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from .. import tokens
from ..consensus.scales import get_scale
from ..console import EmptyForm
from ..extensions import contention, db
from ..models import (
    AccessToken,
    Invitation,
    Response,
    ResponseState,
    Round,
    RoundItem,
    RoundState,
    Section,
    Study,
    utcnow,
)
from ..results.blocks import PageStatement, page_statements, statement_keys
from ..results.feedback import own_answers
from ..security import client_address, is_throttled, record_failure
from ..uow import unit_of_work
from .answers import UTS, Answer, AnswerSheet
from .forms import VoteForm, vote_form
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
    """The consent page, then the declaration of interests, before anything else (see
    participation.py); None when neither is owed."""
    from .participation import consent_first, declaration_first

    first = consent_first(invitation, wants_json)
    return first if first is not None else declaration_first(invitation, wants_json)


def _vote_url(invitation: Invitation, answers: dict[int, Answer] | None = None) -> str:
    """The voting page, at the first unanswered statement of a sheet already started
    (a panellist coming back continues where they stopped); at the top otherwise."""
    if answers is None:
        answers = load_answers(invitation)
    if not any(_is_answered(a) for a in answers.values()):
        return url_for("panel.vote")
    first = next((i for i in _item_ids(invitation.round_id)
                  if not _is_answered(answers.get(i))), None)
    return url_for("panel.vote", _anchor=f"item-{first}" if first else None)


def _is_answered(answer: Answer | None) -> bool:
    """A rating or "unable to score" answers a statement; a comment alone does not."""
    return answer is not None and (answer.value is not None or answer.is_uts)


def _item_ids(round_id: int) -> list[int]:
    """A launched round's statements' ids, in the questionnaire's order."""
    return list(db.session.scalars(sa.select(RoundItem.item_id)
                                   .where(RoundItem.round_id == round_id)
                                   .order_by(RoundItem.position)))


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


SESSION_INVITATION = (
    sa.select(Invitation, AccessToken)
    .join(AccessToken, AccessToken.invitation_id == Invitation.id)
    .where(Invitation.id == sa.bindparam("invitation_id"),
           AccessToken.id == sa.bindparam("token_id"))
    .options(joinedload(Invitation.round).joinedload(Round.study),
             joinedload(Invitation.panellist)))
SECTIONS = (
    sa.select(Section.id, Section.title, Section.description, Section.scale_key,
              Section.evidence, Section.references)
    .where(Section.study_id == sa.bindparam("study_id")).order_by(Section.position))


def _session_invitation() -> Invitation | None:
    """The invitation of this browser's panellist session, or None (no session, a revoked
    link: ``g.withdrawn`` then says whether the panellist withdrew)."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    invitation_id, token_id = data.get("invitation"), data.get("token")
    if not isinstance(invitation_id, int) or not isinstance(token_id, int):
        return None
    # The invitation, its link, round and study in one query: every panellist page needs them.
    row = db.session.execute(SESSION_INVITATION, {"invitation_id": invitation_id,
                                                  "token_id": token_id}).first()
    if row is None:
        return None
    invitation, access = row
    if access.revoked_at is not None or invitation.revoked_at is not None:
        session.pop(SESSION_KEY, None)
        # Told plainly to whoever held the panellist's session (a bare link stays a 404).
        g.withdrawn = invitation.panellist.withdrawal_kind  # None unless withdrawn
        return None
    return invitation


def current_invitation() -> Invitation:
    """The invitation of this browser's panellist session, or a 403 page.

    The personal link is what authenticates a panellist (``open_link`` puts it in the
    session); there is no login. The session also holds Flask-WTF's CSRF secret, so the
    voting forms are protected like every other form.
    """
    invitation = _session_invitation()
    if invitation is None:
        abort(403)
    return invitation


@bp.errorhandler(403)
def _no_session(_error):
    return render_template("panel/no_session.html", withdrawn=g.get("withdrawn")), 403


def _page(invitation: Invitation, answers: dict[int, Answer], errors: dict[str, str],
          status: int = 200, suggestion: str | None = None, rewords: dict[int, str] | None = None,
          response: Response | None | Literal[False] = False,
          version: SheetVersion | None = None,
          statements: list[PageStatement] | None = None):
    """The voting page: the round's stored statements, and what is the panellist's own
    (their answers, their ratings of the round before, their suggestions)."""
    rnd = invitation.round
    study = rnd.study
    items = statements if statements is not None else page_statements(rnd)
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
    own = own_answers(rnd, invitation.panellist_id) \
        if any(s.feedback_item_id for s in items) else {}
    return render_template(
        "panel/vote.html", invitation=invitation, round=rnd, study=study, items=items,
        sections=[s for s in _sections(study) if any(i.section_id == s.id for i in items)],
        own=own, scale_parts=_scale_parts(items, study, is_open),
        answers=answers, errors=errors, progress=_progress(items, answers),
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
class ScaleParts:
    """A scale's radio buttons, captions and "unable to score", rendered once per page with
    nothing chosen and a placeholder field name; ``row`` fills in a statement's field name
    and the panellist's answer (see panel/_statement.html)."""

    base: Markup
    bands: str

    PLACEHOLDER = "rating-0000"

    def row(self, ident: int, answer: Answer | None) -> Markup:
        html = self.base.replace(self.PLACEHOLDER, f"rating-{ident}")
        chosen = None if answer is None else (UTS if answer.is_uts else answer.value)
        if chosen is not None:  # Markup's replace escapes plain strings: give it markup
            html = html.replace(Markup(' value="{}"').format(chosen),
                                Markup(' value="{}" checked').format(chosen), 1)
        return html


def _scale_parts(items: list[PageStatement], study: Study, is_open: bool
                 ) -> dict[str, ScaleParts]:
    points = get_template_attribute("panel/_scale.html", "points")
    caption = get_template_attribute("panel/_scale.html", "caption")
    unable = get_template_attribute("panel/_scale.html", "unable")
    out = {}
    for key in {item.scale_key for item in items}:
        scale = get_scale(key)
        field = ScaleParts.PLACEHOLDER
        base = points(scale, field, None, is_open) + Markup("\n        ") + caption(scale)
        if study.allow_uts:
            base += Markup("\n        ") + unable(field, False, is_open)
        out[key] = ScaleParts(base, ", ".join(band.label for band in scale.bands))
    return out


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


def _sections(study: Study) -> list[SectionView]:
    """A study's sections in order, in one query."""
    return [
        SectionView(ident, title, description, own_scale or study.scale_key, evidence,
                    tuple(references or ()))
        for ident, title, description, own_scale, evidence, references in db.session.execute(
            SECTIONS, {"study_id": study.id})]


def _suggestions(invitation: Invitation):
    from ..models import Suggestion

    return db.session.scalars(
        db.select(Suggestion).where(Suggestion.round_id == invitation.round_id,
                                    Suggestion.panellist_id == invitation.panellist_id,
                                    Suggestion.parent_id.is_(None))
    ).all()


@bp.route("/vote", methods=["GET"])
def vote():
    invitation = current_invitation()
    if (first := _consent_first(invitation)) is not None:
        return first
    response, answers = load_sheet(invitation)
    return _page(invitation, answers, {}, response=response)


def _vote_form(rnd: Round, csrf: bool = True) -> VoteForm:
    """The round's voting form, bound to this request's data (see forms.py)."""
    return vote_form(statement_keys(rnd), rnd.id, rnd.study.allow_uts, rnd.allow_suggestions,
                     csrf=csrf)


def _posted_sheet(form: VoteForm) -> tuple[AnswerSheet, SheetVersion | None]:
    """Check the posted form; the sheet it holds (with its problems) and the page's mark."""
    form.validate()
    sheet = form.sheet()
    if "csrf_token" in sheet.errors:
        sheet.errors["csrf_token"] = CSRF_EXPIRED
    raw_version = request.form.get("sheet_version")
    seen = None if raw_version is None else SheetVersion.parse(raw_version)
    if raw_version is not None and seen is None:
        sheet.errors["sheet_version"] = BAD_VERSION
    return sheet, seen


OWN_REFUSAL_PAGES = ("panel.answer_consent", "panel.confirm_withdraw",
                     "panel.answer_declaration")


@bp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError):
    """Flask-WTF refused the token (a page open longer than the session, a forged form):
    nothing is saved, and a voting page is drawn again with everything that was typed.
    The consent and withdrawal pages answer with their own page: their forms check the
    token again, refuse it and say that nothing was recorded."""
    if request.endpoint in OWN_REFUSAL_PAGES:
        return current_app.view_functions[request.endpoint]()
    invitation = _session_invitation()
    if invitation is None:
        return _no_session(error)
    if request.endpoint == "panel.save":
        sheet, seen = _posted_sheet(_vote_form(invitation.round, csrf=False))
        if (first := _consent_first(invitation, sheet.action == "autosave")) is not None:
            return first  # nothing is saved before consent, and no answers are shown
        sheet.errors = {"csrf_token": CSRF_EXPIRED, **sheet.errors}
        return _refused(invitation, sheet, 400, sheet.action == "autosave", seen)
    sheet = _saved_sheet(invitation)
    sheet.errors["csrf_token"] = CSRF_EXPIRED
    return _refused(invitation, sheet, 400, False)


@bp.route("/vote", methods=["POST"])
def save():
    invitation = current_invitation()
    sheet, seen = _posted_sheet(_vote_form(invitation.round))
    wants_json = sheet.action == "autosave"
    if (first := _consent_first(invitation, wants_json)) is not None:
        return first  # nothing is saved before consent
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
    """Save and commit in one unit of work; a save that loses a race is tried again.

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
    items = rnd.items
    missing = [i for i in items if not _is_answered(answers.get(i.id))]
    is_open = rnd.state is RoundState.OPEN and not rnd.is_past_deadline(utcnow())
    return render_template("panel/confirm.html", invitation=invitation, round=rnd,
                           study=rnd.study, missing=missing, total=len(items),
                           answered=len(items) - len(missing), is_open=is_open)


def _saved_sheet(invitation: Invitation) -> AnswerSheet:
    """The sheet as saved, to submit as it stands (or to draw the page again from)."""
    rnd = invitation.round
    sheet = AnswerSheet(action="submit")
    answers = load_answers(invitation)
    saved = {s.item_id: s.text for s in _suggestions(invitation)} if rnd.allow_suggestions \
        else {}
    for item_id in _item_ids(rnd.id):
        answer = answers.get(item_id) or Answer()
        answer.reword = saved.get(item_id, "")
        sheet.answers[item_id] = answer
    sheet.suggestion = saved.get(None, "")
    return sheet


@bp.route("/vote/confirm", methods=["POST"])
def submit_saved():
    """"Submit anyway": submit the answers saved as a draft when the confirmation was shown."""
    invitation = current_invitation()
    if (first := _consent_first(invitation)) is not None:
        return first
    rnd = invitation.round
    form = EmptyForm()
    form.validate()
    sheet = _saved_sheet(invitation)
    if form.errors.get("csrf_token"):
        sheet.errors["csrf_token"] = CSRF_EXPIRED
    if request.form.get("round", "") != str(rnd.id):
        sheet.errors["round"] = ("this form belongs to another round; reload the page to see "
                                 "the current one")
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
