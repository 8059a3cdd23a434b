"""The flows the report draws: panellists per round and group, and items between rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..audit import without_personal_data
from ..extensions import db
from ..models import (
    AuditEvent,
    ConsentRecord,
    DecisionKind,
    Invitation,
    ItemDecision,
    Panellist,
    Study,
)
from .data import StudyData, iso
from .statements import DONE, STATUS_TEXT

BOX_WIDTH = 520
LINE_HEIGHT = 16
BOX_PADDING = 10
ARROW = 34
# Audit actions that change the study after the settings were locked (ACCORD R2).
CHANGE_ACTIONS = {
    "panel.imported": "panellists added",
    "study.facilitator_added": "facilitator added",
    "invitation.revoked": "personal links revoked",
    "invitation.reissued": "personal link reissued",
    "panellist.withdrawn": "panellist withdrawn",
    "panellist.reinstated": "panellist reinstated",
    "panellist.added": "panellist added",
    "panellist.invited_late": "panellist invited to the open round",
    "panellist.edited": "panellist's details changed",
    "consent.revised": "information sheet revised",
    "comment.moderated": "comment moderated",
    # A panellist's personal data erased at their request; the detail says whether their
    # answers were deleted and which rounds' results were computed again without them.
    "panellist.erased": "personal data of a panellist erased",
    "study.finished": "study finished",
}


@dataclass
class FlowBox:
    """One round of the participant flow diagram, with its position in the SVG."""

    number: int
    lines: list[str]
    y: int = 0
    height: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""

    @property
    def heading(self) -> str:
        return self.title or f"Round {self.number}"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{round(100 * value)}%"


def participant_rows(data: StudyData) -> list[dict[str, Any]]:
    """The stored ``response`` rows with group names: invited, responded, retention."""
    return [{**row, "name": data.group_name(row["group"])}
            for row in data.section("response")]


def consent_counts(study: Study) -> dict[str, int]:
    """Panellists by their participation: invited at least once, consented, declined
    consent, not yet answered the consent question, withdrew themselves, withdrawn by
    the team (a panellist counts once per line; the last three from their standing now)."""
    panellists = study.panellists
    invited = set(db.session.scalars(
        sa.select(Invitation.panellist_id).join(Panellist)
        .where(Panellist.study_id == study.id)))
    decided: dict[int, set[str]] = {}
    for pid, decision in db.session.execute(
            sa.select(ConsentRecord.panellist_id, ConsentRecord.decision).join(Panellist)
            .where(Panellist.study_id == study.id)):
        decided.setdefault(pid, set()).add(decision)
    asks = bool(study.consent_documents)
    return {
        "invited": len(invited),
        "asks_consent": int(asks),
        "consented": sum("consented" in d for d in decided.values()),
        "declined": sum(1 for p in panellists if p.withdrawal_kind == "declined"),
        "not_answered": sum(1 for p in panellists if asks and p.id in invited
                            and p.id not in decided and p.withdrawn_at is None),
        "withdrew": sum(1 for p in panellists if p.withdrawal_kind == "self"),
        "withdrawn_by_team": sum(1 for p in panellists if p.withdrawal_kind == "team"),
    }


def consent_lines(counts: dict[str, int]) -> list[str]:
    """The consent and withdrawal counts in words, for the flow diagram."""
    lines = [f"invited: {counts['invited']}"]
    if counts["asks_consent"]:
        lines.append(f"consented: {counts['consented']}, declined: {counts['declined']}, "
                     f"not answered yet: {counts['not_answered']}")
    lines.append(f"withdrew themselves: {counts['withdrew']}, withdrawn by the team: "
                 f"{counts['withdrawn_by_team']}")
    return lines


def participant_flow(data: StudyData, consent: dict[str, int],
                     participants: list[dict[str, Any]]) -> tuple[list[FlowBox], int]:
    """Boxes for the flow diagram, top to bottom, and the height of the drawing: the
    panel's consent and withdrawals (``consent_counts``), then each round
    (``participant_rows``); the report computes both once and shows them as tables too."""
    boxes: dict[int, FlowBox] = {}
    if data.result:
        boxes[0] = FlowBox(0, consent_lines(consent), title="Panel: consent and withdrawal")
    for row in participants:
        box = boxes.setdefault(row["round"], FlowBox(row["round"], []))
        box.rows.append(row)
        text = (f"{row['name']}: invited {row['invited']}, responded {row['responded']} "
                f"({_rate(row['response_rate'])})")
        if row["group"] is None:
            text += f", retention {_rate(row['retention'])} of round {data.rounds[0]}"
        box.lines.append(text)
    return _layout(list(boxes.values()))


def _layout(boxes: list[FlowBox]) -> tuple[list[FlowBox], int]:
    """Stack the boxes top to bottom with an arrow between them; return them and the height."""
    y = 0
    for box in boxes:
        box.y = y
        box.height = 2 * BOX_PADDING + LINE_HEIGHT * (len(box.lines) + 1)
        y += box.height + ARROW
    return boxes, max(y - ARROW, 0)


def flow_text(boxes: list[FlowBox]) -> str:
    """The diagram in words, for screen readers."""
    return " ".join(f"{b.heading}: " + "; ".join(b.lines) + "." for b in boxes)


def _decision_lines(decisions: list[ItemDecision]) -> list[str]:
    """What the decisions after one round did, one kind a line, in the diagram's order."""
    subjects: dict[DecisionKind, int] = {}
    made: dict[DecisionKind, int] = {}
    outcomes: dict[str, int] = {}
    for d in decisions:
        subjects[d.kind] = subjects.get(d.kind, 0) + len(d.subjects)
        made[d.kind] = made.get(d.kind, 0) + len({link.child_id for link in d.links})
        if d.kind is DecisionKind.DROP:
            key = STATUS_TEXT.get(d.outcome.value, d.outcome.value) if d.outcome else "other"
            outcomes[key] = outcomes.get(key, 0) + len(d.subjects)
    lines = []
    if DecisionKind.CARRY in subjects:
        lines.append(f"carried forward: {subjects[DecisionKind.CARRY]}")
    for kind, verb in ((DecisionKind.REWORD, "reworded"), (DecisionKind.SPLIT, "split"),
                       (DecisionKind.MERGE, "merged")):
        if kind in subjects:
            lines.append(f"{verb}: {subjects[kind]} into {made[kind]} new")
    if DecisionKind.ADD in subjects:
        lines.append(f"added: {subjects[DecisionKind.ADD]}")
    if DecisionKind.DROP in subjects:
        detail = ", ".join(f"{v} {k}" for k, v in sorted(outcomes.items()))
        lines.append(f"dropped: {subjects[DecisionKind.DROP]} ({detail})")
    return lines


