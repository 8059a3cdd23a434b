"""What launching, closing and finishing will do, shown before the facilitator confirms.

Each irreversible button leads to a confirmation page (a GET that reads only) with these
facts and a POST button carrying ``confirmed=yes``; a POST without it changes nothing and
goes back to the confirmation page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import abort, flash, redirect, request
from werkzeug.wrappers import Response as HttpResponse

from ..auth.forms import EmptyForm
from ..extensions import db
from ..models import (
    Invitation,
    Item,
    ItemStatus,
    Response,
    ResponseState,
    Round,
    RoundState,
    Study,
)

CONFIRM_FIELD = "confirmed"


def unconfirmed(confirm_url: str, what: str) -> HttpResponse | None:
    """For a POST that lacks the confirmation field: change nothing, go to the confirmation.

    A bad CSRF token is still a 400, as for every other console button.
    """
    if request.form.get(CONFIRM_FIELD) == "yes":
        return None
    if not EmptyForm().validate_on_submit():
        abort(400)
    flash(f"Nothing was changed: {what} only after reading what it does and confirming "
          "on this page.", "error")
    return redirect(confirm_url, code=303)


@dataclass
class BetweenRounds:
    """The latest closed round's statements that still go on: without a decision, and
    those the panel already rejected (consensus out) that would be asked again."""

    undecided: list[Item] = field(default_factory=list)
    consensus_out: list[Item] = field(default_factory=list)


def between_rounds(study: Study) -> BetweenRounds:
    from ..decisions.results import item_results, stored_result

    current = study.current_round
    facts = BetweenRounds()
    if current is None or current.state is not RoundState.CLOSED:
        return facts
    stored = stored_result(current)
    if stored is None:
        return facts
    for row in item_results(study, current, stored):
        if row.item.status is not ItemStatus.ACTIVE:
            continue
        if row.decision is None:
            facts.undecided.append(row.item)
        if row.verdict == "consensus_out":
            facts.consensus_out.append(row.item)
    return facts


@dataclass
class LaunchFacts:
    number: int
    statements: int
    panellists: int
    closes_at: datetime | None
    problem: str | None
    between: BetweenRounds


def launch_facts(study: Study, closes_at: datetime | None) -> LaunchFacts:
    """What launching the next round now would send, and why it cannot, if it cannot."""
    current = study.current_round
    statements = sum(1 for i in study.items if i.status is ItemStatus.ACTIVE)
    panellists = sum(1 for p in study.panellists if p.is_active)
    problem = None
    if study.is_closed_for_good:
        problem = f"The study is {study.state}; no more rounds can be launched."
    elif current is not None and current.state is not RoundState.CLOSED:
        problem = f"Round {current.number} is still {current.state}; close it first."
    elif not statements:
        problem = "The study has no active statements to rate."
    elif not panellists:
        problem = "The panel is empty: import the panellists first."
    return LaunchFacts(number=1 if current is None else current.number + 1,
                       statements=statements, panellists=panellists, closes_at=closes_at,
                       problem=problem, between=between_rounds(study))


@dataclass
class CloseFacts:
    round: Round
    invited: int
    submitted: int
    drafts: int
    problem: str | None = None


def close_facts(rnd: Round) -> CloseFacts:
    """How many answers the close would count, and how many drafts it would leave out."""
    states = dict(db.session.execute(
        sa.select(Response.state, sa.func.count(sa.distinct(Response.panellist_id)))
        .where(Response.round_id == rnd.id)
        .group_by(Response.state)).all())
    invited = db.session.scalar(
        sa.select(sa.func.count()).select_from(Invitation).where(Invitation.round_id == rnd.id))
    return CloseFacts(round=rnd, invited=invited or 0,
                      submitted=states.get(ResponseState.SUBMITTED, 0),
                      drafts=sum(n for s, n in states.items() if s is not ResponseState.SUBMITTED))


@dataclass
class FinishFacts:
    number: int
    problem: str | None
    between: BetweenRounds


def finish_facts(study: Study) -> FinishFacts:
    """Which statements of the final round are still without a decision."""
    current = study.current_round
    problem = None
    if current is None:
        problem = "no round has been run yet."
    elif current.state is not RoundState.CLOSED:
        problem = f"round {current.number} is {current.state}; close it first."
    elif study.is_closed_for_good:
        problem = f"it is {study.state} already."
    return FinishFacts(number=current.number if current else 0, problem=problem,
                       between=between_rounds(study))
