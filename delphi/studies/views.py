"""Facilitator pages: the list of one's studies and each study's page."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from .. import mail as mail_outbox
from ..console import (
    EmptyForm,
    actor,
    facilitator_blueprint,
    get_study_or_404,
    requires,
    run_use_case,
    unconfirmed,
)
from ..extensions import Model, db
from ..models import (
    DomainError,
    Invitation,
    OutboxMessage,
    Panellist,
    Rating,
    Response,
    ResponseState,
    Study,
    StudyMembership,
    StudyState,
    Suggestion,
)
from ..roles import Permission, allows
from ..uow import unit_of_work
from . import privacy
from .forms import PanellistForm, PanelUploadForm
from .operations import PanelImportError, import_panel
from .panellists import (
    PanellistDetails,
    PanellistInvalid,
    add_panellist,
    edit_panellist,
    format_attributes,
    parse_attributes,
)

bp = facilitator_blueprint("studies", __name__, "")

MAX_PANEL_UPLOAD = 2 * 1024 * 1024


@bp.route("/")
def index():
    rows = db.session.execute(
        sa.select(Study, StudyMembership.role)
        .join(StudyMembership)
        .where(StudyMembership.facilitator_id == current_user.id)
        .order_by(Study.created_at.desc())
    ).all()
    studies = [study for study, _ in rows]
    # Where each study's card leads: its page, or the exports for a statistician.
    home = {study.id: ("studies.detail" if allows(role, Permission.VIEW_STUDY)
                       else "exports.index") for study, role in rows}
    roles = {study.id: role for study, role in rows}
    return render_template("studies/index.html", studies=studies, home=home, roles=roles)


@bp.route("/studies/<slug>/")
@requires(Permission.VIEW_STUDY)
def detail(slug: str):
    study = get_study_or_404(slug)
    current = study.current_round
    progress = None
    if current is not None:
        invited = db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)
                                    .where(Invitation.round_id == current.id))
        submitted = db.session.scalar(
            sa.select(sa.func.count()).select_from(Response)
            .where(Response.round_id == current.id, Response.state == ResponseState.SUBMITTED))
        progress = {"invited": invited, "submitted": submitted}
    from ..exports.characteristics import characteristics, current_panel
    from ..exports.data import load
    from ..exports.flow import BOX_WIDTH, LINE_HEIGHT, flow_text, item_flow

    boxes, height = item_flow(load(study)) if current is not None else ([], 0)
    panel = current_panel(study)
    return render_template("studies/detail.html", study=study, form=EmptyForm(),
                           current=current, progress=progress, panel_size=len(panel),
                           characteristics=characteristics(panel, study.min_group_size),
                           mail=mail_outbox.backlog(study.id, with_sent=True),
                           item_flow={"boxes": boxes, "height": height, "width": BOX_WIDTH,
                                      "line": LINE_HEIGHT, "text": flow_text(boxes)})


@bp.route("/studies/<slug>/panel", methods=["GET", "POST"])
@requires(Permission.VIEW_PANEL, post=Permission.MANAGE_PANEL)
def panel(slug: str):
    study = get_study_or_404(slug)
    form = PanelUploadForm()
    errors: list[str] = []
    if form.validate_on_submit():
        data = form.file.data.read(MAX_PANEL_UPLOAD + 1)
        if len(data) > MAX_PANEL_UPLOAD:
            errors = ["The file is larger than 2 MB."]
        else:
            try:
                with unit_of_work():
                    added = import_panel(study, data, actor())
            except PanelImportError as exc:
                errors = [str(e) for e in exc.errors]
            except DomainError as exc:
                errors = [exc.render()]
            else:
                flash(f"{len(added)} panellists were added.", "info")
                return redirect(url_for("studies.panel", slug=study.slug))
    panellists = db.session.scalars(
        sa.select(Panellist).where(Panellist.study_id == study.id).order_by(Panellist.id)
    ).all()
    status = 400 if errors or form.errors else 200
    return render_template("studies/panel.html", study=study, form=form, errors=errors,
                           panellists=panellists), status


def _panellist_or_404(study: Study, pseudonym: str) -> Panellist:
    panellist = db.session.scalar(sa.select(Panellist).where(
        Panellist.study_id == study.id, Panellist.pseudonym == pseudonym))
    if panellist is None:
        abort(404)
    return panellist


def _held(panellist: Panellist) -> dict[str, int]:
    """How many rows of each kind are held about a panellist (the page's summary)."""
    def count(model: type[Model], *where: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count()).select_from(model).where(*where)
        return db.session.execute(query).scalar_one()

    pid = panellist.id
    return {
        "invitations": count(Invitation, Invitation.panellist_id == pid),
        "answer sheets": count(Response, Response.panellist_id == pid),
        "ratings": count(Rating, Rating.panellist_id == pid),
        "comments": count(Rating, Rating.panellist_id == pid,
                          sa.or_(Rating.comment != "", Rating.change_reason != "")),
        "suggestions": count(Suggestion, Suggestion.panellist_id == pid),
        "emails": count(OutboxMessage, OutboxMessage.panellist_id == pid),
    }


@bp.route("/studies/<slug>/panel/<pseudonym>/")
@requires(Permission.VIEW_PANEL)
def panellist(slug: str, pseudonym: str):
    """One panellist's personal data: what is held, a copy of it, and erasure."""
    study = get_study_or_404(slug)
    person = _panellist_or_404(study, pseudonym)
    return render_template("studies/panellist.html", study=study, person=person,
                           held=_held(person))


@bp.route("/studies/<slug>/panel/<pseudonym>/export", methods=["POST"])
@requires(Permission.MANAGE_PANEL)
def export_panellist(slug: str, pseudonym: str):
    """Download everything held about the panellist as JSON; the audit log records who."""
    study = get_study_or_404(slug)
    person = _panellist_or_404(study, pseudonym)
    if not EmptyForm().validate_on_submit():
        abort(400)
    with unit_of_work():
        data = privacy.export_panellist(person, actor())
    body = json.dumps(data, indent=2, ensure_ascii=False).encode()
    response = send_file(io.BytesIO(body), mimetype="application/json", as_attachment=True,
                         download_name=f"{study.slug}-{pseudonym}-personal-data.json")
    response.headers["Cache-Control"] = "no-store"  # personal data: no copy in caches
    return response


@bp.route("/studies/<slug>/panel/<pseudonym>/erase", methods=["GET", "POST"])
@requires(Permission.MANAGE_PANEL)
def erase_panellist(slug: str, pseudonym: str):
    """GET: what erasing does, and a button; POST (confirmed): erase for good."""
    study = get_study_or_404(slug)
    person = _panellist_or_404(study, pseudonym)
    here = url_for("studies.erase_panellist", slug=slug, pseudonym=pseudonym)
    if request.method == "GET":
        return render_template("studies/erase.html", study=study, person=person,
                               held=_held(person))
    refused = unconfirmed(here, f"{pseudonym}'s personal data is erased")
    if refused is not None:
        return refused
    return run_use_case(lambda: privacy.erase_panellist(person, actor()),
                        f"The personal data of {pseudonym} is erased.",
                        url_for("studies.panellist", slug=slug, pseudonym=pseudonym))


@bp.route("/studies/<slug>/archive", methods=["GET", "POST"])
@requires(Permission.ARCHIVE_STUDY)
def archive(slug: str):
    """GET: the final export and what archiving means; POST (confirmed): archive."""
    study = get_study_or_404(slug)
    here = url_for("studies.archive", slug=slug)
    if request.method == "GET":
        problem = None
        if study.state is not StudyState.FINISHED:
            problem = (f"only a finished study can be archived; this one is {study.state}."
                       if study.state is not StudyState.ARCHIVED else "it is archived already.")
        return render_template("studies/archive.html", study=study, problem=problem)
    refused = unconfirmed(here, "the study is archived")
    if refused is not None:
        return refused
    return run_use_case(lambda: privacy.archive_study(study, actor()),
                        "The study is archived.", url_for("studies.detail", slug=slug))


def _details(form: PanellistForm) -> tuple[PanellistDetails, str | None]:
    attributes, problem = parse_attributes(form.attributes.data or "")
    return PanellistDetails(form.name.data or "", form.email.data or "", form.group.data or "",
                            form.language.data or "", attributes), problem


def _save_panellist(form: PanellistForm, action: Callable[[PanellistDetails], str]) -> bool:
    """Run ``action`` (details -> use case) in one transaction; put problems on the fields."""
    details, problem = _details(form)
    if problem is not None:
        form.attributes.errors = [problem]
        return False
    try:
        with unit_of_work():
            result = action(details)
    except PanellistInvalid as exc:
        for name, message in exc.problems.items():
            getattr(form, name).errors = [*getattr(form, name).errors, message]
        return False
    except DomainError as exc:
        form.form_errors.append(str(exc))
        return False
    flash(result, "info")
    return True


def _valid_post(form: PanellistForm) -> bool:
    if request.method != "POST":
        return False
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return False
    return True


@bp.route("/studies/<slug>/panel/add", methods=["GET", "POST"])
@requires(Permission.MANAGE_PANEL)
def add_one(slug: str):
    """Add one panellist; while a round is open, invite them to it if asked."""
    study = get_study_or_404(slug)
    form = PanellistForm()
    form.set_groups(study.groups)
    running = study.running_round
    if _valid_post(form):
        def action(details: PanellistDetails) -> str:
            person = add_panellist(study, details, actor(), invite_now=bool(form.invite.data))
            text = f"{person.pseudonym} ({person.name}) was added to the panel."
            if running is not None:  # without one, inviting now was refused above
                text += (f" Their invitation to round {running.number} is in the outbox."
                         if form.invite.data else " They will be invited to the next round.")
            return text

        if _save_panellist(form, action):
            return redirect(url_for("studies.panel", slug=slug))
    status = 400 if request.method == "POST" else 200
    return render_template("studies/panellist_form.html", study=study, form=form, person=None,
                           running=running), status


@bp.route("/studies/<slug>/panel/<pseudonym>/edit", methods=["GET", "POST"])
@requires(Permission.MANAGE_PANEL)
def edit_one(slug: str, pseudonym: str):
    """Edit a panellist's name, email, group, language and other details."""
    study = get_study_or_404(slug)
    person = _panellist_or_404(study, pseudonym)
    if person.is_erased:
        flash(f"{pseudonym}'s personal data was erased; there is nothing to edit.", "error")
        return redirect(url_for("studies.panellist", slug=slug, pseudonym=pseudonym))
    form = PanellistForm(data={"name": person.name, "email": person.email,
                               "group": person.group.key, "language": person.language,
                               "attributes": format_attributes(person.attributes)})
    form.set_groups(study.groups)
    running = study.running_round
    if _valid_post(form):
        def action(details: PanellistDetails) -> str:
            changed = edit_panellist(study, person, details, actor(),
                                     resend=bool(form.resend.data))
            text = (f"{pseudonym}'s details were saved ({', '.join(changed)} changed)."
                    if changed else f"{pseudonym}'s details are unchanged.")
            if form.resend.data and running is not None:  # without one, it was refused
                text += f" A new link to round {running.number} is in the outbox."
            return text

        if _save_panellist(form, action):
            return redirect(url_for("studies.panellist", slug=slug, pseudonym=pseudonym))
    status = 400 if request.method == "POST" else 200
    return render_template("studies/panellist_form.html", study=study, form=form, person=person,
                           running=running), status
