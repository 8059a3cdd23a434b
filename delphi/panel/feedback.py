"""What a panellist sees of the round before: the panel's distribution, own rating, comments.

A closed round never changes: its stored result (until recomputed, which changes
``computed_at``) and its submitted comments are fixed.  So the parts of the voting
page drawn from them are rendered once per worker and reused: the whole panel's
histogram and numbers once per statement and own rating, the groups and comments
once per statement.  Every input of a rendered part is in its cache key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from flask import get_template_attribute
from markupsafe import Markup

from ..consensus.disclosure import disclose_rows
from ..consensus.scales import Scale, get_scale
from ..consensus.schema import as_json
from ..extensions import db
from ..models import (
    Invitation,
    Item,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundResult,
    RoundState,
    StakeholderGroup,
    Study,
)
from ..rounds.operations import item_label


@dataclass(frozen=True)
class GroupFeedback:
    name: str
    stats: dict[str, Any]


FEEDBACK_TEMPLATE = "panel/_feedback.html"
MAX_RENDERED = 4096  # rendered parts kept per worker (a few kB each)
_rendered: dict[tuple[Any, ...], Markup] = {}


def render_once(key: tuple[Any, ...] | None, template: str, macro: str, *args: Any) -> Markup:
    """Call a template's macro, or reuse its output for the same key (None: never reuse)."""
    if key is not None:
        hit = _rendered.get(key)
        if hit is not None:
            return hit
    html: Markup = get_template_attribute(template, macro)(*args)  # autoescaped
    if key is not None:
        if len(_rendered) >= MAX_RENDERED:
            _rendered.clear()
        _rendered[key] = html
    return html


@dataclass
class ItemFeedback:
    """The previous round's numbers for one statement, for one panellist."""

    stats: dict[str, Any]
    groups: list[GroupFeedback] = field(default_factory=list)
    hidden_groups: int = 0  # every group not shown (small ones and withheld ones)
    withheld_groups: int = 0  # large enough, hidden so that the small ones stay hidden
    own: int | str | None = None
    comments: list[str] = field(default_factory=list)
    earlier_wording: str | None = None
    scale: Scale | None = None
    min_group_size: int = 1
    # Everything the rendered parts depend on besides ``own`` and the element ids;
    # None when the source round is not closed (then nothing is reused).
    cache_key: tuple[Any, ...] | None = None

    def panel_part(self, ident: str) -> Markup:
        """The whole panel's histogram and numbers, with the own rating marked."""
        key = None if self.cache_key is None else ("panel", self.cache_key, self.own, ident)
        return render_once(key, FEEDBACK_TEMPLATE, "panel_part", self, ident)

    def groups_part(self, ident: str) -> Markup:
        """The stakeholder groups' numbers, the hidden-groups note and the comments."""
        key = None if self.cache_key is None else ("groups", self.cache_key, ident)
        return render_once(key, FEEDBACK_TEMPLATE, "groups_part", self, ident)


@lru_cache(maxsize=32)
def _rows_by_item(result_id: int, computed_at: str, round_number: int
                  ) -> dict[str, dict[str | None, dict[str, Any]]]:
    """Index a stored result's item objects by item label and group (cached per result)."""
    data = as_json(db.session.get(RoundResult, result_id).analysis)  # the version checked
    index: dict[str, dict[str | None, dict[str, Any]]] = {}
    for row in data["items"]:
        if row["round"] == round_number:
            index.setdefault(row["item"], {})[row["group"]] = row
    return index


def feedback_for(invitation: Invitation, items: list[Item]) -> dict[int, ItemFeedback]:
    """Per item id, what the panel answered in the previous round; empty in round 1."""
    rnd = invitation.round
    if rnd.number == 1 or rnd.opened_at is None:
        return {}
    found = _closed_round_before(rnd.id, rnd.opened_at.isoformat(), rnd.study_id, rnd.number)
    if found is None:
        return {}
    before_id, result_id, computed_at = found
    before = Before(before_id, rnd.number - 1, True, rnd.study)
    return _feedback(before, result_id, computed_at, invitation.panellist_id, items)


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
def _closed_round_before(round_id: int, opened_at: str, study_id: int,
                         number: int) -> tuple[int, int, datetime] | None:
    """The closed round before an open one, with its stored result's id and time.

    Read once per worker and open round: a round opens only after the one before has
    closed and its result was stored, and neither changes while the next one runs.
    """
    row = db.session.execute(
        sa.select(Round.id, Round.state, RoundResult.id, RoundResult.computed_at)
        .outerjoin(RoundResult, RoundResult.round_id == Round.id)
        .where(Round.study_id == study_id, Round.number == number - 1)
    ).first()
    if row is None or row[1] is not RoundState.CLOSED or row[2] is None:
        return None
    return row[0], row[2], row[3]


