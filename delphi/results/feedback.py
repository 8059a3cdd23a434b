"""The readers of a round's stored results, ratings and comments that feedback is built from.

What a panellist sees of the round before (the panel's distribution, their own rating,
the comments) and what the facilitator's results page shows are drawn from these.
Nothing is kept in memory between requests: what every panellist sees is rendered
once at the launch and stored (``delphi.results.blocks``), and rebuilt when what is
fed back changes; a voting page reads only the panellist's own ratings here.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    StakeholderGroup,
    shown_comment,
)


def rows_by_item(round_id: int, round_number: int
                 ) -> dict[str, dict[str | None, dict[str, Any]]] | None:
    """A round's stored result's item objects by item label and group; None when the round
    has no stored result. Read through ``RoundResult.analysis``, so its version is checked."""
    stored = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == round_id))
    if stored is None:
        return None
    data = as_json(stored.analysis)
    index: dict[str, dict[str | None, dict[str, Any]]] = {}
    for row in data["items"]:
        if row["round"] == round_number:
            index.setdefault(row["item"], {})[row["group"]] = row
    return index


@dataclass(frozen=True)
class GroupView:
    key: str
    name: str


def study_groups(study_id: int) -> tuple[GroupView, ...]:
    """A study's stakeholder groups, in their order."""
    return tuple(GroupView(key, name) for key, name in db.session.execute(
        sa.select(StakeholderGroup.key, StakeholderGroup.name)
        .where(StakeholderGroup.study_id == study_id).order_by(StakeholderGroup.position)))


# Built once (SQLAlchemy compiles it once per process too): a voting page only binds the
# study's, the round number's and the panellist's ids.
OWN_ANSWERS = (
    sa.select(Rating.item_id, Rating.value, Rating.is_uts)
    .join(Response, Rating.response_id == Response.id)
    .join(Round, Round.id == Rating.round_id)
    .where(Round.study_id == sa.bindparam("study_id"), Round.number == sa.bindparam("number"),
           Rating.panellist_id == sa.bindparam("panellist_id"),
           Response.state == ResponseState.SUBMITTED))


def own_answers(rnd: Round, panellist_id: int) -> dict[int, int | str]:
    """A panellist's submitted answers of the round before ``rnd``, by item id ("UTS" for
    unable to score); empty in round 1."""
    if rnd.number <= 1:
        return {}
    rows = db.session.execute(OWN_ANSWERS, {"study_id": rnd.study_id, "number": rnd.number - 1,
                                            "panellist_id": panellist_id}).all()
    answers: dict[int, int | str] = {}
    for item_id, value, is_uts in rows:
        if is_uts:
            answers[item_id] = "UTS"
        elif value is not None:
            answers[item_id] = value
    return answers


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
