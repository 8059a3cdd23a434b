"""Use cases of a study's team: they flush and never commit; the caller commits once."""

from __future__ import annotations

import sqlalchemy as sa

from .. import audit
from ..auth.links import INVITATION_LIFETIME
from ..auth.operations import create_facilitator, find_facilitator
from ..extensions import db
from ..mail import address_problem, normalise_email, queue_account_message, shown_address
from ..models import DomainError, Facilitator, Study, StudyMembership, TeamInvitation, utcnow
from ..roles import ROLE_VALUES, Role


def _role(value: str) -> Role:
    if value not in ROLE_VALUES:
        raise DomainError("team.unknown_role", "{role!r} is not a role; choose one of {roles}.",
                          role=value[:40], roles=", ".join(ROLE_VALUES))
    return Role(value)


def invite(study: Study, email: str, role: str, actor: Facilitator) -> TeamInvitation:
    """Invite ``email`` to the team with ``role``: an invitation (7 days, good once) and
    its email in the outbox. An open invitation to the same address is replaced."""
    email = normalise_email(email)
    problem = address_problem(email)
    if problem is not None:
        raise DomainError("team.bad_email", "{address!r} is not a valid email address: {problem}",
                          address=shown_address(email), problem=problem)
    new_role = _role(role)
    existing = find_facilitator(email)
    if existing is not None and existing.can_access(study):
        raise DomainError("team.already_member", "{email} is already on the team of this study.",
                          email=email)
    for old in open_invitations(study):
        if old.email == email:
            old.cancelled_at = utcnow()
            old.token_hash = None
    invitation = TeamInvitation(study_id=study.id, email=email, role=new_role.value,
                                invited_by_id=actor.id,
                                expires_at=utcnow() + INVITATION_LIFETIME)
    db.session.add(invitation)
    db.session.flush()
    queue_account_message("team_invitation", email, f"team-invitation:{invitation.id}",
                          team_invitation_id=invitation.id)
    audit.record(actor, "team.invited", study, email=email, role=new_role.value,
                 invitation=invitation.id)
    return invitation


def open_invitations(study: Study) -> list[TeamInvitation]:
    return [i for i in db.session.scalars(
        sa.select(TeamInvitation).where(TeamInvitation.study_id == study.id,
                                        TeamInvitation.accepted_at.is_(None),
                                        TeamInvitation.cancelled_at.is_(None))
        .order_by(TeamInvitation.id)).all() if i.is_open]


def cancel_invitation(invitation: TeamInvitation, actor: Facilitator) -> None:
    if not invitation.is_open:
        raise DomainError("team.invitation_not_open",
                          "The invitation to {email} was used, cancelled or has expired.",
                          email=invitation.email)
    invitation.cancelled_at = utcnow()
    invitation.token_hash = None
    audit.record(actor, "team.invitation_cancelled", invitation.study,
                 email=invitation.email, role=invitation.role)


def _owners(study: Study) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(StudyMembership).where(
        StudyMembership.study_id == study.id, StudyMembership.role == Role.OWNER.value)) or 0


def _keep_an_owner(study: Study, seat: StudyMembership) -> None:
    if seat.role == Role.OWNER.value and _owners(study) <= 1:
        raise DomainError("team.last_owner",
                          "{email} is the study's only owner: make another member an owner "
                          "first.", email=seat.facilitator.email)


def change_role(study: Study, seat: StudyMembership, role: str, actor: Facilitator) -> None:
    new_role = _role(role)
    if seat.role == new_role.value:
        return
    if new_role is not Role.OWNER:
        _keep_an_owner(study, seat)
    before = seat.role
    seat.role = new_role.value
    db.session.flush()
    audit.record(actor, "team.role_changed", study, email=seat.facilitator.email,
                 before=before, after=new_role.value)


def remove_member(study: Study, seat: StudyMembership, actor: Facilitator) -> None:
    """Take a member off the team (themselves: they leave); never the last owner."""
    _keep_an_owner(study, seat)
    email, role = seat.facilitator.email, seat.role
    db.session.delete(seat)
    db.session.flush()
    db.session.expire(seat.facilitator, ["memberships"])
    audit.record(actor, "team.left" if seat.facilitator_id == actor.id else "team.removed",
                 study, email=email, before=role, after=None)


def accept(invitation: TeamInvitation, facilitator: Facilitator) -> StudyMembership:
    """The facilitator joins the team with the invitation's role; the link is used up."""
    if not invitation.is_open:
        raise DomainError("team.invitation_closed",
                          "This invitation was used, cancelled or has expired.")
    if facilitator.email != invitation.email:
        raise DomainError("team.wrong_account",
                          "This invitation is for {email}; log in with that account.",
                          email=invitation.email)
    study = invitation.study
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = facilitator.id
    invitation.token_hash = None
    if facilitator.can_access(study):
        raise DomainError("team.already_member", "{email} is already on the team of this study.",
                          email=facilitator.email)
    seat = StudyMembership(study=study, facilitator=facilitator, role=invitation.role)
    db.session.add(seat)
    db.session.flush()
    audit.record(facilitator, "team.joined", study, email=facilitator.email,
                 role=invitation.role, invitation=invitation.id)
    return seat


def accept_with_new_account(invitation: TeamInvitation, name: str,
                            password: str) -> Facilitator:
    """Create the invited person's account (their address, their password) and join."""
    if find_facilitator(invitation.email) is not None:
        raise DomainError("team.account_exists",
                          "An account with {email} exists already: log in to accept.",
                          email=invitation.email)
    facilitator = create_facilitator(invitation.email, password, name,
                                     actor=f"invitation:{invitation.id}")
    accept(invitation, facilitator)
    return facilitator
