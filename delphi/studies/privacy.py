"""Personal data use cases: one panellist's data, erasure, archive and retention.

They flush and never commit; the caller commits once.  What is stored where, and for
how long, is listed in docs/personal-data.md: keep it in step with this module.

Erasure keeps the panellist's row as a pseudonym tombstone (``erased_at`` set, name and
attributes cleared, the email replaced by a ``.invalid`` placeholder, links revoked,
the outbox rows' address cleared), so invitation counts stay what they were.  What
happens to the answers is the study protocol's choice (``Study.erasure``):

- ``keep-pseudonymised``: ratings, comments and suggestions stay under the pseudonym;
  the stored results do not change.
- ``delete-answers``: their answer sheets, ratings, comments and suggestions are
  deleted and the stored results of every closed round are computed again without
  them (the consensus settings are locked, so only the erased answers make a
  difference).  The report and every export read those stored results, so they agree
  with the raw data; the report's list of changes after the settings were locked says
  that an erasure happened and which rounds were recomputed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .. import audit
from ..extensions import affected_rows, db
from ..models import (
    AccessToken,
    AuditEvent,
    ConflictDeclaration,
    DomainError,
    Facilitator,
    Invitation,
    Item,
    MailStatus,
    OutboxMessage,
    Panellist,
    Rating,
    Response,
    Round,
    RoundState,
    Study,
    StudyState,
    Suggestion,
    utcnow,
)

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never delivered anywhere
EXPORT_FORMAT = "delphi-panellist-data/1"


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def find_panellist(study: Study, ident: str) -> Panellist | None:
    """A panellist of ``study`` by pseudonym (``P0001``) or, not yet erased, by email."""
    ident = ident.strip()
    if not ident:
        return None
    if "@" in ident:
        return db.session.scalar(sa.select(Panellist).where(
            Panellist.study_id == study.id, Panellist.email == ident.lower(),
            Panellist.erased_at.is_(None)))
    return db.session.scalar(sa.select(Panellist).where(
        Panellist.study_id == study.id, Panellist.pseudonym == ident.upper()))


def _item_label(item: Item | None) -> str | None:
    return item.label if item is not None else None


def panellist_data(panellist: Panellist, generated_at: datetime | None = None) -> dict[str, Any]:
    """Everything held about one panellist, as one JSON-ready document (GDPR art. 15).

    ``consent`` lists the panellist's answers to each version of the consent statement
    (a ``consent_at`` set outside the platform, before records existed, shows as one).
    """
    study = panellist.study
    rounds = {r.id: r.number for r in study.rounds}
    items = {i.id: i for i in study.items}
    invitations = db.session.scalars(
        sa.select(Invitation).where(Invitation.panellist_id == panellist.id)
        .order_by(Invitation.id)).all()
    responses = db.session.scalars(
        sa.select(Response).where(Response.panellist_id == panellist.id)
        .order_by(Response.id)).all()
    ratings = db.session.scalars(
        sa.select(Rating).where(Rating.panellist_id == panellist.id)
        .order_by(Rating.round_id, Rating.item_id)).all()
    suggestions = db.session.scalars(
        sa.select(Suggestion).where(Suggestion.panellist_id == panellist.id)
        .order_by(Suggestion.id)).all()
    emails = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.panellist_id == panellist.id)
        .order_by(OutboxMessage.id)).all()
    by_response: dict[int, list[Rating]] = {}
    for rating in ratings:
        by_response.setdefault(rating.response_id, []).append(rating)
    return {
        "format": EXPORT_FORMAT,
        "generated_at": _iso(generated_at or utcnow()),
        "study": {"slug": study.slug, "title": study.title,
                  "erasure_policy": study.erasure},
        "identity": {
            "pseudonym": panellist.pseudonym,
            "name": panellist.name,
            "email": None if panellist.is_erased else panellist.email,
            "group": panellist.group.name,
            "attributes": dict(panellist.attributes or {}),
            "language": panellist.language or None,
            "active": panellist.is_active,
            "added_at": _iso(panellist.created_at),
            "erased_at": _iso(panellist.erased_at),
        },
        "consent": [{"decision": r.decision, "version": r.document.version,
                     "at": _iso(r.decided_at)} for r in panellist.consent_records]
        or ([{"decision": "consented", "version": None, "at": _iso(panellist.consent_at)}]
            if panellist.consent_at else []),
        "withdrawal": {"by": panellist.withdrawal_kind, "at": _iso(panellist.withdrawn_at)}
        if panellist.withdrawn_at else None,
        "declaration": _declaration(panellist),
        "invitations": [{
            "round": rounds.get(inv.round_id),
            "invited_at": _iso(inv.created_at),
            "first_opened_at": _iso(inv.first_opened_at),
            "revoked_at": _iso(inv.revoked_at),
            # Only a hash of each link is kept, never the link itself.
            "links": [{"created_at": _iso(t.created_at), "revoked_at": _iso(t.revoked_at)}
                      for t in sorted(inv.tokens, key=lambda t: t.id)],
        } for inv in invitations],
        "answers": [{
            "round": rounds.get(resp.round_id),
            "state": resp.state.value,
            "started_at": _iso(resp.created_at),
            "updated_at": _iso(resp.updated_at),
            "submitted_at": _iso(resp.submitted_at),
            "ratings": [{"item": _item_label(items.get(r.item_id)),
                         "value": "UTS" if r.is_uts else r.value}
                        for r in by_response.get(resp.id, [])],
        } for resp in responses],
        "comments": [{"round": rounds.get(r.round_id), "item": _item_label(items.get(r.item_id)),
                      "comment": r.comment, "change_reason": r.change_reason,
                      "updated_at": _iso(r.updated_at)}
                     for r in ratings if r.comment or r.change_reason],
        "suggestions": [{"round": rounds.get(s.round_id), "item": _item_label(s.item),
                         "text": s.text, "created_at": _iso(s.created_at)}
                        for s in suggestions],
        "emails": [{"kind": m.kind, "to": m.to_address or None, "status": m.status.value,
                    "queued_at": _iso(m.created_at), "sent_at": _iso(m.sent_at),
                    "attempts": m.attempts} for m in emails],
        "audit": _audit_about(panellist),
    }


def _declaration(panellist: Panellist) -> dict[str, Any] | None:
    """Their declaration of interests, if they made one."""
    found = db.session.scalar(sa.select(ConflictDeclaration).where(
        ConflictDeclaration.panellist_id == panellist.id))
    if found is None:
        return None
    return {"conflicts": found.has_conflicts, "details": found.details,
            "declared_at": _iso(found.declared_at)}


def _audit_about(panellist: Panellist) -> list[dict[str, Any]]:
    """The study's audit events that name this panellist (by pseudonym, never by email)."""
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.study_id == panellist.study_id)
        .order_by(AuditEvent.created_at, AuditEvent.id)).all()
    return [{"at": _iso(e.created_at), "action": e.action, "detail": e.detail}
            for e in events if (e.detail or {}).get("panellist") == panellist.pseudonym]


