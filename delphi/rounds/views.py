"""Console pages for rounds: launch, close, remind, progress, personal links and the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import joinedload

from .. import invitations, mail
from ..console import (
    EmptyForm,
    actor,
    facilitator_blueprint,
    field_text,
    get_study_or_404,
    requires,
    run_use_case,
    unconfirmed,
)
from ..extensions import db
from ..models import (
    DomainError,
    Invitation,
    OutboxMessage,
    Panellist,
    Response,
    ResponseState,
    Round,
    Study,
)
from ..roles import Permission
from ..tokens import link_for, mint_token
from ..uow import unit_of_work
from . import confirm
from . import operations as ops
from .forms import (
    DeadlineForm,
    EmailSettingsForm,
    EmailTextForm,
    LaunchRoundForm,
    ReopenForm,
    ScheduleForm,
)

bp = facilitator_blueprint("rounds", __name__, "/studies/<slug>")


def _run(action: Any, success: str, slug: str, target: str | None = None):
    """Run a round use case from a button and go back to the rounds page (or ``target``)."""
    return run_use_case(action, success, target or url_for("rounds.index", slug=slug))


@bp.route("/rounds/")
@requires(Permission.VIEW_ROUNDS)
def index(slug: str):
    study = get_study_or_404(slug)
    rounds = [_progress(r) for r in study.rounds]
    open_round = ops.open_round(study)
    deadline_form = DeadlineForm(formdata=None, closes_at=_local(open_round.closes_at, study)
                                 if open_round else None)
    return render_template("rounds/index.html", study=study, rounds=rounds,
                           open_round=open_round, launch_form=LaunchRoundForm(),
                           deadline_form=deadline_form, reopen_form=ReopenForm(formdata=None),
                           can_reopen=_can_reopen(study), form=EmptyForm())


def _local(when, study):
    """A stored time as the naive local time a datetime-local field shows."""
    from ..timezones import local

    here = local(when, study.time_zone)
    return here.replace(tzinfo=None) if here else None


def _can_reopen(study) -> bool:
    from ..models import ItemDecision, RoundState

    current = study.current_round
    if current is None or current.state is not RoundState.CLOSED or study.is_closed_for_good:
        return False
    return not db.session.scalar(sa.select(sa.func.count()).select_from(ItemDecision).where(
        ItemDecision.study_id == study.id, ItemDecision.after_round == current.number))


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
@requires(Permission.RUN_ROUNDS)
def launch(slug: str):
    """GET: what launching will do, and a button to confirm; POST (confirmed): launch."""
    study = get_study_or_404(slug)
    if request.method == "GET":
        form = LaunchRoundForm(request.args, meta={"csrf": False})
        if not form.validate():
            flash("The closing time is not a valid date and time.", "error")
            return redirect(url_for("rounds.index", slug=slug))
        try:
            closes_at = _utc(form.closes_at.data, study)
        except DomainError as exc:
            flash(str(exc), "error")
            return redirect(url_for("rounds.index", slug=slug))
        facts = confirm.launch_facts(study, closes_at)
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
    undecided = confirm.between_rounds(study).undecided
    if undecided and request.form.get("undecided_confirmed") != "yes":
        flash(f"Nothing was changed: {len(undecided)} statement(s) have no decision; tick "
              "the box to confirm they go to the next round unchanged.", "error")
        return redirect(url_for("rounds.launch", slug=slug,
                                closes_at=request.form.get("closes_at") or None), code=303)
    return _run(lambda: ops.launch_message(ops.launch_round(
        study, actor(), _utc(form.closes_at.data, study))), "{result}", slug)


def _utc(when: datetime | None, study: Study) -> datetime | None:
    """A time entered in the study's time zone, in UTC (DomainError if it does not exist)."""
    from ..timezones import to_utc

    return to_utc(when, study.time_zone) if when else None


@bp.route("/rounds/close", methods=["GET", "POST"])
@requires(Permission.RUN_ROUNDS)
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
@requires(Permission.RUN_ROUNDS)
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
@requires(Permission.MANAGE_PANEL)
def reissue(slug: str, pseudonym: str):
    study = get_study_or_404(slug)
    panellist = _panellist_or_404(study, pseudonym)
    return _run(lambda: invitations.reissue_for(study, panellist, actor()),
                f"A new link for {pseudonym} is in the outbox; the old links no longer work.",
                slug, _back(slug))


