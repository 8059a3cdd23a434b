"""Facilitator pages: the list of one's studies and each study's page."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ..auth.forms import EmptyForm
from ..console import facilitator_blueprint
from ..extensions import db
from ..models import (
    DomainError,
    Invitation,
    OutboxMessage,
    Panellist,
    Response,
    ResponseState,
    Study,
    StudyMembership,
)
from .forms import PanelUploadForm
from .operations import PanelImportError, import_panel

bp = facilitator_blueprint("studies", __name__, "")

MAX_PANEL_UPLOAD = 2 * 1024 * 1024


def get_study_or_404(slug: str) -> Study:
    """The study with ``slug`` if the current facilitator is on its committee, else 404."""
    study = db.session.scalar(
        sa.select(Study)
        .join(StudyMembership)
        .where(Study.slug == slug, StudyMembership.facilitator_id == current_user.id)
    )
    if study is None:
        abort(404)
    return study


@bp.route("/")
def index():
    studies = db.session.scalars(
        sa.select(Study)
        .join(StudyMembership)
        .where(StudyMembership.facilitator_id == current_user.id)
        .order_by(Study.created_at.desc())
    ).all()
    return render_template("studies/index.html", studies=studies)


@bp.route("/studies/<slug>/")
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
    mail = dict(db.session.execute(
        sa.select(OutboxMessage.status, sa.func.count())
        .where(OutboxMessage.study_id == study.id).group_by(OutboxMessage.status)).all())
    from ..exports.data import load
    from ..exports.flow import BOX_WIDTH, LINE_HEIGHT, flow_text, item_flow

    boxes, height = item_flow(load(study)) if current is not None else ([], 0)
    return render_template("studies/detail.html", study=study, form=EmptyForm(),
                           current=current, progress=progress,
                           mail={k.value: v for k, v in mail.items()},
                           item_flow={"boxes": boxes, "height": height, "width": BOX_WIDTH,
                                      "line": LINE_HEIGHT, "text": flow_text(boxes)})


@bp.route("/studies/<slug>/panel", methods=["GET", "POST"])
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
                added = import_panel(study, data, current_user._get_current_object())
            except PanelImportError as exc:
                db.session.rollback()
                errors = [str(e) for e in exc.errors]
            except DomainError as exc:
                db.session.rollback()
                errors = [str(exc)]
            else:
                db.session.commit()
                flash(f"{len(added)} panellists were added.", "info")
                return redirect(url_for("studies.panel", slug=study.slug))
    panellists = db.session.scalars(
        sa.select(Panellist).where(Panellist.study_id == study.id).order_by(Panellist.id)
    ).all()
    status = 400 if errors or form.errors else 200
    return render_template("studies/panel.html", study=study, form=form, errors=errors,
                           panellists=panellists), status
