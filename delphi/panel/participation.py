"""Panellist pages around the voting page: the information sheet and consent question on
the first visit, then the declaration of interests where the study asks for one, and
withdrawing from the study (from every email and the voting page).

GET never changes anything (mail scanners open links); every answer is a POST with CSRF.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, jsonify, redirect, render_template, session, url_for

from .. import consent as consent_ops
from .. import tokens
from ..declarations import operations as declarations
from ..declarations.forms import DeclarationForm
from ..extensions import db
from ..models import AccessToken, DomainError, Invitation, Panellist
from ..security import client_address, is_throttled, record_failure
from ..uow import unit_of_work
from .forms import ConsentAnswerForm, WithdrawForm
from .views import KEEP_ON_EXCHANGE, SESSION_KEY, TOKEN_SCOPE, bp, current_invitation

WITHDRAW_KEY = "withdraw"
NEEDS_CONSENT = ("Please read the information about the study and answer the consent "
                 "question first: nothing can be saved before that.")


def consent_first(invitation: Invitation, wants_json: bool = False) -> Any:
    """A redirect to the consent page (or a JSON refusal) while the panellist has not
    consented to the version in force; None once they have (or none is asked)."""
    if not invitation.panellist.needs_consent():
        return None
    if wants_json:
        return jsonify(errors={"consent": NEEDS_CONSENT}), 409
    return redirect(url_for("panel.consent"))


NEEDS_DECLARATION = ("Please answer the declaration of interests first: nothing can be "
                     "saved before that.")


def declaration_first(invitation: Invitation, wants_json: bool = False) -> Any:
    """A redirect to the declaration page (or a JSON refusal) while the study asks for a
    declaration the panellist has not made; None once they have (or none is asked)."""
    if not declarations.needs_declaration(invitation.panellist):
        return None
    if wants_json:
        return jsonify(errors={"declaration": NEEDS_DECLARATION}), 409
    return redirect(url_for("panel.declaration"))


def paragraphs(text: str) -> list[str]:
    """A plain text's paragraphs: a blank line starts a new one."""
    out, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


def _consent_page(invitation: Invitation, form: ConsentAnswerForm, status: int = 200,
                  problem: str = ""):
    study = invitation.round.study
    document = study.consent_document
    form.version.data = str(document.version) if document else ""
    latest = invitation.panellist.latest_consent
    return render_template("panel/consent.html", study=study, round=invitation.round,
                           document=document, form=form, problem=problem,
                           paragraphs=paragraphs(document.information_sheet) if document else [],
                           again=latest is not None and latest.decision == "consented"), status


@bp.route("/consent", methods=["GET"])
def consent():
    invitation = current_invitation()
    if not invitation.panellist.needs_consent():
        return redirect(url_for("panel.vote"))
    return _consent_page(invitation, ConsentAnswerForm())


@bp.route("/consent", methods=["POST"])
def answer_consent():
    invitation = current_invitation()
    form = ConsentAnswerForm()
    if not form.validate_on_submit():
        return _consent_page(invitation, ConsentAnswerForm(), 400,
                             "This page had been open too long to answer safely; nothing was "
                             "recorded. Please answer again.")
    version = form.version.data or ""
    if not (version.isascii() and version.isdigit() and len(version) <= 6) \
            or form.consent.data == form.decline.data:
        return _consent_page(invitation, ConsentAnswerForm(), 400,
                             "Please press one of the two buttons; nothing was recorded.")
    try:
        with unit_of_work():
            panellist = db.session.get(Panellist, invitation.panellist_id)
            if form.consent.data:
                consent_ops.give(panellist, int(version))
            else:
                consent_ops.decline(panellist, int(version))
    except DomainError as exc:
        return _consent_page(invitation, ConsentAnswerForm(), 409, str(exc))
    if form.decline.data:
        session.pop(SESSION_KEY, None)
        return redirect(url_for("panel.declined"))
    return redirect(url_for("panel.vote"))


@bp.route("/declined")
def declined():
    return render_template("panel/left.html", declined=True)


# -- declaration of interests ---------------------------------------------------------------

def _declaration_page(invitation: Invitation, form: DeclarationForm, status: int = 200,
                      problem: str = ""):
    study = invitation.round.study
    if not study.asks_conflict_declarations:
        return redirect(url_for("panel.vote"))
    return render_template("panel/declaration.html", study=study, form=form, problem=problem,
                           declaration=declarations.of_panellist(invitation.panellist)), status


