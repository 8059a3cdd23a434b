"""Round use cases: they flush and never commit; the caller commits once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from .. import audit, mail
from ..consensus.settings import Settings
from ..consensus.table import ABSENT_CODE, MISSING_CODE, UTS_CODE, RatingsTable
from ..extensions import database_now, db
from ..models import (
    DomainError,
    Invitation,
    Item,
    ItemStatus,
    MailStatus,
    OutboxMessage,
    Panellist,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundItem,
    RoundResult,
    RoundState,
    Section,
    StakeholderGroup,
    Study,
    StudyState,
    utcnow,
)


def analyze(*args: Any, **kwargs: Any) -> Any:
    """The engine's ``analyze``, imported when a round is analysed: scipy takes about half a
    second to load, which every command (``delphi --help`` too) would otherwise pay. A
    module attribute, so that tests can replace it to prove nothing is recomputed."""
    from ..consensus.analyze import analyze as engine_analyze

    return engine_analyze(*args, **kwargs)


def analysis_settings(study: Study) -> Settings:
    """The statistics engine's settings for a study's consensus settings."""
    settings: Settings = study.consensus.engine_settings()
    return settings


def open_round(study: Study) -> Round | None:
    """The study's open round, if any."""
    current = study.current_round
    return current if current is not None and current.state is RoundState.OPEN else None