def item_flow(data: StudyData) -> tuple[list[FlowBox], int]:
    """Boxes from the round-1 statements through each round's decisions to the final list."""
    from .statements import statement_rows

    boxes: list[FlowBox] = []
    for rnd in data.study.rounds:
        if rnd.opened_at is None:
            continue
        boxes.append(FlowBox(rnd.number, [f"{len(rnd.round_items)} statements rated"]))
        after = [d for d in data.decisions if d.after_round == rnd.number]
        if after:
            boxes.append(FlowBox(rnd.number, _decision_lines(after),
                                 title=f"After round {rnd.number}"))
    if not boxes:
        return [], 0
    counts: dict[str, int] = {}
    for row in statement_rows(data):
        counts[row["final_status"]] = counts.get(row["final_status"], 0) + 1
    final = [f"{STATUS_TEXT[k]}: {counts[k]}" for k in
             ("consensus_in", "consensus_out", "no_consensus", "not_rated", "dropped")
             if counts.get(k)]
    kept = sum(counts.get(k, 0) for k in ("consensus_in", "consensus_out", "no_consensus",
                                          "not_rated"))
    boxes.append(FlowBox(0, [f"{kept} final statements", *final], title="Final statements"))
    return _layout(boxes)


def decision_rows(data: StudyData) -> list[dict[str, Any]]:
    """Each decision after a round: what it was about, what came of it, and why."""
    rows = []
    for decision in data.decisions:
        subjects = [s.item.label for s in decision.subjects]
        made = list(dict.fromkeys(link.child.label for link in decision.links))
        if decision.kind is DecisionKind.ADD:
            subjects, made = [], subjects
        rows.append({"after_round": decision.after_round, "kind": decision.kind.value,
                     "done": DONE[decision.kind], "subjects": subjects, "result": made,
                     "outcome": STATUS_TEXT.get(decision.outcome.value, decision.outcome.value)
                     if decision.outcome else None,
                     "reason": decision.reason})
    return rows


def decision_counts(decisions: list[ItemDecision]) -> list[dict[str, Any]]:
    """Per round: how many statements were carried, added, reworded, merged, split, dropped."""
    counts: dict[int, dict[str, int]] = {}
    for decision in decisions:
        row = counts.setdefault(decision.after_round, {k.value: 0 for k in DecisionKind})
        row[decision.kind.value] += max(len(decision.subjects), 1)
    return [{"after_round": n, **row} for n, row in sorted(counts.items())]


def origin_counts(data: StudyData) -> dict[str, int]:
    """How many items of each origin the study has (proposed, suggested, reworded, ...)."""
    counts: dict[str, int] = {}
    for item in data.items:
        counts[item.origin.value] = counts.get(item.origin.value, 0) + 1
    return counts


def study_changes(data: StudyData) -> list[dict[str, Any]]:
    """Audit events after the settings were locked that changed the panel or the study."""
    locked_at = data.study.consensus.locked_at
    if locked_at is None:
        return []
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.study_id == data.study.id,
                                    AuditEvent.action.in_(list(CHANGE_ACTIONS)),
                                    AuditEvent.created_at >= locked_at)
        .order_by(AuditEvent.created_at, AuditEvent.id)).all()
    return [{"at": iso(e.created_at), "what": CHANGE_ACTIONS[e.action],
             "detail": _detail_text(e.detail)} for e in events]


# Long texts the changes table leaves out (the audit log in the raw data has them).
LONG_KEYS = {"information_sheet", "statement", "attributes"}


def _detail_text(detail: dict[str, Any] | None) -> str:
    """Audit details as ``key: value`` pairs, without names and addresses of people (a
    panellist's edited details show as "[personal data]") or long texts."""
    shown = _without_long(without_personal_data(detail or {}))
    return ", ".join(f"{k}: {v}" for k, v in sorted(shown.items()) if k != "email")


def _without_long(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_long(v) for k, v in value.items() if k not in LONG_KEYS}
    return value


def reminders_per_round(data: StudyData) -> dict[int, int]:
    """Reminders queued in each round, from the audit log."""
    events = db.session.scalars(
        sa.select(AuditEvent.detail).where(AuditEvent.study_id == data.study.id,
                                           AuditEvent.action == "round.reminded")).all()
    out: dict[int, int] = {}
    for detail in events:
        number = int(detail.get("round", 0))
        out[number] = out.get(number, 0) + int(detail.get("reminders", 0))
    return out
