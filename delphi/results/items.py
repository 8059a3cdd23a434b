"""The stored results of a round joined to its statements, comments and decisions: the
rows of the results page, the facts of the confirmation pages."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from ..consensus.rules import RULES
from ..consensus.schema import AttritionRow, ItemRow, StabilityRow
from ..extensions import db
from ..models import (
    DecisionSubject,
    Item,
    ItemDecision,
    ItemStatus,
    Round,
    RoundResult,
    RoundState,
    Study,
    item_label,
)
from .feedback import round_comments

# A RAND/UCLA class read as a consensus status (in / none / out).
STATUS_OF_VERDICT = {
    "consensus_in": "consensus_in", "appropriate": "consensus_in",
    "consensus_out": "consensus_out", "inappropriate": "consensus_out",
    "no_consensus": "no_consensus", "uncertain": "no_consensus",
}


def status(verdict: str | None) -> str | None:
    """The consensus status (in / none / out) of a verdict under any rule."""
    return STATUS_OF_VERDICT.get(verdict) if verdict else None


@dataclass
class RuleVerdict:
    """One rule's verdict on a statement: after the study's group rule, and pooled."""

    key: str
    name: str
    verdict: str | None
    pooled: str | None

    @property
    def group_rule_changes_it(self) -> bool:
        return status(self.verdict) != status(self.pooled)


@dataclass
class GroupRow:
    """One stakeholder group's numbers; only eligible groups count towards the group rule."""

    key: str
    name: str
    stats: ItemRow
    eligible: bool


@dataclass
class ItemResult:
    """One statement's pooled row, its group rows, stability, comments and decision.

    ``verdict`` is the primary rule's verdict after the study's group rule; every
    flag is computed here from the verdicts and group rows the page shows.
    """

    item: Item
    pooled: ItemRow
    groups: list[GroupRow] = field(default_factory=list)
    stability: StabilityRow | None = None
    comments: list[str] = field(default_factory=list)
    decision: ItemDecision | None = None
    attrition: list[tuple[str, AttritionRow]] = field(default_factory=list)
    primary_rule: str = "comet"
    group_rule: str = "pooled"

    @property
    def verdict(self) -> str | None:
        return self.pooled.get("verdict")

    @property
    def status(self) -> str | None:
        return status(self.verdict)

    @property
    def rules(self) -> list[RuleVerdict]:
        """Every applicable rule's verdict after the group rule, with the pooled one beside it."""
        pooled = self.pooled.get("verdicts") or {}
        combined = self.pooled.get("combined_verdicts") or pooled
        return [RuleVerdict(key, RULES[key].name, combined.get(key), pooled.get(key))
                for key in RULES if pooled.get(key) is not None]

    @property
    def rule_dependent(self) -> bool:
        """Another rule, after the same group rule, would give another status."""
        return len({status(r.verdict) for r in self.rules}) > 1

    @property
    def group_rule_matters(self) -> bool:
        """Some rule's status after the group rule differs from its pooled status."""
        return self.group_rule != "pooled" and any(r.group_rule_changes_it for r in self.rules)

    @property
    def eligible_groups(self) -> list[GroupRow]:
        return [g for g in self.groups if g.eligible]

    @property
    def groups_disagree(self) -> bool:
        """At least two eligible groups reach different statuses under the primary rule."""
        found = {status(g.stats.get("verdict")) for g in self.eligible_groups}
        return len(self.eligible_groups) > 1 and len(found) > 1


def stored_result(rnd: Round) -> RoundResult | None:
    return db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))


def item_results(study: Study, rnd: Round, result: RoundResult) -> list[ItemResult]:
    """Every statement of the round with its stored numbers, in questionnaire order."""
    analysis = result.analysis
    rows: dict[str, dict[str | None, ItemRow]] = {}
    for row in analysis["items"]:
        if row["round"] == rnd.number:
            rows.setdefault(row["item"], {})[row["group"]] = row
    stability = {s["item"]: s for s in analysis["stability"]
                 if s["to_round"] == rnd.number and s["group"] is None}
    names = {g.key: g.name for g in study.groups}
    attrition: dict[str, list[tuple[str, AttritionRow]]] = {}
    for a in analysis["attrition_bias"]:
        if a["to_round"] == rnd.number:
            name = "Whole panel" if a["group"] is None else names.get(a["group"], a["group"])
            attrition.setdefault(a["item"], []).append((name, a))
    settings = analysis["settings"]
    minimum = settings["min_group_size"]
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
            groups=[GroupRow(k, names.get(k, k), v, v["n_valid"] >= minimum)
                    for k, v in by_group.items() if k is not None],
            stability=stability.get(label), comments=list(comments.get(item.id, ())),
            decision=decisions.get(item.id), attrition=attrition.get(label, []),
            primary_rule=settings["primary_rule"], group_rule=settings["group_rule"],
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


def summary(results: list[ItemResult]) -> dict[str, int]:
    """The counts at the top of the page, from the same verdicts and flags as the rows."""
    return {
        "statements": len(results),
        "consensus_in": sum(r.status == "consensus_in" for r in results),
        "consensus_out": sum(r.status == "consensus_out" for r in results),
        "no_consensus": sum(r.status in ("no_consensus", None) for r in results),
        "rule_dependent": sum(r.rule_dependent for r in results),
        "group_rule_matters": sum(r.group_rule_matters for r in results),
        "groups_disagree": sum(r.groups_disagree for r in results),
    }


@dataclass
class BetweenRounds:
    """The latest closed round's statements that still go on: without a decision, and
    those the panel already rejected (consensus out) that would be asked again."""

    undecided: list[Item] = field(default_factory=list)
    consensus_out: list[Item] = field(default_factory=list)


def between_rounds(study: Study) -> BetweenRounds:
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
