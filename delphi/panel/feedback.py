"""What a panellist sees of the round before: the panel's distribution, own rating, comments.

The numbers, ratings and comments are read by ``delphi.results.feedback``.
A closed round never changes: its stored result (until recomputed, which changes
``computed_at``) and its submitted comments are fixed.  So the parts of the voting
page drawn from them are rendered once per worker and reused: the whole panel's
histogram and numbers once per statement and own rating, the groups and comments
once per statement.  Every input of a rendered part is in its cache key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import get_template_attribute
from markupsafe import Markup

from ..consensus.disclosure import disclose_rows
from ..consensus.scales import Scale, get_scale
from ..models import (
    Invitation,
    Item,
    Round,
    RoundState,
    item_label,
)
from ..results.feedback import (
    Before,
    GroupView,
    closed_round_before,
    closed_round_comments,
    closed_round_own_answers,
    own_answers,
    result_stamp,
    round_comments,
    rows_by_item,
    stamp,
    study_groups,
)


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


def feedback_for(invitation: Invitation, items: list[Item]) -> dict[int, ItemFeedback]:
    """Per item id, what the panel answered in the previous round; empty in round 1."""
    rnd = invitation.round
    if rnd.number == 1 or rnd.opened_at is None:
        return {}
    found = closed_round_before(rnd.id, rnd.opened_at.isoformat(), rnd.study_id, rnd.number)
    if found is None:
        return {}
    before_id, result_id = found
    before = Before(before_id, rnd.number - 1, True, rnd.study)
    return _feedback(before, result_id, stamp(result_id), invitation.panellist_id, items)


def feedback_for_round(before: Round, panellist_id: int | None,
                       items: list[Item]) -> dict[int, ItemFeedback]:
    """Per item id, the feedback of the closed round ``before`` (own ratings if a panellist)."""
    result_id = result_stamp(before.id)
    if result_id is None:
        return {}
    return _feedback(Before(before.id, before.number, before.state is RoundState.CLOSED,
                            before.study), result_id, stamp(result_id), panellist_id, items)


def _feedback(before: Before, result_id: int, computed_at: str, panellist_id: int | None,
              items: list[Item]) -> dict[int, ItemFeedback]:
    rows = rows_by_item(result_id, computed_at, before.number)
    study = before.study
    closed = before.closed
    if panellist_id is None:
        own: dict[int, int | str | None] = {}
    elif closed:
        own = closed_round_own_answers(before.id, result_id, computed_at, panellist_id)
    else:
        own = own_answers(before.id, panellist_id)
    comments = closed_round_comments(before.id, result_id, computed_at) if closed \
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