def export_panellist(panellist: Panellist, actor: audit.Actor) -> dict[str, Any]:
    """The panellist's data, with an audit event saying who took a copy (not what)."""
    data = panellist_data(panellist)
    audit.record(actor, "panellist.exported", panellist.study, panellist=panellist.pseudonym)
    return data


def erase_panellist(panellist: Panellist, actor: audit.Actor) -> dict[str, Any]:
    """Erase a panellist's personal data for good (GDPR art. 17); see the module's text.

    Returns what was done, as recorded in the audit log (no erased data in it).
    """
    if panellist.is_erased:
        raise DomainError("panellist.erased_already", "{pseudonym}'s personal data was erased "
                          "already", pseudonym=panellist.pseudonym)
    study = panellist.study
    now = utcnow()
    panellist.name = ""
    panellist.email = f"{panellist.pseudonym.lower()}@{ERASED_DOMAIN}"
    panellist.attributes = {}
    panellist.is_active = False
    panellist.erased_at = now
    invitation_ids = list(db.session.scalars(
        sa.select(Invitation.id).where(Invitation.panellist_id == panellist.id)))
    if invitation_ids:
        db.session.execute(
            sa.update(AccessToken).where(AccessToken.invitation_id.in_(invitation_ids),
                                         AccessToken.revoked_at.is_(None))
            .values(revoked_at=now).execution_options(synchronize_session=False))
        db.session.execute(
            sa.update(Invitation).where(Invitation.id.in_(invitation_ids),
                                        Invitation.revoked_at.is_(None))
            .values(revoked_at=now).execution_options(synchronize_session=False))
    # The outbox keeps that a message went (the report counts reminders from the
    # audit log, not from here), but no address: an unsent one will never go.
    cancelled = affected_rows(
        sa.update(OutboxMessage)
        .where(OutboxMessage.panellist_id == panellist.id,
               OutboxMessage.status.in_([MailStatus.PENDING, MailStatus.SENDING]))
        .values(status=MailStatus.FAILED, lease_until=None, leased_by=None)
        .execution_options(synchronize_session=False))
    db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.panellist_id == panellist.id)
        .values(to_address="", context={}, last_error="")
        .execution_options(synchronize_session=False))
    # Whether they declared a conflict of interest stays (the report counts it); what
    # they wrote goes.
    db.session.execute(
        sa.update(ConflictDeclaration).where(ConflictDeclaration.panellist_id == panellist.id)
        .values(details="").execution_options(synchronize_session=False))
    detail: dict[str, Any] = {"panellist": panellist.pseudonym, "policy": study.erasure,
                              "emails_cancelled": cancelled}
    if study.erasure == "delete-answers":
        detail.update(delete_answers(study, panellist))
    _scrub_audit(panellist)
    db.session.flush()
    db.session.expire_all()  # the bulk updates above bypassed the loaded objects
    audit.record(actor, "panellist.erased", study, **detail)
    return detail


