"""Round use cases: they flush and never commit; the caller commits once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .. import audit, mail
from ..extensions import affected_rows, database_now, db
from ..invitations import revoke_links
from ..models import (
    DomainError,
    IllegalTransition,
    Invitation,
    ItemStatus,
    MailStatus,
    OutboxMessage,
    Panellist,
    Response,
    ResponseState,
    Round,
    RoundItem,
    RoundResult,
    RoundState,
    Study,
    StudyState,
    utcnow,
)
from ..results import tables
from ..results.blocks import store_round_blocks
from ..uow import unit_of_work


def open_round(study: Study) -> Round | None:
    """The study's open round, if any."""
    return study.running_round


def launch_round(study: Study, actor: audit.Actor, closes_at: datetime | None = None,
                 now: datetime | None = None, allow_suggestions: bool | None = None) -> Round:
    """Open the next round: freeze its items, lock the settings (round 1), invite the panel."""
    now = now or utcnow()
    # Two launches at once: the study's row lock makes the second wait for the first to
    # commit, then it reads the round the first opened and is told so (on SQLite the
    # write transaction already runs one writer at a time).
    db.session.execute(sa.select(Study.id).where(Study.id == study.id).with_for_update())
    db.session.expire(study, ["rounds", "state"])
    current = study.current_round
    if current is not None and current.state is not RoundState.CLOSED:
        raise DomainError("round.still_running", "round {number} was launched already and is "
                          "still {state}; close it first", number=current.number,
                          state=current.state.value)
    if study.is_closed_for_good:
        raise DomainError("round.study_closed", "the study is {state}; no more rounds can be "
                          "launched", state=study.state.value)
    items = [i for i in study.items if i.status is ItemStatus.ACTIVE]
    panellists = [p for p in study.panellists if p.is_active and p.withdrawn_at is None]
    withdrawn = len(study.panellists) - len(panellists)
    if not items:
        raise DomainError("round.no_statements", "the study has no active statements to rate")
    if not panellists:
        if withdrawn:
            raise DomainError("round.all_withdrawn", "all {count} panellists are withdrawn: "
                              "reinstate or add panellists first", count=withdrawn)
        raise DomainError("round.empty_panel", "the panel is empty: import the panellists first")
    number = 1 if current is None else current.number + 1
    rnd = Round(study=study, number=number,
                allow_suggestions=(number == 1 or study.suggestions_every_round)
                if allow_suggestions is None else allow_suggestions,
                ask_reason_on_band_change=study.ask_reason_on_band_change)
    db.session.add(rnd)
    try:
        rnd.open(now, closes_at)
    except IllegalTransition:
        raise
    except Exception as exc:
        raise DomainError("round.cannot_open", "{reason}", reason=str(exc)) from None
    for position, item in enumerate(items):
        db.session.add(RoundItem(round=rnd, item=item, position=position))
    if number == 1:
        study.consensus.lock(now)
        study.move_to(StudyState.RUNNING)
    db.session.flush()
    # What every panellist sees of the statements (and of round number - 1's answers) is
    # rendered now, once, and stored: a voting page only adds what is the panellist's own.
    store_round_blocks(rnd)
    for panellist in panellists:
        invitation = Invitation(round=rnd, panellist=panellist)
        db.session.add(invitation)
        db.session.flush()
        mail.queue("invitation", panellist, study, f"invitation:{rnd.id}:{panellist.id}",
                   invitation)
    db.session.flush()
    skipped = {"withdrawn_not_invited": withdrawn} if withdrawn else {}
    audit.record(actor, "round.launched", study, round=number, items=len(items),
                 invitations=len(panellists),
                 closes_at=closes_at.isoformat() if closes_at else None, **skipped)
    return rnd


def launch_message(rnd: Round) -> str:
    """What the console says after a launch, with the withdrawn panellists left out."""
    skipped = sum(1 for p in rnd.study.panellists if p.withdrawn_at is not None)
    text = f"Round {rnd.number} is open; the invitations are in the outbox."
    if skipped:
        text += (f" {skipped} withdrawn panellist{' was' if skipped == 1 else 's were'} "
                 "not invited.")
    return text


