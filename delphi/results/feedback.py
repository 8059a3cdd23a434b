"""The readers of a round's stored results, ratings and comments that feedback is built from.

What a panellist sees of the round before (the panel's distribution, their own rating,
the comments) and what the facilitator's results page shows are drawn from these.
A closed round never changes: its stored result (until recomputed, which changes
``computed_at``) and its submitted comments are fixed, so the readers of a closed
round are cached per worker with the result's id and time in the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from ..consensus.schema import as_json
from ..extensions import db
from ..models import (
    Rating,
    Response,
    ResponseState,
    Round,
    RoundResult,
    RoundState,
    StakeholderGroup,
    Study,
    shown_comment,
)


@lru_cache(maxsize=32)
def rows_by_item(result_id: int, computed_at: str, round_number: int
                  ) -> dict[str, dict[str | None, dict[str, Any]]]:
    """Index a stored result's item objects by item label and group (cached per result)."""
    data = as_json(db.session.get_one(RoundResult, result_id).analysis)  # the version checked
    index: dict[str, dict[str | None, dict[str, Any]]] = {}
    for row in data["items"]:
        if row["round"] == round_number:
            index.setdefault(row["item"], {})[row["group"]] = row
    return index


@dataclass(frozen=True)
class GroupView:
    key: str
    name: str


@lru_cache(maxsize=256)
def study_groups(study_id: int, round_id: int, stamp: str) -> tuple[GroupView, ...]:
    """A study's stakeholder groups, read once per worker and round (they are fixed once
    round 1 has been launched; ``stamp`` ties the entry to this round's life)."""
    return tuple(GroupView(key, name) for key, name in db.session.execute(
        sa.select(StakeholderGroup.key, StakeholderGroup.name)
        .where(StakeholderGroup.study_id == study_id).order_by(StakeholderGroup.position)))


@dataclass(frozen=True)
class Before:
    """What the feedback needs of the round before: its id and number, whether it is closed,
    and the study."""

    id: int
    number: int
    closed: bool
    study: Study


@lru_cache(maxsize=256)
def closed_round_before(round_id: int, opened_at: str, study_id: int,
                         number: int) -> tuple[int, int] | None:
    """The closed round before an open one, with its stored result's id.

    Read once per worker and open round: a round opens only after the one before has
    closed and its result was stored.  The result may be recomputed (an erasure) and
    the comments moderated meanwhile: ``stamp`` says when, on every page.
    """
    row = db.session.execute(
        sa.select(Round.id, Round.state, RoundResult.id)
        .outerjoin(RoundResult, RoundResult.round_id == Round.id)
        .where(Round.study_id == study_id, Round.number == number - 1)
    ).first()
    if row is None or row[1] is not RoundState.CLOSED or row[2] is None:
        return None
    return row[0], row[2]


def stamp(result_id: int) -> str:
    """What the cached parts of a closed round's feedback depend on besides ids: when its
    stored result was computed and when a moderation last changed its comments.  Read on
    every page (one row by primary key), so a change made through another worker shows."""
    computed_at, moderated_at = db.session.execute(
        sa.select(RoundResult.computed_at, Round.comments_changed_at)
        .join(Round, RoundResult.round_id == Round.id).where(RoundResult.id == result_id)
    ).one()
    return f"{computed_at.isoformat()}|{moderated_at.isoformat() if moderated_at else ''}"


@lru_cache(maxsize=8192)
def closed_round_own_answers(round_id: int, result_id: int, computed_at: str,
                              panellist_id: int) -> dict[int, int | str | None]:
    """A panellist's submitted answers of a closed round, read once per worker (they are fixed);
    the stored result's id and time are in the key as for the comments."""
    return own_answers(round_id, panellist_id)


def own_answers(round_id: int, panellist_id: int) -> dict[int, int | str | None]:
    rows = db.session.execute(
        sa.select(Rating.item_id, Rating.value, Rating.is_uts)
        .join(Response, Rating.response_id == Response.id)
        .where(Rating.round_id == round_id, Rating.panellist_id == panellist_id,
               Response.state == ResponseState.SUBMITTED)
    ).all()
    return {item_id: "UTS" if is_uts else value for item_id, value, is_uts in rows}


@lru_cache(maxsize=32)
def closed_round_comments(round_id: int, result_id: int, computed_at: str
                           ) -> dict[int, tuple[str, ...]]:
    """The comments of a closed round, read once per worker and stored result.

    They can no longer change once the round is closed; the result's id and time are
    in the key so that a recomputed result (or another database) reads them again.
    """
    return round_comments(round_id)


def round_comments(round_id: int) -> dict[int, tuple[str, ...]]:
    """Submitted comments per item as the panel may read them (a hidden comment left out, a
    redacted one in its redacted form), without names, in alphabetical order (not by
    author)."""
    rows = db.session.execute(
        sa.select(Rating.item_id, Rating.comment, Rating.moderation, Rating.redacted_comment)
        .join(Response, Rating.response_id == Response.id)
        .where(Rating.round_id == round_id, Rating.comment != "",
               Response.state == ResponseState.SUBMITTED)
    ).all()
    comments: dict[int, list[str]] = {}
    for item_id, comment, moderation, redacted in rows:
        shown = shown_comment(comment, moderation, redacted)
        if shown:
            comments.setdefault(item_id, []).append(shown)
    return {k: tuple(sorted(v, key=str.casefold)) for k, v in comments.items()}


def result_stamp(round_id: int) -> int | None:
    """The id of a round's stored result: the stored data (large) is read once per result
    by ``rows_by_item``, keyed with ``stamp``."""
    return db.session.scalar(sa.select(RoundResult.id).where(RoundResult.round_id == round_id))