@bp.route("/panellists/<pseudonym>/revoke", methods=["POST"])
@bp.route("/panellists/<pseudonym>/withdraw", methods=["POST"])
@requires(Permission.MANAGE_PANEL)
def withdraw(slug: str, pseudonym: str):
    """Revoke a panellist's links for good: a withdrawal, until reinstated."""
    study = get_study_or_404(slug)
    panellist = _panellist_or_404(study, pseudonym)
    reason = request.form.get("reason", "")[:500] or "personal links revoked"
    return _run(lambda: ops.withdraw_panellist(study, panellist, reason, actor()),
                f"{pseudonym} is withdrawn: their links no longer work and later rounds do "
                "not invite them until you reinstate them.", slug, _back(slug))


@bp.route("/panellists/<pseudonym>/reinstate", methods=["POST"])
@requires(Permission.MANAGE_PANEL)
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
@requires(Permission.VIEW_ROUNDS)
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
@requires(Permission.RUN_ROUNDS)
def resend(slug: str, message_id: int):
    study = get_study_or_404(slug)
    message = _message_or_404(study, message_id)
    return _run(lambda: mail.resend(message), f"The message to {message.to_address} is queued "
                "again.", slug, url_for("rounds.outbox", slug=slug))


@bp.route("/outbox/<int:message_id>/preview", methods=["POST"])
@requires(Permission.RUN_ROUNDS)  # it makes a working personal link
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


@bp.route("/rounds/deadline", methods=["POST"])
@requires(Permission.RUN_ROUNDS)
def deadline(slug: str):
    """Set, extend, shorten or remove the open round's closing time."""
    study = get_study_or_404(slug)
    form = DeadlineForm()

    def action():
        closes_at = None if form.no_deadline.data else _utc(form.closes_at.data, study)
        rnd = ops.set_deadline(study, closes_at, actor())
        return rnd

    return run_use_case(action, "The deadline of round {result.number} is changed.",
                        url_for("rounds.index", slug=slug), form,
                        failure="Nothing was changed: ")


@bp.route("/rounds/reopen", methods=["POST"])
@requires(Permission.RUN_ROUNDS)
def reopen(slug: str):
    """Reopen the latest round, closed by mistake (before any decision on it)."""
    study = get_study_or_404(slug)
    form = ReopenForm()
    return run_use_case(
        lambda: ops.reopen_round(study, _utc(form.closes_at.data, study), actor()),
        "Round {result.number} is open again; its results are computed again when it closes.",
        url_for("rounds.index", slug=slug), form, failure="Nothing was changed: ")


@bp.route("/schedule", methods=["GET", "POST"])
@requires(Permission.VIEW_ROUNDS, post=Permission.RUN_ROUNDS)
def schedule(slug: str):
    """The study's time zone, reminder schedule and suggestion setting."""
    from ..timezones import zone_names

    study = get_study_or_404(slug)
    if request.method == "POST":
        form = ScheduleForm()
        if form.validate_on_submit():
            try:
                with unit_of_work():
                    ops.update_schedule(study, field_text(form.time_zone), form.days,
                                        form.suggestions_every_round.data, actor())
            except DomainError as exc:
                form.form_errors.append(str(exc))
            else:
                flash("The schedule is saved.", "info")
                return redirect(url_for("rounds.schedule", slug=slug))
        elif "csrf_token" in form.errors:
            abort(400)
        status = 400
    else:
        form = ScheduleForm(formdata=None, time_zone=study.time_zone,
                            reminder_days=", ".join(str(d) for d in study.reminder_days or []),
                            suggestions_every_round=study.suggestions_every_round)
        status = 200
    return render_template("rounds/schedule.html", study=study, form=form,
                           zones=zone_names()), status


def _email_page(study, settings_form=None, text_forms=None, preview=None,
                status: int = 200):
    from .. import email_texts

    text_forms = text_forms or {}
    for kind in email_texts.KINDS:
        if kind not in text_forms:
            saved = email_texts.texts_for(study.email_texts, kind) or email_texts.DEFAULTS[kind]
            text_forms[kind] = EmailTextForm(formdata=None, prefix=kind, kind=kind, **saved)
    settings_form = settings_form or EmailSettingsForm(
        formdata=None, sender_name=study.sender_name, reply_to=study.reply_to,
        contact_person=study.contact_person)
    return render_template(
        "rounds/emails.html", study=study, settings_form=settings_form,
        text_forms=text_forms, kinds=email_texts.KINDS, names=email_texts.KIND_NAMES,
        placeholders=email_texts.PLACEHOLDERS, needs_link=email_texts.NEEDS_LINK,
        edited={k for k in email_texts.KINDS if email_texts.texts_for(study.email_texts, k)},
        preview=preview, form=EmptyForm()), status