def _scrub_audit(panellist: Panellist) -> None:
    """Blank the name and address in the audit events about the panellist (an edit of their
    details records both before and after): the events stay, the personal data goes."""
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.study_id == panellist.study_id)).all()
    for event in events:
        detail = event.detail or {}
        if detail.get("panellist") == panellist.pseudonym:
            scrubbed = audit.without_personal_data(detail)
            if scrubbed != detail:
                event.detail = scrubbed


def delete_answers(study: Study, panellist: Panellist) -> dict[str, Any]:
    """Delete the panellist's answers and recompute the stored results they were part of
    (erasure, and withdrawal under the same protocol setting)."""
    from ..results.tables import store_results

    answered = set(db.session.scalars(
        sa.select(Response.round_id).where(Response.panellist_id == panellist.id)))
    answered |= set(db.session.scalars(
        sa.select(Suggestion.round_id).where(Suggestion.panellist_id == panellist.id)))
    counts = {}
    for name, model in (("ratings_deleted", Rating), ("suggestions_deleted", Suggestion),
                        ("answer_sheets_deleted", Response),
                        ("declarations_deleted", ConflictDeclaration)):
        counts[name] = affected_rows(
            sa.delete(model).where(model.panellist_id == panellist.id)
            .execution_options(synchronize_session=False))
    db.session.flush()
    db.session.expire_all()
    recomputed = []
    for rnd in db.session.scalars(sa.select(Round).where(
            Round.study_id == study.id, Round.state == RoundState.CLOSED)
            .order_by(Round.number)):
        # Every stored result holds the rounds before it: all from the first answered.
        if answered and rnd.number >= min(_numbers(study, answered)):
            store_results(study, rnd)
            recomputed.append(rnd.number)
    return {**counts, "rounds_recomputed": recomputed}


def _numbers(study: Study, round_ids: set[int]) -> list[int]:
    return list(db.session.scalars(sa.select(Round.number).where(Round.id.in_(round_ids))))


def archive_study(study: Study, actor: audit.Actor) -> None:
    """Archive a finished study: read-only, deleted by ``purge-expired`` after its
    retention date (``retention_days`` after it finished)."""
    if study.state is not StudyState.FINISHED:
        raise DomainError("study.not_finished", "only a finished study can be archived; {slug} is "
                          "{state}", slug=study.slug, state=study.state.value)
    study.move_to(StudyState.ARCHIVED)
    study.archived_at = utcnow()
    if study.finished_at is None:  # finished before the date was kept
        study.finished_at = study.archived_at
    db.session.flush()
    until = study.retention_until
    audit.record(actor, "study.archived", study,
                 retention_until=_iso(until) if until else None)


def delete_study(study: Study, actor: audit.Actor) -> None:
    """Delete an archived study and everything in it, audited at site level.

    Deleted with plain DELETE statements, children first: the panel before the study
    (a panellist's group is RESTRICT), the rest by the foreign keys' ON DELETE CASCADE.
    """
    if study.state is not StudyState.ARCHIVED:
        raise DomainError("study.not_archived", "only an archived study can be deleted; {slug} is "
                          "{state}", slug=study.slug, state=study.state.value)
    who = audit.actor_label(actor)  # read while every object still loads
    slug, title, study_id = study.slug, study.title, study.id
    panellists = len(study.panellists)
    db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.study_id == study_id))
    db.session.execute(sa.delete(Panellist).where(Panellist.study_id == study_id))
    db.session.execute(sa.delete(Study).where(Study.id == study_id))
    db.session.expire_all()  # the rows above are gone: nothing may be read from them
    audit.record(who, "study.deleted", None, slug=slug, title=title, panellists=panellists)
    db.session.flush()


def expired_studies(now: datetime | None = None) -> list[Study]:
    """Archived studies whose retention date has passed."""
    now = now or utcnow()
    archived = db.session.scalars(sa.select(Study).where(
        Study.state == StudyState.ARCHIVED, Study.retention_days.is_not(None))
        .order_by(Study.id)).all()
    return [s for s in archived if s.retention_until is not None and s.retention_until <= now]


def check_actor(facilitator: Facilitator | None, email: str, study: Study | None) -> Facilitator:
    """The facilitator named by ``--as``: existing, enabled and on the study's committee."""
    if facilitator is None:
        raise DomainError("actor.unknown", "--as {email}: there is no facilitator with that email",
                          email=email)
    if not facilitator.is_enabled:
        raise DomainError("actor.disabled", "--as {email}: that facilitator account is disabled",
                          email=email)
    if study is not None and not facilitator.can_access(study):
        raise DomainError("actor.not_on_committee", "--as {email}: that facilitator is not on "
                          "the committee of {slug}", email=email, slug=study.slug)
    return facilitator
