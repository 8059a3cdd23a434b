"""Console pages for rounds: launch, close, remind, progress, personal links and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import joinedload

from .. import mail
from ..console import (
    EmptyForm,
    actor,
    facilitator_blueprint,
    get_study_or_404,
    run_use_case,
    unconfirmed,
)
from ..extensions import db
from ..models import (
    Invitation,
    OutboxMessage,
    Panellist,
    Response,
    ResponseState,
    Round,
)
from ..tokens import link_for, mint_token
from ..uow import unit_of_work
from . import confirm
from . import operations as ops
from .forms import LaunchRoundForm

bp = facilitator_blueprint("rounds", __name__, "/studies/<slug>")


def _run(action: Any, success: str, slug: str, target: str | None = None):
    """Run a round use case from a button and go back to the rounds page (or ``target``)."""
    return run_use_case(action, success, target or url_for("rounds.index", slug=slug))


@bp.route("/rounds/")
def index(slug: str):
    study = get_study_or_404(slug)
    rounds = [_progress(r) for r in study.rounds]
    return render_template("rounds/index.html", study=study, rounds=rounds,
                           open_round=ops.open_round(study), launch_form=LaunchRoundForm(),
                           form=EmptyForm())


def _progress(rnd: Round) -> dict[str, Any]:
    """Invited and submitted counts per stakeholder group, and who has not answered."""
    submitted = set(db.session.scalars(
        sa.select(Response.panellist_id).where(Response.round_id == rnd.id,
                                               Response.state == ResponseState.SUBMITTED)))
    started = set(db.session.scalars(
        sa.select(Response.panellist_id).where(Response.round_id == rnd.id)))
    invitations = db.session.scalars(
        sa.select(Invitation).where(Invitation.round_id == rnd.id)
        .options(joinedload(Invitation.panellist).joinedload(Panellist.group))
    ).all()
    groups: dict[str, dict[str, int]] = {}
    waiting = []
    for invitation in invitations:
        name = invitation.panellist.group.name
        row = groups.setdefault(name, {"invited": 0, "submitted": 0})
        row["invited"] += 1
        if invitation.panellist_id in submitted:
            row["submitted"] += 1
        else:
            waiting.append((invitation.panellist, invitation.panellist_id in started))
    return {"round": rnd, "invited": len(invitations), "submitted": len(submitted),
            "groups": groups, "waiting": waiting}


@bp.route("/rounds/launch", methods=["GET", "POST"])
def launch(slug: str):
    """GET: what launching will do, and a button to confirm; POST (confirmed): launch."""
    study = get_study_or_404(slug)
    if request.method == "GET":
        form = LaunchRoundForm(request.args, meta={"csrf": False})
        if not form.validate():
            flash("The closing time is not a valid date and time.", "error")
            return redirect(url_for("rounds.index", slug=slug))
        facts = confirm.launch_facts(study, _utc(form.closes_at.data))
        return render_template("rounds/confirm.html", study=study, kind="launch", facts=facts,
                               closes_at=request.args.get("closes_at", ""))
    form = LaunchRoundForm()
    refused = unconfirmed(
        url_for("rounds.launch", slug=slug, closes_at=request.form.get("closes_at") or None),
        "a round is launched")
    if refused is not None:
        return refused
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash("The closing time is not a valid date and time.", "error")
        return redirect(url_for("rounds.index", slug=slug))
    closes_at = _utc(form.closes_at.data)
    return _run(lambda: ops.launch_message(ops.launch_round(study, actor(), closes_at)),
                "{result}", slug)


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when else None


@bp.route("/rounds/close", methods=["GET", "POST"])
def close(slug: str):
    """GET: how many answers the close counts, and a button to confirm; POST: close."""
    study = get_study_or_404(slug)
    rnd = ops.open_round(study)
    if request.method == "GET":
        if rnd is None:
            flash("No round is open.", "error")
            return redirect(url_for("rounds.index", slug=slug))
        return render_template("rounds/confirm.html", study=study, kind="close",
                               facts=confirm.close_facts(rnd))
    refused = unconfirmed(url_for("rounds.close", slug=slug), "a round is closed")
    if refused is not None:
        return refused
    return _run(lambda: ops.close_round(study, actor()),
                "Round {result.number} is closed and its results are computed.", slug)


@bp.route("/rounds/remind", methods=["POST"])
def remind(slug: str):
    study = get_study_or_404(slug)
    return _run(lambda: ops.remind(study, actor()),
                "{result} reminders are in the outbox.", slug)


def _panellist_or_404(study, pseudonym: str) -> Panellist:
    panellist = db.session.scalar(
        sa.select(Panellist).where(Panellist.study_id == study.id,
                                   Panellist.pseudonym == pseudonym))
    if panellist is None:
        abort(404)
    return panellist


def _back(slug: str) -> str:
    """Back to the page the button was on: the study's Panel page or the rounds page."""
    if request.form.get("back") == "panel":
        return url_for("studies.panel", slug=slug)
    return url_for("rounds.index", slug=slug)