def feedback_for_round(before: Round, panellist_id: int | None,
                       items: list[Item]) -> dict[int, ItemFeedback]:
    """Per item id, the feedback of the closed round ``before`` (own ratings if a panellist)."""
    # Only the id and time: the stored data (large) is read once per result.
    result = db.session.execute(
        sa.select(RoundResult.id, RoundResult.computed_at).where(RoundResult.round_id == before.id)
    ).first()
    if result is None:
        return {}
    return _feedback(Before(before.id, before.number, before.state is RoundState.CLOSED,
                            before.study), result[0], result[1], panellist_id, items)


def _feedback(before: Before, result_id: int, computed: datetime, panellist_id: int | None,
              items: list[Item]) -> dict[int, ItemFeedback]:
    computed_at = computed.isoformat()
    rows = _rows_by_item(result_id, computed_at, before.number)
    study = before.study
    closed = before.closed
    if panellist_id is None:
        own: dict[int, int | str | None] = {}
    elif closed:
        own = _closed_round_own_answers(before.id, result_id, computed_at, panellist_id)
    else:
        own = _own_answers(before.id, panellist_id)
    comments = _closed_round_comments(before.id, result_id, computed_at) if closed \
        else round_comments(before.id)
    groups = list(study_groups(study.id, before.id, computed_at)) \
        if study.feedback_by_group else []
    base_key = (result_id, computed_at, before.id, before.number,
                tuple((g.key, g.name) for g in groups), study.min_group_size) if closed else None
    feedback: dict[int, ItemFeedback] = {}
    for item in items:
        label = item_label(item.key, item.version)
        source = item if label in rows else item.parent
        if source is not item:
            if source is None:
                continue
            label = item_label(source.key, source.version)
            if label not in rows:
                continue
        by_group = rows[label]
        entry = ItemFeedback(stats=by_group[None], own=own.get(source.id),
                             comments=list(comments.get(source.id, ())),
                             earlier_wording=source.text if source is not item else None,
                             scale=get_scale(item.scale_key),
                             min_group_size=study.min_group_size,
                             cache_key=None if base_key is None else
                             base_key + (source.id, label, item.scale_key))
        if groups:
            _add_groups(entry, by_group, groups, study.min_group_size)
        feedback[item.id] = entry
    return feedback


def _add_groups(entry: ItemFeedback, by_group: dict[str | None, dict[str, Any]],
                groups: list[GroupView], minimum: int) -> None:
    """Add the groups that may be shown, and count the hidden ones: small groups and, where
    needed, one more so that no hidden group's answers follow from the whole panel's."""
    rows = [(g.key, by_group[g.key]) for g in groups if g.key in by_group]
    shown = disclose_rows(by_group[None], rows, minimum)
    names = {g.key: g.name for g in groups}
    entry.groups = [GroupFeedback(names[key], by_group[key]) for key in shown.shown]
    entry.hidden_groups = len(shown.hidden)
    entry.withheld_groups = len(shown.withheld)


@lru_cache(maxsize=8192)
def _closed_round_own_answers(round_id: int, result_id: int, computed_at: str,
                              panellist_id: int) -> dict[int, int | str | None]:
    """A panellist's submitted answers of a closed round, read once per worker (they are fixed);
    the stored result's id and time are in the key as for the comments."""
    return _own_answers(round_id, panellist_id)


def _own_answers(round_id: int, panellist_id: int) -> dict[int, int | str | None]:
    rows = db.session.execute(
        sa.select(Rating.item_id, Rating.value, Rating.is_uts)
        .join(Response, Rating.response_id == Response.id)
        .where(Rating.round_id == round_id, Rating.panellist_id == panellist_id,
               Response.state == ResponseState.SUBMITTED)
    ).all()
    return {item_id: "UTS" if is_uts else value for item_id, value, is_uts in rows}


@lru_cache(maxsize=32)
def _closed_round_comments(round_id: int, result_id: int, computed_at: str
                           ) -> dict[int, tuple[str, ...]]:
    """The comments of a closed round, read once per worker and stored result.

    They can no longer change once the round is closed; the result's id and time are
    in the key so that a recomputed result (or another database) reads them again.
    """
    return round_comments(round_id)


def round_comments(round_id: int) -> dict[int, tuple[str, ...]]:
    """Submitted comments per item, without names, in alphabetical order (not by author)."""
    rows = db.session.execute(
        sa.select(Rating.item_id, Rating.comment).join(Response, Rating.response_id == Response.id)
        .where(Rating.round_id == round_id, Rating.comment != "",
               Response.state == ResponseState.SUBMITTED)
    ).all()
    comments: dict[int, list[str]] = {}
    for item_id, comment in rows:
        comments.setdefault(item_id, []).append(comment)
    return {k: tuple(sorted(v, key=str.casefold)) for k, v in comments.items()}