def launch_round(study: Study, actor: object, closes_at: datetime | None = None,
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
        raise DomainError(f"round {current.number} was launched already and is still "
                          f"{current.state}; close it first")
    if study.is_closed_for_good:
        raise DomainError(f"the study is {study.state}; no more rounds can be launched")
    items = [i for i in study.items if i.status is ItemStatus.ACTIVE]
    panellists = [p for p in study.panellists if p.is_active and p.withdrawn_at is None]
    withdrawn = len(study.panellists) - len(panellists)
    if not items:
        raise DomainError("the study has no active statements to rate")
    if not panellists:
        if withdrawn:
            raise DomainError(f"all {withdrawn} panellists are withdrawn: reinstate or add "
                              "panellists first")
        raise DomainError("the panel is empty: import the panellists first")
    number = 1 if current is None else current.number + 1
    rnd = Round(study=study, number=number,
                allow_suggestions=number == 1 if allow_suggestions is None else allow_suggestions,
                ask_reason_on_band_change=study.ask_reason_on_band_change)
    db.session.add(rnd)
    try:
        rnd.open(now, closes_at)
    except Exception as exc:
        raise DomainError(str(exc)) from None
    for position, item in enumerate(items):
        db.session.add(RoundItem(round=rnd, item=item, position=position))
    if number == 1:
        study.consensus.lock(now)
        study.move_to(StudyState.RUNNING)
    db.session.flush()
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


def close_round(study: Study, actor: object, now: datetime | None = None) -> Round:
    """Stop accepting votes, atomically, then compute and store the round's statistics.

    The recorded closing time is taken once the round's row is locked, by the database's
    clock (as saves take theirs): every answer accepted before the close carries an
    earlier time.  ``now`` overrides it (the deadline job passes the time it checked the
    deadlines against, which is after every accepted answer too).
    """
    rnd = open_round(study)
    if rnd is None:
        raise DomainError("no round is open")
    # On PostgreSQL the lock waits for saves holding a share lock on the round to commit;
    # saves that come later wait for the close, then find the round closed.  SQLite
    # ignores the clause: its writers are serialised by the database lock.
    db.session.execute(sa.select(Round.id).where(Round.id == rnd.id).with_for_update())
    now = now or database_now()
    # A conditional update: of two concurrent closes only one changes the row.
    closed = db.session.execute(
        sa.update(Round).where(Round.id == rnd.id, Round.state == RoundState.OPEN)
        .values(state=RoundState.CLOSED, closed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if closed != 1:
        raise DomainError(f"round {rnd.number} was closed already")
    db.session.refresh(rnd)
    store_results(study, rnd)
    responded = sum(1 for _ in _submitted(rnd))
    audit.record(actor, "round.closed", study, round=rnd.number, responded=responded)
    from .. import webhooks

    webhooks.emit(study, "round.closed", {"round": rnd.number, "responded": responded})
    return rnd


def extend_round(study: Study, closes_at: datetime, actor: object,
                 now: datetime | None = None) -> Round:
    """Move the open round's deadline (later, or earlier but still in the future)."""
    rnd = open_round(study)
    if rnd is None:
        raise DomainError("round.none_open", "No round is open.")
    now = now or utcnow()
    if closes_at <= now:
        raise DomainError("round.deadline_past", "The new closing time must be in the future.")
    before = rnd.closes_at.isoformat() if rnd.closes_at else None
    rnd.closes_at = closes_at
    db.session.flush()
    audit.record(actor, "round.extended", study, round=rnd.number, before=before,
                 after=closes_at.isoformat())
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


def submitted_ratings(*columns: Any) -> sa.Select[Any]:
    """SELECT ``columns`` over the ratings of submitted answer sheets, joined to their round,
    statement, panellist and stakeholder group (add the study's filter)."""
    return (
        sa.select(*columns).select_from(Rating)
        .join(Response, Rating.response_id == Response.id)
        .join(Round, Rating.round_id == Round.id)
        .join(Item, Rating.item_id == Item.id)
        .join(Panellist, Rating.panellist_id == Panellist.id)
        .join(StakeholderGroup, Panellist.group_id == StakeholderGroup.id)
        .where(Response.state == ResponseState.SUBMITTED)
    )


def study_records(study: Study, up_to: int) -> list[tuple[int, str, str, str, Any]]:
    """The long-format records of every round up to ``up_to``: the input of ``analyze``.

    Invited panellists who submitted nothing appear with an empty rating; only
    submitted answer sheets count.
    """
    rows = db.session.execute(
        submitted_ratings(Round.number, Item.key, Item.version, Panellist.pseudonym,
                          StakeholderGroup.key, Rating.value, Rating.is_uts)
        .where(Round.study_id == study.id, Round.number <= up_to)
    ).all()
    answered: dict[tuple[int, str, str], Any] = {}
    groups: dict[str, str] = {}
    for number, key, version, pseudonym, group, value, is_uts in rows:
        answer = "UTS" if is_uts else value
        answered[(number, item_label(key, version), pseudonym)] = answer
        groups[pseudonym] = group
    invited = db.session.execute(
        sa.select(Round.number, Panellist.pseudonym, StakeholderGroup.key, Round.id)
        .select_from(Invitation)
        .join(Round, Invitation.round_id == Round.id)
        .join(Panellist, Invitation.panellist_id == Panellist.id)
        .join(StakeholderGroup, Panellist.group_id == StakeholderGroup.id)
        .where(Round.study_id == study.id, Round.number <= up_to)
    ).all()
    items_by_round = _round_item_labels(study, up_to)
    records = []
    for number, pseudonym, group, _round_id in invited:
        for label in items_by_round.get(number, []):
            records.append((number, label, pseudonym, group,
                            answered.get((number, label, pseudonym))))
    return records


def study_table(study: Study, up_to: int) -> RatingsTable:
    """The engine's table of every round up to ``up_to``: ``study_records`` without the records.

    Invited panellists who submitted nothing are missing (not absent) on the round's
    statements; only submitted answer sheets count.  Statements keep the order of their
    first round and position, panellists the order of their first invitation, as the
    records do.  The ratings come as integer columns and land in the array with numpy:
    a million ratings take a fraction of a second instead of building a million tuples.
    """
    rounds = db.session.execute(
        sa.select(Round.id, Round.number).where(Round.study_id == study.id, Round.number <= up_to)
        .order_by(Round.number)
    ).all()
    round_pos = {round_id: k for k, (round_id, _) in enumerate(rounds)}
    labels: dict[str, int] = {}
    item_pos: dict[tuple[int, int], int] = {}  # (round id, item id) -> column
    items_of_round: dict[int, list[int]] = {k: [] for k in range(len(rounds))}
    for round_id, item_id, key, version in db.session.execute(
        sa.select(RoundItem.round_id, Item.id, Item.key, Item.version)
        .join(Round, RoundItem.round_id == Round.id).join(Item, RoundItem.item_id == Item.id)
        .where(Round.study_id == study.id, Round.number <= up_to)
        .order_by(Round.number, RoundItem.position)
    ):
        column = labels.setdefault(item_label(key, version), len(labels))
        item_pos[(round_id, item_id)] = column
        items_of_round[round_pos[round_id]].append(column)
    panellists: dict[int, int] = {}
    pseudonyms: list[str] = []
    group_names: list[str] = []
    invited: list[tuple[int, int]] = []
    for round_id, panellist_id, pseudonym, group in db.session.execute(
        sa.select(Invitation.round_id, Panellist.id, Panellist.pseudonym, StakeholderGroup.key)
        .join(Round, Invitation.round_id == Round.id)
        .join(Panellist, Invitation.panellist_id == Panellist.id)
        .join(StakeholderGroup, Panellist.group_id == StakeholderGroup.id)
        .where(Round.study_id == study.id, Round.number <= up_to)
        .order_by(Round.number, Invitation.id)
    ):
        if panellist_id not in panellists:
            panellists[panellist_id] = len(pseudonyms)
            pseudonyms.append(pseudonym)
            group_names.append(group)
        invited.append((round_pos[round_id], panellists[panellist_id]))
    shape = (len(rounds), len(labels), len(pseudonyms))
    values = np.full(shape, ABSENT_CODE, dtype=np.int16)
    for r, p in invited:
        values[r, items_of_round[r], p] = MISSING_CODE
    code = sa.case((Rating.is_uts, UTS_CODE), (Rating.value.is_(None), MISSING_CODE),
                   else_=Rating.value)
    result = db.session.connection().execute(
        sa.select(Rating.round_id, Rating.item_id, Rating.panellist_id, code)
        .join(Response, Rating.response_id == Response.id)
        .join(Round, Rating.round_id == Round.id)
        .where(Round.study_id == study.id, Round.number <= up_to,
               Response.state == ResponseState.SUBMITTED)
    )
    # Four integers per rating, read from the driver's cursor: a million Row objects
    # would cost more than the query.
    rows = np.array(result.cursor.fetchall() or np.empty((0, 4)), dtype=np.int64)
    result.close()
    if len(rows):
        # Ids to positions with lookup arrays: -1 for what the table does not hold.
        round_of = np.full(max(round_pos) + 1, -1)
        round_of[list(round_pos)] = list(round_pos.values())
        max_item = max(i for _, i in item_pos) if item_pos else 0
        column_of = np.full((len(rounds), max(max_item, int(rows[:, 1].max())) + 1), -1)
        for (round_id, item_id), column in item_pos.items():
            column_of[round_pos[round_id], item_id] = column
        person_of = np.full(max(max(panellists, default=0), int(rows[:, 2].max())) + 1, -1)
        person_of[list(panellists)] = list(panellists.values())
        r_idx = round_of[rows[:, 0]]
        i_idx = column_of[r_idx, rows[:, 1]]
        p_idx = person_of[rows[:, 2]]
        keep = (i_idx >= 0) & (p_idx >= 0)
        r_idx, i_idx, p_idx, codes = r_idx[keep], i_idx[keep], p_idx[keep], rows[keep, 3]
        invited_cell = values[r_idx, i_idx, p_idx] != ABSENT_CODE  # as the records: invited only
        values[r_idx[invited_cell], i_idx[invited_cell], p_idx[invited_cell]] = \
            codes[invited_cell]
    names = sorted(set(group_names))
    return RatingsTable(
        rounds=tuple(number for _, number in rounds), items=tuple(labels),
        panellists=tuple(pseudonyms), groups=tuple(names),
        group_of=np.array([names.index(g) for g in group_names], dtype=np.int64),
        values=values,
    )


def _round_item_labels(study: Study, up_to: int) -> dict[int, list[str]]:
    rows = db.session.execute(
        sa.select(Round.number, Item.key, Item.version)
        .select_from(RoundItem)
        .join(Round, RoundItem.round_id == Round.id)
        .join(Item, RoundItem.item_id == Item.id)
        .where(Round.study_id == study.id, Round.number <= up_to)
        .order_by(Round.number, RoundItem.position)
    ).all()
    labels: dict[int, list[str]] = {}
    for number, key, version in rows:
        labels.setdefault(number, []).append(item_label(key, version))
    return labels


def item_label(key: str, version: int) -> str:
    """How an item is named in exports and analyses: its key, plus the version after a reword."""
    return key if version == 1 else f"{key}.v{version}"


def item_scales(study: Study) -> dict[str, str]:
    """The scale of each statement (every version) by its label: its section's, else the
    study's."""
    return {item_label(key, version): scale_key or study.scale_key
            for key, version, scale_key in db.session.execute(
                sa.select(Item.key, Item.version, Section.scale_key)
                .join(Section, Item.section_id == Section.id)
                .where(Item.study_id == study.id))}


def store_results(study: Study, rnd: Round) -> RoundResult:
    """Compute and store the statistics of ``rnd``, with stability against the round before;
    each statement is analysed on its own scale (see ``consensus.multiscale``)."""
    from ..consensus.multiscale import analyze_by_scale

    result = analyze_by_scale(study_table(study, rnd.number), analysis_settings(study),
                              item_scales(study), analyze=analyze)
    stored = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    if stored is None:
        stored = RoundResult(round_id=rnd.id, data=result)
        db.session.add(stored)
    else:
        stored.data = result
        stored.computed_at = utcnow()
    db.session.flush()
    return stored


def remind(study: Study, actor: object, now: datetime | None = None) -> int:
    """Queue a reminder to every invited panellist of the open round who has not submitted."""
    rnd = open_round(study)
    if rnd is None:
        raise DomainError("no round is open")
    now = now or utcnow()
    submitted = set(_submitted(rnd))
    count = 0
    batch = now.strftime("%Y%m%dT%H%M%S")
    for invitation in rnd.invitations:
        if invitation.panellist_id in submitted or invitation.revoked_at is not None:
            continue
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
        raise DomainError(f"{panellist.pseudonym} has no invitation to round {rnd.number}")
    return invitation


def revoke_links(invitation: Invitation, actor: object) -> None:
    """Make every link of an invitation stop working."""
    now = utcnow()
    for token in invitation.tokens:
        if token.revoked_at is None:
            token.revoked_at = now
    invitation.revoked_at = now
    db.session.flush()
    audit.record(actor, "invitation.revoked", invitation.round.study,
                 round=invitation.round.number, panellist=invitation.panellist.pseudonym)


def reissue_link(invitation: Invitation, actor: object) -> None:
    """Revoke the old links and email the panellist a new one."""
    rnd = invitation.round
    if rnd.state is not RoundState.OPEN:
        raise DomainError(f"round {rnd.number} is not open")
    if invitation.panellist.withdrawn_at is not None:
        raise DomainError(f"{invitation.panellist.pseudonym} is withdrawn from the study; "
                          "reinstate them first to send a new link")
    if invitation.panellist.erased_at is not None:
        raise DomainError(f"{invitation.panellist.pseudonym}'s personal data was erased; "
                          "they cannot be sent a link")
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
    rnd = open_round(study)
    if rnd is None:
        raise DomainError("no round is open, so there is no link to send or revoke")
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.round_id == rnd.id,
                                    Invitation.panellist_id == panellist.id))
    if invitation is None:
        raise DomainError(f"{panellist.pseudonym} was not invited to round {rnd.number} (added "
                          "to the panel after its launch, or withdrawn then), so has no link "
                          "to it; they are invited to the next round unless withdrawn")
    return invitation


def reissue_for(study: Study, panellist: Panellist, actor: object) -> None:
    """Send a panellist a new link to the open round, or say why there is none to send."""
    if panellist.withdrawn_at is not None:
        raise DomainError(f"{panellist.pseudonym} is withdrawn from the study; reinstate them "
                          "first to send a new link")
    reissue_link(open_invitation(study, panellist), actor)


def _standing(panellist: Panellist) -> dict[str, Any]:
    return {"withdrawn": panellist.withdrawn_at is not None,
            "withdrawn_at": panellist.withdrawn_at.isoformat() if panellist.withdrawn_at
            else None, "reason": panellist.withdrawal_reason or None}


def withdraw_panellist(study: Study, panellist: Panellist, reason: str, actor: object,
                       now: datetime | None = None) -> Panellist:
    """Withdraw a panellist: their links stop working and later rounds do not invite them.

    Lasts until ``reinstate_panellist``; revoking a panellist's links from the console
    is a withdrawal too, so it outlasts the round.
    """
    if panellist.withdrawn_at is not None:
        raise DomainError(f"{panellist.pseudonym} was withdrawn already "
                          f"({panellist.withdrawn_at:%d %b %Y})")
    reason = " ".join(reason.split())[:500] or "withdrawn by the study team"
    before = _standing(panellist)
    panellist.withdrawn_at = now or utcnow()
    panellist.withdrawal_reason = reason
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


def reinstate_panellist(study: Study, panellist: Panellist, actor: object) -> Panellist:
    """Undo a withdrawal: the next launch invites the panellist again (a running round's
    link is sent with "Send a new link")."""
    if panellist.withdrawn_at is None:
        raise DomainError(f"{panellist.pseudonym} is not withdrawn")
    before = _standing(panellist)
    panellist.withdrawn_at = None
    panellist.withdrawal_reason = ""
    panellist.is_active = True
    db.session.flush()
    audit.record(actor, "panellist.reinstated", study, panellist=panellist.pseudonym,
                 before=before, after=_standing(panellist))
    return panellist
