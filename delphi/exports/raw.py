"""Raw data: the long ratings table ``delphi analyze`` reads, items, settings, comments, audit.

Panellists appear only by pseudonym.  Rounds appear once they are closed: the
answers of an open round may still change.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from ..audit import without_personal_data
from ..consensus.csvio import EXPORT_COLUMNS, UTS_COLUMN
from ..extensions import db
from ..models import (
    AuditEvent,
    Item,
    Panellist,
    Rating,
    Round,
    StakeholderGroup,
    item_label,
)
from ..results.tables import analysis_settings, study_records, submitted_ratings
from .data import StudyData, iso
from .formats import Table
from .statements import study_header

ITEM_COLUMNS = ("item", "key", "version", "section", "text", "origin", "status", "parent",
                "rounds")
COMMENT_COLUMNS = ("round", "item", "panellist", "group", "comment", "change_reason",
                   "moderated", "redacted_comment", "moderation_reason")
AUDIT_COLUMNS = ("at", "actor", "action", "detail")


def rating_rows(data: StudyData) -> list[tuple[int, str, str, str | None, int | None, int]]:
    """The long-format records of every closed round, by round, questionnaire order, panellist.

    ``rating`` is the number or None; "unable to score" is ``uts`` = 1 with no rating, so
    the rating column stays numeric for pandas and R.
    """
    if not data.closed_rounds:
        return []
    order = {(r.number, ri.item.label): ri.position
             for r in data.closed_rounds for ri in r.round_items}
    records = study_records(data.study, data.closed_rounds[-1].number)
    records.sort(key=lambda rec: (rec[0], order.get((rec[0], rec[1]), 0), rec[2]))
    return [(number, item, panellist, group, answer if isinstance(answer, int) else None,
             int(answer == "UTS")) for number, item, panellist, group, answer in records]


def ratings_table(data: StudyData) -> Table:
    return Table(list(EXPORT_COLUMNS), rating_rows(data))


def ratings_document(data: StudyData) -> list[dict[str, Any]]:
    """The long-format records as JSON objects."""
    return [{**dict(zip(EXPORT_COLUMNS, record, strict=True)), UTS_COLUMN: bool(record[-1])}
            for record in rating_rows(data)]


def item_rows(data: StudyData) -> list[dict[str, Any]]:
    """Every item and version: where it sits, where it came from, the rounds it was in."""
    rounds_of: dict[int, list[int]] = {}
    for rnd in data.study.rounds:
        for ri in rnd.round_items:
            rounds_of.setdefault(ri.item_id, []).append(rnd.number)
    return [_item_row(data, item, rounds_of.get(item.id, [])) for item in data.items]


def _item_row(data: StudyData, item: Item, rounds: list[int]) -> dict[str, Any]:
    parents = data.lineage.parents.get(item.id) or ([item.parent] if item.parent else [])
    return {"item": item.label, "key": item.key, "version": item.version,
            "section": item.section.key if item.section else None, "text": item.text,
            "origin": item.origin.value, "status": item.status.value,
            "parent": ";".join(p.label for p in parents) or None,
            "rounds": ";".join(str(n) for n in rounds) or None}


def settings_values(data: StudyData) -> dict[str, Any]:
    """The analysis settings (the options of ``delphi analyze``) and when they were locked."""
    return {**analysis_settings(data.study).to_dict(),
            "locked_at": iso(data.study.consensus.locked_at)}


def comment_rows(data: StudyData) -> list[dict[str, Any]]:
    """Comments and reasons for a changed rating from submitted answer sheets, by pseudonym.

    ``comment`` is as written; a moderated one has ``moderated`` "hidden" (the panel and
    the report read nothing) or "redacted" (they read ``redacted_comment``), and the
    team's ``moderation_reason``.
    """
    rows = db.session.execute(
        submitted_ratings(Round.number, Item.key, Item.version, Panellist.pseudonym,
                          StakeholderGroup.key, Rating.comment, Rating.change_reason,
                          Rating.moderation, Rating.redacted_comment, Rating.moderation_reason)
        .where(Round.study_id == data.study.id,
               Round.id.in_([r.id for r in data.closed_rounds]),
               sa.or_(Rating.comment != "", Rating.change_reason != ""))
        .order_by(Round.number, Item.position, Item.key, Item.version, Panellist.pseudonym)
    ).all()
    return [dict(zip(COMMENT_COLUMNS, (number, item_label(key, version), pseudonym, group, comment,
                                       reason, moderation or "",
                                       redacted if moderation == "redacted" else "",
                                       why if moderation else ""), strict=True))
            for number, key, version, pseudonym, group, comment, reason, moderation, redacted, why
            in rows]


def audit_rows(data: StudyData) -> list[dict[str, Any]]:
    """The study's audit log, oldest first."""
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.study_id == data.study.id)
        .order_by(AuditEvent.created_at, AuditEvent.id)).all()
    # Panellists appear by pseudonym only: an edit's names and addresses are left out.
    return [{"at": iso(e.created_at), "actor": e.actor, "action": e.action,
             "detail": without_personal_data(e.detail or {})} for e in events]


def raw_tables(data: StudyData) -> dict[str, Table]:
    """The raw data as named tables (CSV files of a ZIP, or sheets of a workbook)."""
    settings = settings_values(data)
    audit = [{**row, "detail": json.dumps(row["detail"], sort_keys=True, ensure_ascii=False)}
             for row in audit_rows(data)]
    return {
        "ratings": ratings_table(data),
        "items": Table.from_dicts(ITEM_COLUMNS, item_rows(data)),
        "settings": Table(["setting", "value"], [
            (k, json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
            for k, v in settings.items()]),
        "comments": Table.from_dicts(COMMENT_COLUMNS, comment_rows(data)),
        "audit": Table.from_dicts(AUDIT_COLUMNS, audit),
    }


def raw_document(data: StudyData) -> dict[str, Any]:
    """The raw data as one JSON document."""
    return {
        "study": study_header(data),
        "settings": settings_values(data),
        "items": item_rows(data),
        "ratings": ratings_document(data),
        "comments": comment_rows(data),
        "audit": audit_rows(data),
    }
