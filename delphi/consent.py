"""Consent and withdrawal: the study's information sheet and consent statement (versioned),
a panellist's consent or refusal, and a panellist withdrawing from their own link.

They flush and never commit; the caller commits once.  What is stored is listed in
docs/personal-data.md.

While the study is a draft the sheet and statement are part of its definition (the
survey file's ``consent:``; the builder saves them like any setting).  Once round 1 is
launched an edit adds a new version, and a panellist who consented to an older one is
asked again on their next visit; every answer stays tied to the version it was given to.

Declining records "declined" and nothing else, and ends the panellist's participation
(``withdrawal_kind`` ``declined``: never invited again).  Withdrawing from the link
(``self``) does the same; what happens to the answers given so far is the study
protocol's choice, the one erasure follows (``Study.erasure``): kept under the
pseudonym, or deleted with the stored results recomputed without them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import audit
from .extensions import db
from .models import (
    ConflictDeclaration,
    ConsentDocument,
    ConsentRecord,
    DomainError,
    Panellist,
    Rating,
    Response,
    Study,
    Suggestion,
    utcnow,
)
from .surveys import check_consent_texts


def revise(study: Study, sheet: str, statement: str, actor: audit.Actor) -> ConsentDocument:
    """Add a new version of the information sheet and consent statement (after launch).

    Raises SurveyError (``consent.field: problem``) for bad text, DomainError when nothing
    changed or the study is closed; nothing is saved then.
    """
    if study.is_closed_for_good:
        raise DomainError("consent.study_closed", "The study is {state}; its information "
                          "sheet can no longer change.", state=study.state.value)
    sheet, statement = check_consent_texts(sheet, statement, required=True)
    current = study.consent_document
    if current is not None and (current.information_sheet, current.statement) == (sheet,
                                                                                 statement):
        raise DomainError("consent.unchanged", "Nothing was changed: the text is the same as "
                          "version {version}.", version=current.version)
    document = ConsentDocument(version=current.version + 1 if current else 1,
                               information_sheet=sheet, statement=statement)
    study.consent_documents.append(document)
    db.session.flush()
    audit.record(actor, "consent.revised", study,
                 before=_texts(current), after=_texts(document))
    return document


def _texts(document: ConsentDocument | None) -> dict[str, Any] | None:
    if document is None:
        return None
    return {"version": document.version, "information_sheet": document.information_sheet,
            "statement": document.statement}


def _actor(panellist: Panellist) -> str:
    return f"panellist:{panellist.pseudonym}"


def _check_can_answer(panellist: Panellist, document: ConsentDocument | None,
                      version: int) -> ConsentDocument:
    if panellist.withdrawn_at is not None or panellist.is_erased:
        raise DomainError("consent.withdrawn", "You are no longer on this study's panel.")
    if document is None:
        raise DomainError("consent.none", "This study asks for no consent on the platform.")
    if version != document.version:
        raise DomainError("consent.new_version", "The information sheet was updated while you "
                          "were reading it: please read version {version} below.",
                          version=document.version)
    return document


def give(panellist: Panellist, version: int, now: Any = None) -> ConsentRecord:
    """Record the panellist's consent to the version in force (the one they were shown)."""
    document = _check_can_answer(panellist, panellist.study.consent_document, version)
    now = now or utcnow()
    record = ConsentRecord(panellist=panellist, document=document, decision="consented",
                           decided_at=now)
    db.session.add(record)
    panellist.consent_at = now
    db.session.flush()
    audit.record(_actor(panellist), "consent.given", panellist.study,
                 panellist=panellist.pseudonym, version=document.version)
    return record


def decline(panellist: Panellist, version: int) -> dict[str, Any]:
    """Record "declined" and end the panellist's participation; nothing else is kept from
    the visit.  Declining a later version after answering is a withdrawal: the protocol
    decides what happens to the answers, as for ``withdraw``."""
    document = _check_can_answer(panellist, panellist.study.consent_document, version)
    now = utcnow()
    db.session.add(ConsentRecord(panellist=panellist, document=document, decision="declined",
                                 decided_at=now))
    panellist.consent_at = None
    db.session.flush()
    detail = _end(panellist, "declined", now)
    audit.record(_actor(panellist), "consent.declined", panellist.study,
                 panellist=panellist.pseudonym, version=document.version, **detail)
    return detail


def withdraw(panellist: Panellist) -> dict[str, Any]:
    """The panellist leaves the study from their own link; see the module's text."""
    if panellist.withdrawn_at is not None or panellist.is_erased:
        raise DomainError("consent.withdrawn", "You are no longer on this study's panel.")
    detail = _end(panellist, "self", utcnow())
    audit.record(_actor(panellist), "panellist.withdrew", panellist.study,
                 panellist=panellist.pseudonym, **detail)
    return detail


def _end(panellist: Panellist, kind: str, now: Any) -> dict[str, Any]:
    from .rounds.operations import withdraw_panellist
    from .studies.privacy import delete_answers

    study = panellist.study
    withdraw_panellist(study, panellist, "", _actor(panellist), now=now, kind=kind)
    detail: dict[str, Any] = {"policy": study.erasure}
    if study.erasure == "delete-answers" and has_answers(panellist):
        detail.update(delete_answers(study, panellist))
    return detail


def has_answers(panellist: Panellist) -> bool:
    """Whether anything the panellist answered is stored (answer sheets, suggestions or a
    declaration of interests)."""
    pid = panellist.id
    return any(db.session.scalar(sa.select(sa.exists().where(model.panellist_id == pid)))
               for model in (Response, Rating, Suggestion, ConflictDeclaration))