@bp.route("/declaration", methods=["GET"])
def declaration():
    invitation = current_invitation()
    if (first := consent_first(invitation)) is not None:
        return first
    stored = declarations.of_panellist(invitation.panellist)
    return _declaration_page(invitation, DeclarationForm(formdata=None).fill(stored))


@bp.route("/declaration", methods=["POST"])
def answer_declaration():
    """Record the declaration; bad input is answered on the page with what was typed, and
    nothing is saved."""
    invitation = current_invitation()
    if (first := consent_first(invitation)) is not None:
        return first
    form = DeclarationForm()
    if not form.validate_on_submit():
        problem = ("This page had been open too long to answer safely; nothing was recorded. "
                   "Please answer again." if "csrf_token" in form.errors
                   else " ".join(e for errors in form.errors.values() for e in errors))
        return _declaration_page(invitation, form, 400, problem)
    try:
        with unit_of_work():
            panellist = db.session.get_one(Panellist, invitation.panellist_id)
            declarations.declare_as_panellist(panellist, form.has_conflicts,
                                              form.details.data or "")
    except DomainError as exc:
        return _declaration_page(invitation, form, 400, exc.render())
    return redirect(url_for("panel.vote"))


# -- withdrawing ---------------------------------------------------------------------------

@bp.route("/p/<token>/withdraw")
def open_withdraw_link(token: str):
    """The withdrawal link of an email: exchange it for a session, as the personal link.

    It works after its round has closed too (a panellist may leave between rounds); a
    revoked link does not.  Nothing changes here: the next page asks first.
    """
    cfg = current_app.config
    address = client_address()
    window = int(cfg["TOKEN_WINDOW_SECONDS"])
    if is_throttled(TOKEN_SCOPE, address, int(cfg["TOKEN_MAX_MISSES"]), window):
        abort(429)
    access = _live_token(token)
    if access is None:
        with unit_of_work():
            record_failure(TOKEN_SCOPE, address, window)
        abort(404)
    kept = {k: session[k] for k in KEEP_ON_EXCHANGE if k in session}
    session.clear()
    session.update(kept)
    session[WITHDRAW_KEY] = {"token": access.id}
    session.permanent = True
    return redirect(url_for("panel.withdraw"))


def _live_token(token: str) -> AccessToken | None:
    if not token or len(token) > 100 or not token.isascii():
        return None
    row = db.session.execute(
        sa.select(AccessToken, Invitation)
        .join(Invitation, AccessToken.invitation_id == Invitation.id)
        .where(AccessToken.token_hash == tokens.hash_token(token))).first()
    if row is None or row[0].revoked_at is not None or row[1].revoked_at is not None:
        return None
    return row[0]


def _withdrawing() -> Panellist:
    """The panellist of this browser's withdrawal or voting session, or a 403 page."""
    for key in (WITHDRAW_KEY, SESSION_KEY):
        data = session.get(key)
        token_id = data.get("token") if isinstance(data, dict) else None
        if isinstance(token_id, int):
            access = db.session.get(AccessToken, token_id)
            if access is not None and access.revoked_at is None \
                    and access.invitation.revoked_at is None:
                return access.invitation.panellist
    abort(403)


def _withdraw_page(panellist: Panellist, status: int = 200, problem: str = ""):
    study = panellist.study
    return render_template("panel/withdraw.html", study=study, panellist=panellist,
                           form=WithdrawForm(), problem=problem,
                           has_answers=consent_ops.has_answers(panellist)), status


@bp.route("/withdraw", methods=["GET"])
def withdraw():
    return _withdraw_page(_withdrawing())


@bp.route("/withdraw", methods=["POST"])
def confirm_withdraw():
    panellist = _withdrawing()
    if not WithdrawForm().validate_on_submit():
        return _withdraw_page(panellist, 400, "This page had been open too long to act on "
                              "safely; nothing was changed. Press the button again.")
    try:
        with unit_of_work():
            consent_ops.withdraw(db.session.get(Panellist, panellist.id))
    except DomainError as exc:
        return _withdraw_page(panellist, 409, str(exc))
    session.pop(WITHDRAW_KEY, None)
    session.pop(SESSION_KEY, None)
    return redirect(url_for("panel.withdrawn"))


@bp.route("/withdrawn")
def withdrawn():
    return render_template("panel/left.html", declined=False)