def close_round(study: Study, actor: audit.Actor, now: datetime | None = None) -> Round:
    """Stop accepting votes, atomically, then compute and store the round's statistics.

    The recorded closing time is taken once the round's row is locked, by the database's
    clock (as saves take theirs): every answer accepted before the close carries an
    earlier time.  ``now`` overrides it (the deadline job passes the time it checked the
    deadlines against, which is after every accepted answer too).
    """
    rnd = open_round(study)
    if rnd is None:
        raise DomainError("round.none_open", "no round is open")
    # On PostgreSQL the lock waits for saves holding a share lock on the round to commit;
    # saves that come later wait for the close, then find the round closed.  SQLite
    # ignores the clause: its writers are serialised by the database lock.
    db.session.execute(sa.select(Round.id).where(Round.id == rnd.id).with_for_update())
    now = now or database_now()
    # A conditional update: of two concurrent closes only one changes the row.
    closed = affected_rows(
        sa.update(Round).where(Round.id == rnd.id, Round.state == RoundState.OPEN)
        .values(state=RoundState.CLOSED, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if closed != 1:
        raise DomainError("round.closed_already", "round {number} was closed already",
                          number=rnd.number)
    db.session.refresh(rnd)
    tables.store_results(study, rnd)
    responded = sum(1 for _ in _submitted(rnd))
    audit.record(actor, "round.closed", study, round=rnd.number, responded=responded)
    from .. import webhooks

    webhooks.emit(study, "round.closed", {"round": rnd.number, "responded": responded})
    return rnd


def _submitted(rnd: Round) -> Iterator[int]:
    yield from db.session.scalars(
        sa.select(Response.panellist_id).where(Response.round_id == rnd.id,
                                               Response.state == ResponseState.SUBMITTED)
    )


def close_due_rounds(now: datetime | None = None) -> list[tuple[Study, Round]]:
    """Close every open round whose deadline has passed (skipping any closed meanwhile)."""
    now = now or utcnow()
    closed = []
    for round_id in due_round_ids(now):
        rnd = close_due_round(round_id, now)
        if rnd is not None:
            closed.append((rnd.study, rnd))
    return closed


def due_round_ids(now: datetime) -> list[int]:
    """The open rounds whose deadline has passed."""
    return list(db.session.scalars(
        sa.select(Round.id).where(Round.state == RoundState.OPEN, Round.closes_at <= now)
        .order_by(Round.id)
    ))


def close_due_round(round_id: int, now: datetime) -> Round | None:
    """Close a round at its deadline; None when someone else closed it first (two
    workers, or a facilitator, at the same moment): that is not an error."""
    rnd = db.session.get(Round, round_id)
    if rnd is None or rnd.state is not RoundState.OPEN or open_round(rnd.study) is not rnd:
        return None
    try:
        return close_round(rnd.study, "system:deadline", now)
    except DomainError:
        # The conditional update found the round closed: the other closer won.  Nothing
        # was written for this round.
        return None


def remind(study: Study, actor: audit.Actor, now: datetime | None = None) -> int:
    """Queue a reminder to every invited panellist of the open round who has not submitted."""
    rnd = open_round(study)
    if rnd is None:
        raise DomainError("round.none_open", "no round is open")
    now = now or utcnow()
    count = 0
    batch = now.strftime("%Y%m%dT%H%M%S")
    for invitation in _waiting_invitations(rnd):
        queued = mail.queue("reminder", invitation.panellist, study,
                            f"reminder:{rnd.id}:{invitation.panellist_id}:{batch}", invitation)
        count += queued is not None
    db.session.flush()
    audit.record(actor, "round.reminded", study, round=rnd.number, reminders=count)
    return count


def find_invitation(rnd: Round, panellist: Panellist) -> Invitation:
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.round_id == rnd.id,
                                    Invitation.panellist_id == panellist.id)
    )
    if invitation is None:
        raise DomainError("invitation.missing", "{pseudonym} has no invitation to round {number}",
                          pseudonym=panellist.pseudonym, number=rnd.number)
    return invitation


def _standing(panellist: Panellist) -> dict[str, Any]:
    return {"withdrawn": panellist.withdrawn_at is not None,
            "withdrawn_at": panellist.withdrawn_at.isoformat() if panellist.withdrawn_at
            else None, "reason": panellist.withdrawal_reason or None,
            "by": panellist.withdrawal_kind}


