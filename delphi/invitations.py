"""A panellist's personal links to the open round: revoke them, or send a new one.

Shared by the rounds (the progress page's "send a new link", a withdrawal) and the panel
(fixing a bounced address re-sends the invitation), so it belongs to neither. Use cases:
they flush and never commit; the caller commits once.
"""

from __future__ import annotations

import sqlalchemy as sa

from . import audit, mail
from .extensions import db
from .models import DomainError, Invitation, Panellist, RoundState, Study, utcnow


def revoke_links(invitation: Invitation, actor: audit.Actor) -> None:
    """Make every link of an invitation stop working."""
    now = utcnow()
    for token in invitation.tokens:
        if token.revoked_at is None:
            token.revoked_at = now
    invitation.revoked_at = now
    db.session.flush()
    audit.record(actor, "invitation.revoked", invitation.round.study,
                 round=invitation.round.number, panellist=invitation.panellist.pseudonym)


def reissue_link(invitation: Invitation, actor: audit.Actor) -> None:
    """Revoke the old links and email the panellist a new one."""
    rnd = invitation.round
    if rnd.state is not RoundState.OPEN:
        raise DomainError("invitation.round_not_open", "round {number} is not open",
                          number=rnd.number)
    if invitation.panellist.withdrawn_at is not None:
        raise DomainError("panellist.withdrawn", "{pseudonym} is withdrawn from the study; "
                          "reinstate them first to send a new link",
                          pseudonym=invitation.panellist.pseudonym)
    if invitation.panellist.erased_at is not None:
        raise DomainError("panellist.erased", "{pseudonym}'s personal data was erased; "
                          "they cannot be sent a link", pseudonym=invitation.panellist.pseudonym)
    revoke_links(invitation, actor)
    invitation.revoked_at = None
    now = utcnow()
    mail.queue("invitation", invitation.panellist, rnd.study,
               f"invitation:{rnd.id}:{invitation.panellist_id}:reissue:{now.timestamp()}",
               invitation)
    db.session.flush()
    audit.record(actor, "invitation.reissued", rnd.study, round=rnd.number,
                 panellist=invitation.panellist.pseudonym)


def open_invitation(study: Study, panellist: Panellist) -> Invitation:
    """The panellist's invitation to the open round, or a DomainError saying why there is none."""
    rnd = study.running_round
    if rnd is None:
        raise DomainError("invitation.no_open_round",
                          "no round is open, so there is no link to send or revoke")
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.round_id == rnd.id,
                                    Invitation.panellist_id == panellist.id))
    if invitation is None:
        raise DomainError("invitation.not_invited", "{pseudonym} was not invited to round {number} "
                          "(added to the panel after its launch, or withdrawn then), so has no "
                          "link to it; they are invited to the next round unless withdrawn",
                          pseudonym=panellist.pseudonym, number=rnd.number)
    return invitation


def reissue_for(study: Study, panellist: Panellist, actor: audit.Actor) -> None:
    """Send a panellist a new link to the open round, or say why there is none to send."""
    if panellist.withdrawn_at is not None:
        raise DomainError("panellist.withdrawn", "{pseudonym} is withdrawn from the study; "
                          "reinstate them first to send a new link",
                          pseudonym=panellist.pseudonym)
    reissue_link(open_invitation(study, panellist), actor)
