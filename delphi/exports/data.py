"""What every export reads: the study, its stored results, decisions and item lineage.

Statistics come from the stored result of the last closed round, which holds
every round up to it; nothing is recomputed at export time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from ..consensus.disclosure import Disclosure, disclose_rows
from ..consensus.schema import AnalysisResult
from ..extensions import db
from ..models import (
    DecisionKind,
    Item,
    ItemDecision,
    ItemLink,
    MeetingOutcome,
    Round,
    RoundResult,
    RoundState,
    Study,
    stored_analysis,
    utcnow,
)

ENDING_KINDS = (DecisionKind.DROP, DecisionKind.REWORD, DecisionKind.MERGE, DecisionKind.SPLIT)


@dataclass
class Lineage:
    """Which decision created or ended each item, and what it came from or became."""

    parents: dict[int, list[Item]] = field(default_factory=dict)
    children: dict[int, list[Item]] = field(default_factory=dict)
    created_by: dict[int, ItemDecision] = field(default_factory=dict)
    ended_by: dict[int, ItemDecision] = field(default_factory=dict)


@dataclass
class StudyData:
    """A study with its stored results indexed for the exports."""

    study: Study
    generated_at: datetime
    result: AnalysisResult | None
    closed_rounds: list[Round]
    items: list[Item]
    decisions: list[ItemDecision]
    lineage: Lineage
    rows: dict[tuple[int, str, str | None], dict[str, Any]] = field(default_factory=dict)
    # The final consensus meeting's outcome per item id (empty until one is recorded).
    meeting: dict[int, MeetingOutcome] = field(default_factory=dict)

    def section(self, name: str) -> list[dict[str, Any]]:
        """The rows of one section of the stored analysis (``stability``, ``panel``,
        ``response``, ``attrition_bias``), empty before a round has closed."""
        return cast(dict[str, Any], self.result)[name] if self.result else []

    @property
    def rounds(self) -> list[int]:
        """The round numbers the stored result covers."""
        return list(self.result["rounds"]) if self.result else []

    def row(self, number: int, label: str, group: str | None = None) -> dict[str, Any] | None:
        """The stored item object of one round, item and group (None: the pooled panel)."""
        return self.rows.get((number, label, group))

    def group_rows(self, number: int, label: str) -> list[tuple[str, dict[str, Any]]]:
        """The stored group objects of one item in one round, in the study's group order."""
        found = [(g.key, self.rows.get((number, label, g.key))) for g in self.study.groups]
        return [(key, row) for key, row in found if row is not None]

    def disclosure(self, number: int, label: str) -> Disclosure:
        """Which groups of one item in one round a published export may show (see
        ``delphi.consensus.disclosure``): the same decision as the panellists' feedback."""
        pooled = self.row(number, label)
        groups = self.group_rows(number, label)
        if pooled is None:
            return Disclosure(self.study.min_group_size, (), tuple(k for k, _ in groups), ())
        return disclose_rows(pooled, groups, self.study.min_group_size)

    def shown_group_rows(self, number: int, label: str
                         ) -> list[tuple[str, dict[str, Any] | None]]:
        """The group objects a published export may show: every group in the study's order,
        with None for a group that must stay hidden (too small, or withheld so that a small
        group's answers cannot be worked out from the whole panel's)."""
        shown = self.disclosure(number, label)
        return [(key, row if shown.is_shown(key) else None)
                for key, row in self.group_rows(number, label)]

    @property
    def settings_block(self) -> dict[str, Any]:
        return dict(cast(dict[str, Any], self.result["settings"])) if self.result else {}

    def group_name(self, key: str | None) -> str:
        names = {g.key: g.name for g in self.study.groups}
        return "Whole panel" if key is None else names.get(key, key)


def ordered_items(study: Study) -> list[Item]:
    """Every item of the study, versions and all, in questionnaire order."""
    sections = {s.id: s.position for s in study.sections}
    return sorted(study.items, key=lambda i: (sections.get(i.section_id, 0), i.position, i.key,
                                              i.version, i.id))


def closed_rounds(study: Study) -> list[Round]:
    return [r for r in study.rounds if r.state is RoundState.CLOSED]


def stored_result(rounds: list[Round]) -> AnalysisResult | None:
    """The stored statistics of the last closed round (they hold every round before it),
    read through the schema (a result this version cannot read is refused, not misread)."""
    if not rounds:
        return None
    data = db.session.scalar(sa.select(RoundResult.data)
                             .where(RoundResult.round_id == rounds[-1].id))
    return None if data is None else stored_analysis(data)


def lineage(study: Study, decisions: list[ItemDecision]) -> Lineage:
    """Index the decisions by the items they created and ended."""
    found = Lineage()
    for decision in decisions:
        for subject in decision.subjects:
            if decision.kind in ENDING_KINDS:
                found.ended_by[subject.item_id] = decision
            elif decision.kind is DecisionKind.ADD:
                found.created_by[subject.item_id] = decision
    links = db.session.scalars(
        sa.select(ItemLink).join(ItemDecision).where(ItemDecision.study_id == study.id)
        .order_by(ItemLink.id)).all()
    for link in links:
        found.parents.setdefault(link.child_id, []).append(link.parent)
        found.children.setdefault(link.parent_id, []).append(link.child)
        found.created_by[link.child_id] = link.decision
    return found


def load(study: Study, generated_at: datetime | None = None) -> StudyData:
    """Read everything the exports of ``study`` need."""
    rounds = closed_rounds(study)
    result = stored_result(rounds)
    decisions = list(db.session.scalars(
        sa.select(ItemDecision).where(ItemDecision.study_id == study.id)
        .order_by(ItemDecision.after_round, ItemDecision.id)))
    items = cast(list[dict[str, Any]], result["items"]) if result else []
    rows = {(r["round"], r["item"], r["group"]): r for r in items}
    meeting = {m.item_id: m for m in db.session.scalars(
        sa.select(MeetingOutcome).where(MeetingOutcome.study_id == study.id))}
    return StudyData(study=study, generated_at=generated_at or utcnow(), result=result,
                     closed_rounds=rounds, items=ordered_items(study), decisions=decisions,
                     lineage=lineage(study, decisions), rows=rows, meeting=meeting)


def short_time(when: datetime | None) -> str:
    """A UTC timestamp for tables: ``2026-01-05 09:00``."""
    return "–" if when is None else when.strftime("%Y-%m-%d %H:%M")


def iso(when: datetime | None) -> str | None:
    """A UTC timestamp as ISO 8601 text, seconds precision."""
    if when is None:
        return None
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