@bp.route("/panellists/<pseudonym>/reissue", methods=["POST"])
def reissue(slug: str, pseudonym: str):
    study = get_study_or_404(slug)
    panellist = _panellist_or_404(study, pseudonym)
    return _run(lambda: ops.reissue_for(study, panellist, actor()),
                f"A new link for {pseudonym} is in the outbox; the old links no longer work.",
                slug, _back(slug))


@bp.route("/panellists/<pseudonym>/revoke", methods=["POST"])
@bp.route("/panellists/<pseudonym>/withdraw", methods=["POST"])
def withdraw(slug: str, pseudonym: str):
    """Revoke a panellist's links for good: a withdrawal, until reinstated."""
    study = get_study_or_404(slug)
    panellist = _panellist_or_404(study, pseudonym)
    reason = request.form.get("reason", "")[:500] or "personal links revoked"
    return _run(lambda: ops.withdraw_panellist(study, panellist, reason, actor()),
                f"{pseudonym} is withdrawn: their links no longer work and later rounds do "
                "not invite them until you reinstate them.", slug, _back(slug))


@bp.route("/panellists/<pseudonym>/reinstate", methods=["POST"])
def reinstate(slug: str, pseudonym: str):
    study = get_study_or_404(slug)
    panellist = _panellist_or_404(study, pseudonym)
    running = ops.open_round(study)
    tail = (f" To let them answer round {running.number}, send them a new link from the "
            "Rounds page." if running is not None else "")
    return _run(lambda: ops.reinstate_panellist(study, panellist, actor()),
                f"{pseudonym} is reinstated and will be invited to the next round." + tail,
                slug, _back(slug))


@bp.route("/outbox")
def outbox(slug: str):
    study = get_study_or_404(slug)
    messages = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.study_id == study.id)
        .order_by(OutboxMessage.id.desc()).limit(500)
    ).all()
    return render_template("rounds/outbox.html", study=study, messages=messages,
                           counts=mail.backlog(study.id, with_sent=True),
                           smtp=mail.smtp_configured(), form=EmptyForm())


def _message_or_404(study, message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.study_id != study.id:
        abort(404)
    return message


@bp.route("/outbox/<int:message_id>/resend", methods=["POST"])
def resend(slug: str, message_id: int):
    study = get_study_or_404(slug)
    message = _message_or_404(study, message_id)
    return _run(lambda: mail.resend(message), f"The message to {message.to_address} is queued "
                "again.", slug, url_for("rounds.outbox", slug=slug))


@bp.route("/outbox/<int:message_id>/preview", methods=["POST"])
def preview(slug: str, message_id: int):
    """Show a message as it would be delivered, with a fresh personal link (no SMTP set)."""
    study = get_study_or_404(slug)
    message = _message_or_404(study, message_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if mail.smtp_configured():
        flash("Email is delivered over SMTP here; messages are not shown with their links.",
              "error")
        return redirect(url_for("rounds.outbox", slug=slug))
    from .. import audit

    with unit_of_work():
        invitation = db.session.get(Invitation, message.invitation_id) \
            if message.invitation_id else None
        link = link_for(mint_token(invitation)) \
            if invitation and invitation.revoked_at is None else None
        rendered = mail.render(message, link)
        panellist = db.session.get(Panellist, message.panellist_id) \
            if message.panellist_id else None
        audit.record(actor(), "outbox.link_shown", study, message=message.id,
                     panellist=panellist.pseudonym if panellist else None)
    return render_template("rounds/message.html", study=study, message=message,
                           rendered=rendered, link=link)
