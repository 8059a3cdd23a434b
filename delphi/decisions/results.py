"""The stored results of a round, arranged for the results page: filter, sort, join items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..models import (
    DecisionSubject,
    Item,
    ItemDecision,
    Round,
    RoundResult,
    Study,
    Suggestion,
)
from ..panel.feedback import round_comments
from ..rounds.operations import item_label

FILTERS = {
    "all": "All statements",
    "consensus_in": "Consensus in",
    "consensus_out": "Consensus out",
    "no_consensus": "No consensus",
    "groups_disagree": "Verdict differs by group",
    "rule_dependent": "Verdict depends on the rule",
    "undecided": "Not decided yet",
}
SORTS = {
    "position": "Questionnaire order",
    "agree_desc": "% agreement, highest first",
    "agree_asc": "% agreement, lowest first",
    "iqr": "IQR, smallest first",
    "key": "Key",
}


@dataclass
class ItemResult:
    """One statement's pooled row, its group rows, stability, comments and decision."""

    item: Item
    pooled: dict[str, Any]
    groups: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stability: dict[str, Any] | None = None
    comments: list[str] = field(default_factory=list)
    decision: ItemDecision | None = None

    @property
    def verdict(self) -> str | None:
        return self.pooled.get("verdict")


def stored_result(rnd: Round) -> RoundResult | None:
    return db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))


def item_results(study: Study, rnd: Round, result: RoundResult) -> list[ItemResult]:
    """Every statement of the round with its stored numbers, in questionnaire order."""
    rows: dict[str, dict[str | None, dict[str, Any]]] = {}
    for row in result.data["items"]:
        if row["round"] == rnd.number:
            rows.setdefault(row["item"], {})[row["group"]] = row
    stability = {s["item"]: s for s in result.data.get("stability", [])
                 if s["to_round"] == rnd.number and s["group"] is None}
    names = {g.key: g.name for g in study.groups}
    comments = round_comments(rnd.id)
    decisions = _decisions(study, rnd.number)
    out = []
    for item in rnd.items:
        label = item_label(item.key, item.version)
        by_group = rows.get(label, {})
        if None not in by_group:
            continue
        out.append(ItemResult(
            item=item, pooled=by_group[None],
            groups=[(names.get(k, k), v) for k, v in by_group.items() if k is not None],
            stability=stability.get(label), comments=list(comments.get(item.id, ())),
            decision=decisions.get(item.id),
        ))
    return out


def _decisions(study: Study, after_round: int) -> dict[int, ItemDecision]:
    rows = db.session.execute(
        sa.select(DecisionSubject.item_id, ItemDecision)
        .join(ItemDecision, DecisionSubject.decision_id == ItemDecision.id)
        .where(ItemDecision.study_id == study.id, ItemDecision.after_round == after_round)
        .order_by(ItemDecision.id)
    ).all()
    return {item_id: decision for item_id, decision in rows}


def apply_view(results: list[ItemResult], filter_key: str, sort_key: str) -> list[ItemResult]:
    """Filter and sort the rows as the page's controls ask."""
    chosen = {
        "all": lambda r: True,
        "consensus_in": lambda r: r.verdict == "consensus_in",
        "consensus_out": lambda r: r.verdict == "consensus_out",
        "no_consensus": lambda r: r.verdict == "no_consensus",
        "groups_disagree": lambda r: bool(r.pooled.get("groups_disagree")),
        "rule_dependent": lambda r: bool(r.pooled.get("rule_dependent")),
        "undecided": lambda r: r.decision is None,
    }.get(filter_key, lambda r: True)
    rows = [r for r in results if chosen(r)]
    missing = float("inf")
    keys = {
        "agree_desc": lambda r: -(r.pooled.get("pct_agree") or 0),
        "agree_asc": lambda r: r.pooled.get("pct_agree") or 0,
        "iqr": lambda r: r.pooled.get("iqr") if r.pooled.get("iqr") is not None else missing,
        "key": lambda r: (r.item.key, r.item.version),
    }
    if sort_key in keys:
        rows.sort(key=keys[sort_key])
    return rows


def open_suggestions(rnd: Round) -> list[Suggestion]:
    """Panellists' suggestions of this round that have not become statements."""
    return list(db.session.scalars(
        sa.select(Suggestion).where(Suggestion.round_id == rnd.id,
                                    Suggestion.resulting_item_id.is_(None))
        .order_by(Suggestion.item_id.is_not(None), Suggestion.id)))
