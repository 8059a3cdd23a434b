"""The results page's controls (filters, sorts), the open suggestions, what finishing leaves."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..extensions import db
from ..models import Round, RoundState, Study, Suggestion
from ..results.items import BetweenRounds, ItemResult, between_rounds

FILTERS = {
    "all": "All statements",
    "consensus_in": "Consensus in",
    "consensus_out": "Consensus out",
    "no_consensus": "No consensus",
    "groups_disagree": "Verdict differs by group",
    "rule_dependent": "Verdict depends on the rule",
    "group_rule_matters": "Group rule changes the verdict",
    "undecided": "Not decided yet",
}
SORTS = {
    "position": "Questionnaire order",
    "agree_desc": "% agreement, highest first",
    "agree_asc": "% agreement, lowest first",
    "iqr": "IQR, smallest first",
    "key": "Key",
}


def apply_view(results: list[ItemResult], filter_key: str, sort_key: str) -> list[ItemResult]:
    """Filter and sort the rows as the page's controls ask."""
    chosen = {
        "all": lambda r: True,
        "consensus_in": lambda r: r.status == "consensus_in",
        "consensus_out": lambda r: r.status == "consensus_out",
        "no_consensus": lambda r: r.status in ("no_consensus", None),
        "groups_disagree": lambda r: r.groups_disagree,
        "rule_dependent": lambda r: r.rule_dependent,
        "group_rule_matters": lambda r: r.group_rule_matters,
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
        sa.select(Suggestion).where(Suggestion.round_id == rnd.id, Suggestion.state == "open",
                                    Suggestion.resulting_item_id.is_(None))
        .order_by(Suggestion.item_id.is_not(None), Suggestion.id)))


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
