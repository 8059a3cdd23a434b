"""The team page of a study (owners manage it) and the page that accepts an invitation."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_user

from ..auth.links import find_team_invitation
from ..auth.operations import find_facilitator
from ..console import (
    EmptyForm,
    actor,
    can,
    facilitator_blueprint,
    field_text,
    get_study_or_404,
    requires,
    run_use_case,
)
from ..declarations import operations as declarations
from ..declarations.forms import DeclarationForm
from ..extensions import db
from ..models import DomainError, StudyMembership, TeamInvitation
from ..roles import Permission, Role
from ..security import start_fresh_session
from ..uow import unit_of_work
from . import operations as ops
from .forms import InviteForm, NewAccountForm, RoleForm

bp = facilitator_blueprint("team", __name__, "/studies/<slug>/team")
join_bp = Blueprint("join", __name__)


def _seat_or_404(study, member_id: int) -> StudyMembership:
    seat = db.session.get(StudyMembership, member_id)
    if seat is None or seat.study_id != study.id:
        abort(404)
    return seat


@bp.route("/")
@requires(Permission.VIEW_TEAM)
def index(slug: str):
    study = get_study_or_404(slug)
    seats = db.session.scalars(
        sa.select(StudyMembership).where(StudyMembership.study_id == study.id)
        .order_by(StudyMembership.created_at, StudyMembership.id)).all()
    invitations = ops.open_invitations(study) if can(Permission.MANAGE_TEAM) else []
    declared = {f.id: d for f, d in declarations.organisers(study)}
    own = DeclarationForm(formdata=None).fill(declared.get(current_user.id))
    return render_template("team/index.html", study=study, seats=seats, roles=list(Role),
                           invitations=invitations, invite=InviteForm(), form=EmptyForm(),
                           declared=declared, declaration=own)


@bp.route("/declaration", methods=["POST"])
@requires(Permission.VIEW_TEAM)
def declare(slug: str):
    """The member's own declaration of interests for this study (ACCORD O2)."""
    study = get_study_or_404(slug)
    form = DeclarationForm()
    return run_use_case(lambda: declarations.declare_as_member(
                            study, actor(), form.has_conflicts, form.details.data or ""),
                        "Your declaration of interests was saved.",
                        url_for("team.index", slug=slug), form=form,
                        failure="Your declaration was not saved: ")


@bp.route("/invite", methods=["POST"])
@requires(Permission.MANAGE_TEAM)
def invite(slug: str):
    study = get_study_or_404(slug)
    form = InviteForm()
    return run_use_case(lambda: ops.invite(study, field_text(form.email), form.role.data, actor()),
                        f"An invitation is on its way to {(form.email.data or '').strip()}.",
                        url_for("team.index", slug=slug), form=form,
                        failure="The invitation was not sent: ")


@bp.route("/members/<int:member_id>/role", methods=["POST"])
@requires(Permission.MANAGE_TEAM)
def change_role(slug: str, member_id: int):
    study = get_study_or_404(slug)
    seat = _seat_or_404(study, member_id)
    form = RoleForm()
    return run_use_case(lambda: ops.change_role(study, seat, form.role.data, actor()),
                        f"{seat.facilitator.email} is now {form.role.data}.",
                        url_for("team.index", slug=slug), form=form,
                        failure="The role was not changed: ")


@bp.route("/members/<int:member_id>/remove", methods=["POST"])
@requires(Permission.MANAGE_TEAM)
def remove(slug: str, member_id: int):
    study = get_study_or_404(slug)
    seat = _seat_or_404(study, member_id)
    email = seat.facilitator.email
    return run_use_case(lambda: ops.remove_member(study, seat, actor()),
                        f"{email} is no longer on the team.", url_for("team.index", slug=slug),
                        failure="Nobody was removed: ")


@bp.route("/leave", methods=["POST"])
@requires(Permission.VIEW_TEAM)
def leave(slug: str):
    study = get_study_or_404(slug)
    seat = db.session.scalar(sa.select(StudyMembership).where(
        StudyMembership.study_id == study.id, StudyMembership.facilitator_id == current_user.id))
    if seat is None:  # taken off the team since this request's study was loaded
        abort(404)
    response = run_use_case(lambda: ops.remove_member(study, seat, actor()),
                            f"You have left the team of {study.title}.",
                            url_for("studies.index"), failure="You are still on the team: ")
    if not current_user.can_access(study):
        return response
    return redirect(url_for("team.index", slug=slug))


@bp.route("/invitations/<int:invitation_id>/cancel", methods=["POST"])
@requires(Permission.MANAGE_TEAM)
def cancel(slug: str, invitation_id: int):
    study = get_study_or_404(slug)
    invitation = db.session.get(TeamInvitation, invitation_id)
    if invitation is None or invitation.study_id != study.id:
        abort(404)
    return run_use_case(lambda: ops.cancel_invitation(invitation, actor()),
                        f"The invitation to {invitation.email} is cancelled.",
                        url_for("team.index", slug=slug), failure="")


@join_bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    """Accept an invitation: with a new account (a password chosen here) or, for an
    existing account, once logged in as it."""
    invitation = find_team_invitation(token)
    if invitation is None:
        return render_template("team/join_invalid.html"), 404
    account = find_facilitator(invitation.email)
    form = NewAccountForm() if account is None else EmptyForm()
    logged_in_as_it = (current_user.is_authenticated and account is not None
                       and current_user.id == account.id)
    status = 200
    if form.is_submitted():
        if not form.validate():
            if "csrf_token" in form.errors:
                abort(400)
            status = 400
        elif account is None or logged_in_as_it:
            try:
                with unit_of_work():
                    if account is None:
                        assert isinstance(form, NewAccountForm)  # made for no account above
                        who = ops.accept_with_new_account(invitation, form.name.data or "",
                                                          field_text(form.password))
                        who.start_session()
                    else:
                        who = current_user._get_current_object()
                        ops.accept(invitation, who)
            except DomainError as exc:
                flash(str(exc), "error")
                status = 400
            else:
                if account is None:
                    start_fresh_session()
                    login_user(who)
                flash(f"Welcome to the team of {invitation.study.title}.", "info")
                return redirect(url_for("studies.detail", slug=invitation.study.slug))
    return render_template("team/join.html", invitation=invitation, role=Role(invitation.role),
                           account=account, logged_in_as_it=logged_in_as_it, form=form,
                           token=token), status