@bp.route("/emails", methods=["GET"])
@requires(Permission.VIEW_ROUNDS)
def emails(slug: str):
    """The study's email settings and texts, each with a preview and a test."""
    return _email_page(get_study_or_404(slug))


@bp.route("/emails/settings", methods=["POST"])
@requires(Permission.RUN_ROUNDS)
def email_settings(slug: str):
    study = get_study_or_404(slug)
    form = EmailSettingsForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _email_page(study, settings_form=form, status=400)
    try:
        with unit_of_work():
            ops.update_email_settings(study, form.sender_name.data or "",
                                      form.reply_to.data or "", form.contact_person.data or "",
                                      actor())
    except DomainError as exc:
        form.form_errors.append(str(exc))
        return _email_page(study, settings_form=form, status=400)
    flash("The email settings are saved.", "info")
    return redirect(url_for("rounds.emails", slug=slug))


@bp.route("/emails/<kind>", methods=["POST"])
@requires(Permission.RUN_ROUNDS)
def email_text(slug: str, kind: str):
    """Save, preview, test or reset one message's text (the button pressed says which)."""
    from .. import email_texts

    study = get_study_or_404(slug)
    if kind not in email_texts.KINDS:
        abort(404)
    form = EmailTextForm(prefix=kind)
    intent = request.form.get("intent", "save")
    if intent == "reset":
        return run_use_case(lambda: ops.reset_email_text(study, kind, actor()),
                            f"The {email_texts.KIND_NAMES[kind].lower()} message is back to "
                            "its default text.", url_for("rounds.emails", slug=slug),
                            failure="Nothing was changed: ")
    if intent == "test":
        me = actor()
        return run_use_case(lambda: ops.send_test_email(study, kind, me.email, me.name,
                                                        actor()),
                            f"A test of the {email_texts.KIND_NAMES[kind].lower()} message to "
                            f"{me.email} is in the outbox.",
                            url_for("rounds.emails", slug=slug))
    if not form.validate_on_submit() or form.kind.data != kind:
        if "csrf_token" in form.errors:
            abort(400)
        return _email_page(study, text_forms={kind: form}, status=400)
    try:
        email_texts.check(kind, field_text(form.subject), field_text(form.body))
    except DomainError as exc:
        form.form_errors.append(str(exc))
        return _email_page(study, text_forms={kind: form}, status=400)
    if intent == "preview":
        return _email_page(study, text_forms={kind: form},
                           preview=_preview(study, kind, field_text(form.subject),
                                            field_text(form.body)))
    try:
        with unit_of_work():
            ops.update_email_text(study, kind, field_text(form.subject),
                                  field_text(form.body), actor())
    except DomainError as exc:
        form.form_errors.append(str(exc))
        return _email_page(study, text_forms={kind: form}, status=400)
    flash(f"The {email_texts.KIND_NAMES[kind].lower()} message is saved.", "info")
    return redirect(url_for("rounds.emails", slug=slug) + f"#{kind}")


def _preview(study, kind: str, subject: str, body: str) -> dict[str, Any]:
    """The text filled with sample values, as a panellist would read it."""
    from .. import email_texts
    from ..models import utcnow
    from ..timezones import shown

    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    values = mail.sandbox_values(  # a sample link, never a real one
        study, None, None, f"{base}/p/example-personal-link", 12,
        shown(utcnow() + timedelta(days=7), study.time_zone, "%A %d %B %Y at %H:%M"),
        {"name": "Dr Jane Example", "round": 1})
    return {"kind": kind, "subject": email_texts.fill_text(subject, values, "subject"),
            "html": email_texts.fill_html(body, values, "body"),
            "text": email_texts.fill_text(body, values, "body")}


@bp.route("/thank-you", methods=["POST"])
@requires(Permission.RUN_ROUNDS)
def thank_you(slug: str):
    study = get_study_or_404(slug)
    return _run(lambda: ops.send_thank_you(study, actor()),
                "{result} thank-you messages are in the outbox.", slug)
