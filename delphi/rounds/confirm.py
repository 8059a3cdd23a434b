"""What launching, closing and finishing will do, shown before the facilitator confirms.

Each irreversible button leads to a confirmation page (a GET that reads only) with these
facts and a POST button carrying ``confirmed=yes``; a POST without it changes nothing and
goes back to the confirmation page (``console.unconfirmed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import (
    Invitation,
    ItemStatus,
    Response,
    ResponseState,
    Round,
    RoundState,
    Study,
)
from ..results.items import BetweenRounds, between_rounds


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
