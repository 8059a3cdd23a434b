"""What a panellist sees of the round before: the panel's distribution, own rating, comments."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..models import (
    Invitation,
    Item,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundResult,
    Study,
)
from ..rounds.operations import item_label


@dataclass(frozen=True)
class GroupFeedback:
    name: str
    stats: dict[str, Any]


@dataclass
class ItemFeedback:
    """The previous round's numbers for one statement, for one panellist."""

    stats: dict[str, Any]
    groups: list[GroupFeedback] = field(default_factory=list)
    hidden_groups: int = 0
    own: int | str | None = None
    comments: list[str] = field(default_factory=list)
    earlier_wording: str | None = None


def previous_round(rnd: Round) -> Round | None:
    if rnd.number == 1:
        return None
    return db.session.scalar(
        sa.select(Round).where(Round.study_id == rnd.study_id, Round.number == rnd.number - 1)
    )


@lru_cache(maxsize=32)
def _rows_by_item(result_id: int, computed_at: str, round_number: int
                  ) -> dict[str, dict[str | None, dict[str, Any]]]:
    """Index a stored result's item objects by item label and group (cached per result)."""
    data = db.session.get(RoundResult, result_id).data
    index: dict[str, dict[str | None, dict[str, Any]]] = {}
    for row in data["items"]:
        if row["round"] == round_number:
            index.setdefault(row["item"], {})[row["group"]] = row
    return index


def feedback_for(invitation: Invitation, items: list[Item]) -> dict[int, ItemFeedback]:
    """Per item id, what the panel answered in the previous round; empty in round 1."""
    before = previous_round(invitation.round)
    if before is None:
        return {}
    return feedback_for_round(before, invitation.panellist_id, items)


def feedback_for_round(before: Round, panellist_id: int | None,
                       items: list[Item]) -> dict[int, ItemFeedback]:
    """Per item id, the feedback of the closed round ``before`` (own ratings if a panellist)."""
    result = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == before.id))
    if result is None:
        return {}
    rows = _rows_by_item(result.id, result.computed_at.isoformat(), before.number)
    study: Study = before.study
    own = _own_answers(before, panellist_id) if panellist_id is not None else {}
    comments = _comments(before)
    feedback: dict[int, ItemFeedback] = {}
    for item in items:
        source = item if item_label(item.key, item.version) in rows else item.parent
        if source is None or item_label(source.key, source.version) not in rows:
            continue
        by_group = rows[item_label(source.key, source.version)]
        entry = ItemFeedback(stats=by_group[None], own=own.get(source.id),
                             comments=comments.get(source.id, []),
                             earlier_wording=source.text if source is not item else None)
        if study.feedback_by_group:
            for group in study.groups:
                stats = by_group.get(group.key)
                if stats is None:
                    continue
                if stats["n_valid"] >= study.min_group_size:
                    entry.groups.append(GroupFeedback(group.name, stats))
                else:
                    entry.hidden_groups += 1
        feedback[item.id] = entry
    return feedback


def _own_answers(rnd: Round, panellist_id: int) -> dict[int, int | str | None]:
    rows = db.session.scalars(
        sa.select(Rating).join(Response, Rating.response_id == Response.id)
        .where(Rating.round_id == rnd.id, Rating.panellist_id == panellist_id,
               Response.state == ResponseState.SUBMITTED)
    ).all()
    return {r.item_id: r.answer for r in rows}


def _comments(rnd: Round) -> dict[int, list[str]]:
    """Submitted comments per item, without names, in alphabetical order (not by author)."""
    rows = db.session.execute(
        sa.select(Rating.item_id, Rating.comment).join(Response, Rating.response_id == Response.id)
        .where(Rating.round_id == rnd.id, Rating.comment != "",
               Response.state == ResponseState.SUBMITTED)
    ).all()
    comments: dict[int, list[str]] = {}
    for item_id, comment in rows:
        comments.setdefault(item_id, []).append(comment)
    return {k: sorted(v, key=str.casefold) for k, v in comments.items()}