def withdraw_panellist(study: Study, panellist: Panellist, reason: str, actor: audit.Actor,
                       now: datetime | None = None, kind: str = "team") -> Panellist:
    """Withdraw a panellist: their links stop working and later rounds do not invite them.

    Lasts until ``reinstate_panellist``; revoking a panellist's links from the console
    is a withdrawal too, so it outlasts the round.  ``kind`` says who ended it: the
    team, the panellist themselves, or their declining consent.
    """
    if panellist.withdrawn_at is not None:
        raise DomainError("panellist.withdrawn_already",
                          "{pseudonym} was withdrawn already ({when:%d %b %Y})",
                          pseudonym=panellist.pseudonym, when=panellist.withdrawn_at)
    reason = " ".join(reason.split())[:500]
    if kind == "team":
        reason = reason or "withdrawn by the study team"
    before = _standing(panellist)
    panellist.withdrawn_at = now or utcnow()
    panellist.withdrawal_reason = reason
    panellist.withdrawal_kind = kind
    panellist.is_active = False
    rnd = open_round(study)
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.round_id == rnd.id,
                                    Invitation.panellist_id == panellist.id)
    ) if rnd is not None else None
    if invitation is not None and invitation.revoked_at is None:
        revoke_links(invitation, actor)
    # Queued invitations and reminders would go out without a link: they are not sent.
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.panellist_id == panellist.id,
               OutboxMessage.status == MailStatus.PENDING)
        .values(status=MailStatus.FAILED, last_error="not sent: the panellist was withdrawn")
        .execution_options(synchronize_session=False))
    db.session.flush()
    audit.record(actor, "panellist.withdrawn", study, panellist=panellist.pseudonym,
                 before=before, after=_standing(panellist))
    from .. import webhooks

    webhooks.emit(study, "panellist.withdrew", {"panellist": panellist.pseudonym})
    return panellist


def reinstate_panellist(study: Study, panellist: Panellist, actor: audit.Actor) -> Panellist:
    """Undo a withdrawal: the next launch invites the panellist again (a running round's
    link is sent with "Send a new link")."""
    if panellist.withdrawn_at is None:
        raise DomainError("panellist.not_withdrawn", "{pseudonym} is not withdrawn",
                          pseudonym=panellist.pseudonym)
    before = _standing(panellist)
    panellist.withdrawn_at = None
    panellist.withdrawal_reason = ""
    panellist.withdrawal_kind = None
    panellist.is_active = True
    db.session.flush()
    audit.record(actor, "panellist.reinstated", study, panellist=panellist.pseudonym,
                 before=before, after=_standing(panellist))
    return panellist


