"""Use cases of declarations; they flush and never commit, the caller commits once."""

from __future__ import annotations

import sqlalchemy as sa

from .. import audit
from ..extensions import db
from ..models import (
    MAX_DECLARATION,
    ConflictDeclaration,
    DomainError,
    Facilitator,
    Panellist,
    Study,
    utcnow,
)


def _details(has_conflicts: bool, details: str) -> str:
    """The text to store, or a DomainError saying what is wrong (nothing is saved then)."""
    from ..panel.answers import clean_text  # the voting page's rule for free text

    text, problem = clean_text(details or "", MAX_DECLARATION, "Your declaration")
    if problem:
        raise DomainError("declaration.bad_text", "{problem}.", problem=problem)
    if has_conflicts and not text:
        raise DomainError("declaration.details_required",
                          "You chose “I declare:”: write what you declare, or choose “I have "
                          "no potential conflicts of interest to declare”.")
    if not has_conflicts and text:
        raise DomainError("declaration.details_without_conflict",
                          "You chose “I have no potential conflicts of interest to declare” "
                          "but wrote a declaration: choose “I declare:”, or empty the text.")
    return text


def of_panellist(panellist: Panellist) -> ConflictDeclaration | None:
    return db.session.scalar(sa.select(ConflictDeclaration).where(
        ConflictDeclaration.study_id == panellist.study_id,
        ConflictDeclaration.panellist_id == panellist.id))


def of_member(study: Study, facilitator: Facilitator) -> ConflictDeclaration | None:
    return db.session.scalar(sa.select(ConflictDeclaration).where(
        ConflictDeclaration.study_id == study.id,
        ConflictDeclaration.facilitator_id == facilitator.id))


def needs_declaration(panellist: Panellist) -> bool:
    """Whether the panellist must declare before going on: the study asks, and they have
    not declared yet."""
    return panellist.study.asks_conflict_declarations and of_panellist(panellist) is None


def _store(declaration: ConflictDeclaration | None, has_conflicts: bool, details: str,
           **owner: int) -> ConflictDeclaration:
    text = _details(has_conflicts, details)
    if declaration is None:
        declaration = ConflictDeclaration(**owner)
        db.session.add(declaration)
    declaration.has_conflicts, declaration.details = has_conflicts, text
    declaration.declared_at = utcnow()
    db.session.flush()
    return declaration


def declare_as_panellist(panellist: Panellist, has_conflicts: bool,
                         details: str) -> ConflictDeclaration:
    """Record (or update) the panellist's declaration; the audit log says whether they
    declared, never what."""
    if panellist.withdrawn_at is not None or panellist.is_erased:
        raise DomainError("declaration.withdrawn", "You are no longer on this study's panel.")
    if not panellist.study.asks_conflict_declarations:
        raise DomainError("declaration.not_asked",
                          "This study asks for no declaration of interests on the platform.")
    declaration = _store(of_panellist(panellist), has_conflicts, details,
                         study_id=panellist.study_id, panellist_id=panellist.id)
    audit.record(f"panellist:{panellist.pseudonym}", "declaration.recorded", panellist.study,
                 panellist=panellist.pseudonym, conflicts=has_conflicts)
    return declaration


def declare_as_member(study: Study, facilitator: Facilitator, has_conflicts: bool,
                      details: str) -> ConflictDeclaration:
    """Record (or update) a team member's own declaration for this study."""
    if not facilitator.can_access(study):
        raise DomainError("declaration.not_member",
                          "Only a member of the study's team declares here.")
    declaration = _store(of_member(study, facilitator), has_conflicts, details,
                         study_id=study.id, facilitator_id=facilitator.id)
    audit.record(facilitator, "declaration.recorded", study, conflicts=has_conflicts)
    return declaration


def organisers(study: Study) -> list[tuple[Facilitator, ConflictDeclaration | None]]:
    """Each member of the study's team with their declaration (None: not recorded)."""
    seats = sorted(study.memberships, key=lambda m: (m.created_at, m.id))
    found = {d.facilitator_id: d for d in db.session.scalars(sa.select(ConflictDeclaration).where(
        ConflictDeclaration.study_id == study.id,
        ConflictDeclaration.facilitator_id.is_not(None)))}
    return [(m.facilitator, found.get(m.facilitator_id)) for m in seats]


def panel_counts(study: Study) -> tuple[int, int]:
    """(panellists who declared potential conflicts, panellists who answered)."""
    row = db.session.execute(sa.select(
        sa.func.count().filter(ConflictDeclaration.has_conflicts), sa.func.count())
        .where(ConflictDeclaration.study_id == study.id,
               ConflictDeclaration.panellist_id.is_not(None))).one()
    return int(row[0] or 0), int(row[1] or 0)