def _deadline(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def set_deadline(study: Study, closes_at: datetime | None, actor: audit.Actor,
                 now: datetime | None = None) -> Round:
    """Set, extend, shorten or remove the open round's closing time.

    An extension (a later time, or none where there was one) emails every invited
    panellist who has not submitted that the round now closes later.
    """
    rnd = open_round(study)
    if rnd is None:
        raise DomainError("deadline.no_open_round", "No round is open, so there is no deadline to "
                          "change.")
    now = now or utcnow()
    if rnd.is_past_deadline(now):
        raise DomainError("round.deadline_passed", "Round {number}'s deadline has passed; it "
                          "is being closed. Reopen it once it is closed, if that was a "
                          "mistake.", number=rnd.number)
    if closes_at is not None and closes_at <= now:
        raise DomainError("round.deadline_past", "The closing time must be in the future.")
    before = rnd.closes_at
    if before == closes_at:
        raise DomainError("round.deadline_same", "That is the closing time already.")
    rnd.closes_at = closes_at
    extended = before is not None and (closes_at is None or closes_at > before)
    notified = _notify_extension(study, rnd, now) if extended else 0
    db.session.flush()
    audit.record(actor, "round.deadline_changed", study, round=rnd.number,
                 before={"closes_at": _deadline(before)},
                 after={"closes_at": _deadline(closes_at)},
                 extended=extended, notified=notified)
    return rnd


def _waiting_invitations(rnd: Round) -> list[Invitation]:
    """The round's invitations whose panellist has not submitted and still takes part."""
    submitted = set(_submitted(rnd))
    return [i for i in rnd.invitations
            if i.panellist_id not in submitted and i.revoked_at is None
            and i.panellist.withdrawn_at is None and i.panellist.erased_at is None]


def _notify_extension(study: Study, rnd: Round, now: datetime) -> int:
    count = 0
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    for invitation in _waiting_invitations(rnd):
        queued = mail.queue("extension", invitation.panellist, study,
                            f"extension:{rnd.id}:{invitation.panellist_id}:{stamp}", invitation)
        count += queued is not None
    return count


def reopen_round(study: Study, closes_at: datetime | None, actor: audit.Actor,
                 now: datetime | None = None) -> Round:
    """Open again a round closed by mistake: only the latest round, before any decision
    on it and before the next launch.  Its stored result is computed again at the new
    close; the links of those invited work again."""
    from ..models import ItemDecision

    rnd = study.current_round
    now = now or utcnow()
    if rnd is None or rnd.state is not RoundState.CLOSED:
        raise DomainError("round.not_closed", "Only a closed round can be reopened, and "
                          "the latest round is not closed.")
    if study.is_closed_for_good:
        raise DomainError("round.reopen_study_closed", "The study is {state}; its rounds cannot "
                          "be reopened.", state=str(study.state))
    decided = db.session.scalar(
        sa.select(sa.func.count()).select_from(ItemDecision)
        .where(ItemDecision.study_id == study.id, ItemDecision.after_round == rnd.number))
    if decided:
        raise DomainError("round.decided", "Round {number} cannot be reopened: {count} "
                          "decision(s) were made on its results; undo them first.",
                          number=rnd.number, count=decided)
    if closes_at is not None and closes_at <= now:
        raise DomainError("round.deadline_past", "The closing time must be in the future.")
    db.session.execute(sa.select(Round.id).where(Round.id == rnd.id).with_for_update())
    before = {"state": str(rnd.state), "closed_at": _deadline(rnd.closed_at),
              "closes_at": _deadline(rnd.closes_at)}
    rnd.state = RoundState.OPEN
    rnd.closed_at = None
    rnd.closes_at = closes_at
    rnd.reopened += 1
    # The result of the mistaken close is computed again at the new close.
    db.session.execute(sa.delete(RoundResult).where(RoundResult.round_id == rnd.id))
    db.session.flush()
    audit.record(actor, "round.reopened", study, round=rnd.number, before=before,
                 after={"state": str(rnd.state), "closed_at": None,
                        "closes_at": _deadline(closes_at)})
    return rnd


def check_reminder_days(days: list[int]) -> list[int]:
    """Reminder days, distinct, each 1-90, latest first (7, 2)."""
    if len(days) > 10:
        raise DomainError("reminders.too_many", "At most 10 reminders per round.")
    if any(d < 1 or d > 90 for d in days):
        raise DomainError("reminders.range", "Each reminder is 1 to 90 days before the "
                          "deadline.")
    return sorted(set(days), reverse=True)


def due_reminders(now: datetime | None = None) -> int:
    """Queue the scheduled reminders that are due: for each open round with a deadline
    and each of its study's reminder days, once the deadline is that close, a reminder
    to every invited panellist who has not submitted.

    Exactly once per panellist and schedule point: the message's dedupe key names the
    round, panellist and days, and the round's row is locked while the keys are checked
    (a second worker waits, then finds them).  A point already past when the round
    opened (a 7-day reminder for a round of 3 days) is skipped.  Each round is its own
    transaction; returns how many reminders were queued.
    """
    now = now or utcnow()
    count = 0
    candidates = db.session.execute(
        sa.select(Round.id, Study.reminder_days).join(Study, Round.study_id == Study.id)
        .where(Round.state == RoundState.OPEN, Round.closes_at.is_not(None),
               Round.closes_at > now)).all()
    db.session.rollback()
    for round_id, days in candidates:
        if not days:
            continue
        try:
            with unit_of_work():
                count += _remind_on_schedule(round_id, now)
        except sa.exc.IntegrityError:  # another worker queued them first: nothing lost
            pass  # the unit of work rolled this round back
    return count


def _remind_on_schedule(round_id: int, now: datetime) -> int:
    db.session.execute(sa.select(Round.id).where(Round.id == round_id).with_for_update())
    rnd = db.session.get(Round, round_id)
    if rnd is None or rnd.state is not RoundState.OPEN or rnd.closes_at is None \
            or rnd.closes_at <= now:
        return 0
    study = rnd.study
    count = 0
    for days in study.reminder_days or []:
        point = rnd.closes_at - timedelta(days=int(days))
        if now < point or (rnd.opened_at is not None and point <= rnd.opened_at):
            continue
        queued = 0
        for invitation in _waiting_invitations(rnd):
            message = mail.queue("reminder", invitation.panellist, study,
                                 f"reminder:{rnd.id}:{invitation.panellist_id}:auto:{days}d",
                                 invitation)
            queued += message is not None
        if queued:
            db.session.flush()
            audit.record("system:schedule", "round.reminded", study, round=rnd.number,
                         reminders=queued, days_before=int(days))
        count += queued
    return count


def update_schedule(study: Study, time_zone: str, reminder_days: list[int],
                    suggestions_every_round: bool, actor: audit.Actor) -> Study:
    """Change the study's time zone, reminder schedule and suggestion setting (audited)."""
    from ..timezones import check_zone

    def current() -> dict[str, Any]:
        return {"time_zone": study.time_zone, "reminder_days": list(study.reminder_days or []),
                "suggestions_every_round": study.suggestions_every_round}

    if study.is_closed_for_good:
        raise DomainError("study.settings_closed", "The study is {state}; its settings no "
                          "longer change.", state=str(study.state))
    before = current()
    study.time_zone = check_zone(time_zone)
    study.reminder_days = check_reminder_days(reminder_days)
    study.suggestions_every_round = bool(suggestions_every_round)
    after = current()
    if before == after:
        raise DomainError("settings.unchanged", "Nothing was different from before.")
    db.session.flush()
    audit.record(actor, "study.schedule_changed", study, before=before, after=after)
    return study


def _email_settings(study: Study) -> dict[str, Any]:
    return {"sender_name": study.sender_name, "reply_to": study.reply_to,
            "contact_person": study.contact_person}


def update_email_settings(study: Study, sender_name: str, reply_to: str, contact_person: str,
                          actor: audit.Actor) -> Study:
    """Change who the emails come from and whom panellists can ask (audited)."""
    before = _email_settings(study)
    problem = mail.address_problem(reply_to) if reply_to else None
    if problem:
        raise DomainError("email.reply_to", "The reply-to address cannot be used: {problem}.",
                          problem=problem)
    study.sender_name, study.reply_to, study.contact_person = \
        sender_name[:120], reply_to.lower()[:254], contact_person[:200]
    after = _email_settings(study)
    if before == after:
        raise DomainError("settings.unchanged", "Nothing was different from before.")
    db.session.flush()
    audit.record(actor, "study.email_settings_changed", study, before=before, after=after)
    return study


def update_email_text(study: Study, kind: str, subject: str, body: str,
                      actor: audit.Actor) -> Study:
    """Save the study's subject and body of one kind of message, checked in the sandbox."""
    from .. import email_texts

    if kind not in email_texts.KINDS:
        raise DomainError("email.kind_unknown", "There is no message called {kind}.",
                          kind=kind[:40])
    email_texts.check(kind, subject, body)
    before = email_texts.texts_for(study.email_texts, kind)
    after = {"subject": subject, "body": body}
    if before == after or (before is None and after == email_texts.DEFAULTS[kind]
                           and kind not in mail.TEMPLATE_KINDS):
        raise DomainError("settings.unchanged", "Nothing was different from before.")
    texts = dict(study.email_texts or {})
    texts[kind] = after
    study.email_texts = texts
    db.session.flush()
    audit.record(actor, "study.email_text_changed", study, kind=kind, before=before,
                 after=after)
    return study


def reset_email_text(study: Study, kind: str, actor: audit.Actor) -> Study:
    """Go back to the default text of one kind of message."""
    texts = dict(study.email_texts or {})
    before = texts.pop(kind, None)
    if before is None:
        raise DomainError("email.already_default", "That message uses the default text "
                          "already.")
    study.email_texts = texts
    db.session.flush()
    audit.record(actor, "study.email_text_changed", study, kind=kind, before=before,
                 after=None)
    return study


def send_test_email(study: Study, kind: str, to_address: str, name: str,
                    actor: audit.Actor) -> OutboxMessage:
    """Queue the study's ``kind`` message to the facilitator, filled with sample values."""
    from .. import email_texts
    from ..timezones import shown

    if kind not in email_texts.KINDS:
        raise DomainError("email.kind_unknown", "There is no message called {kind}.",
                          kind=kind[:40])
    from flask import current_app

    sample_deadline = shown(utcnow().replace(microsecond=0) + timedelta(days=7),
                            study.time_zone, "%A %d %B %Y at %H:%M")
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    message = OutboxMessage(
        study_id=study.id, kind=kind, dedupe_key=f"test:{study.id}:{kind}:{stamp}",
        to_address=to_address, context={
            "test": True, "name": name or to_address, "round": 1, "statements": 12,
            "sample_link": f"{base}/p/example-personal-link",
            "withdraw_link": "", "sample_deadline": sample_deadline},
        status=MailStatus.PENDING, next_attempt_at=utcnow())
    db.session.add(message)
    db.session.flush()
    audit.record(actor, "study.email_test_sent", study, kind=kind)
    return message


def send_thank_you(study: Study, actor: audit.Actor) -> int:
    """Email the thank-you message to every panellist invited to a round and still on the
    panel, once the study is finished (at most once each)."""
    if study.state is not StudyState.FINISHED:
        raise DomainError("thankyou.study_not_finished", "The thank-you message goes out once the "
                          "study is finished.")
    count = mail.queue_thank_yous(study)
    if not count:
        raise DomainError("email.thankyou_sent", "Every panellist has been thanked already.")
    audit.record(actor, "study.thanked", study, messages=count)
    return count
