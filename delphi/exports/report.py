"""The study report: methods, participant and item flow, per-round tables, statements, checklist.

The report is one HTML page that prints well (and becomes a PDF with the
optional WeasyPrint).  Every text a person typed is autoescaped by Jinja.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import current_app, render_template
from markupsafe import Markup

from ..consensus.methods import methods_sentences
from ..consensus.scales import Scale
from ..consensus.settings import Settings
from ..consensus.words import fleiss_reason
from ..models import Round
from ..results.tables import analysis_settings
from .characteristics import characteristics, participants
from .checklist import TEAM_FIELDS, accord_rows, credes_rows, delphistar_rows
from .data import StudyData, iso, short_time
from .facts import accord_facts
from .flow import (
    BOX_WIDTH,
    LINE_HEIGHT,
    consent_counts,
    decision_counts,
    decision_rows,
    flow_text,
    item_flow,
    origin_counts,
    participant_flow,
    participant_rows,
    reminders_per_round,
    study_changes,
)
from .statements import STATUS_TEXT, statement_rows

# WeasyPrint draws an inline SVG on its own, without the page's style sheet.
CHART_STYLE = ("<style>svg.histogram .bar-disagree{fill:#d9776f} svg.histogram .bar-mid"
               "{fill:#a5a5a5} svg.histogram .bar-agree{fill:#4c9a5a} svg.histogram text"
               "{font-size:10px;text-anchor:middle;fill:#333;font-family:sans-serif}</style>")
# The histogram's band colours (static/report.css), for the PDF's distribution strip.
BAND_COLOURS = {"agree": "#4c9a5a", "mid": "#a5a5a5", "disagree": "#d9776f"}


def distribution_strip(counts: list[int], scale: Scale) -> Markup:
    """A rating distribution as one strip: each scale point a segment as wide as its share,
    in its band's colour, with a thin gap between. A small SVG of plain rectangles (no
    style sheet, no text: the numbers are written beside it, so it is hidden from screen
    readers): far cheaper for the PDF to lay out and draw than a histogram per statement,
    and no inline style, which the pages' Content-Security-Policy refuses."""
    total = sum(counts)
    if not total:
        return Markup("")
    rects, start = [], 0.0
    for offset, count in enumerate(counts):
        if not count:
            continue
        value = scale.low + offset
        band = ("agree" if value in scale.agree_band else
                "disagree" if value in scale.disagree_band else "mid")
        width = 100 * count / total
        rects.append(Markup('<rect x="{}" width="{}" height="1" fill="{}"/>').format(
            f"{start:.2f}", f"{max(width - 0.6, 0.3):.2f}", BAND_COLOURS[band]))
        start += width
    return Markup('<svg class="strip" viewBox="0 0 100 1" preserveAspectRatio="none" '
                  'aria-hidden="true" focusable="false">{}</svg>').format(Markup("").join(rects))


def report_fields(data: StudyData) -> dict[str, str]:
    """The team's texts, one per field key (empty when not written yet)."""
    stored = data.study.report_fields or {}
    return {f.key: str(stored.get(f.key, "") or "") for f in TEAM_FIELDS}


def engine_settings(data: StudyData) -> Settings:
    """The settings the engine used (the stored block), or the study's own before any result."""
    block = data.settings_block
    return Settings.from_dict(block) if block else analysis_settings(data.study)


def methods(data: StudyData) -> dict[str, Any]:
    """What the methods section states: sentences and parameters from the settings the engine
    used (the stored settings block), so the text says exactly what was computed."""
    settings, consensus = data.settings_block, data.study.consensus
    used = engine_settings(data)
    return {
        "sentences": methods_sentences(used),
        "parameters": {**used.to_dict(), "round_thresholds": "; ".join(
            f"from round {n}: " + ", ".join(f"{k} {v}" for k, v in values.items())
            for n, values in used.to_dict()["round_thresholds"].items()) or "none"},
        "locked_at": iso(consensus.locked_at),
        "settings": settings,
        "software": settings.get("software"),
        "software_version": settings.get("software_version"),
        "numpy_version": settings.get("numpy_version"),
        "scipy_version": settings.get("scipy_version"),
    }


def round_rows(data: StudyData) -> list[dict[str, Any]]:
    """Each round's dates and size, for the conduct table (ACCORD M11, R1)."""
    reminders = reminders_per_round(data)
    return [{"number": r.number, "state": r.state.value, "opened": short_time(r.opened_at),
             "closed": short_time(r.closed_at),
             "days": _days(r), "n_items": len(r.round_items),
             "invited": len(r.invitations), "suggestions": r.allow_suggestions,
             "reminders": reminders.get(r.number, 0)} for r in data.study.rounds]


def _days(rnd: Round) -> float | None:
    if rnd.opened_at is None or rnd.closed_at is None:
        return None
    return round((rnd.closed_at - rnd.opened_at).total_seconds() / 86400, 1)


def round_tables(data: StudyData) -> list[dict[str, Any]]:
    """Per closed round: each statement with its pooled and group numbers.

    A report is published: a group that must stay hidden (fewer valid ratings than the
    study's minimum group size, or withheld so that such a group's answers cannot be
    worked out from the whole panel's) is listed without its numbers, as on the feedback
    page; ``hidden`` tells the table to explain why.

    The PDF shows the same numbers as one row per statement with a column per group
    (``columns``: the groups rated in that round, in the study's order; ``by_key``: each
    row's group objects, None where hidden, absent where the group gave no rating).
    """
    tables = []
    for rnd in data.closed_rounds:
        rows: list[dict[str, Any]] = []
        rated: set[str] = set()
        for item in rnd.items:
            pooled = data.row(rnd.number, item.label)
            if pooled is None:
                continue
            shown = data.shown_group_rows(rnd.number, item.label)
            rated.update(k for k, _ in shown)
            groups = [(data.group_name(k), row) for k, row in shown]
            rows.append({"item": item, "label": item.label, "stats": pooled, "groups": groups,
                         "by_key": dict(shown)})
        columns = [(g.key, g.name) for g in data.study.groups if g.key in rated]
        tables.append({"number": rnd.number, "rows": rows, "columns": columns,
                       "hidden": any(g is None for r in rows for _, g in r["groups"])})
    return tables


def panel_agreement(data: StudyData) -> list[dict[str, Any]]:
    """Each closed round's panel-level agreement, with why Fleiss' kappa is null where it is."""
    return [{**row, "fleiss_reason": fleiss_reason(row)} for row in data.section("panel")]


def stability_tables(data: StudyData) -> list[dict[str, Any]]:
    """Per pair of rounds: each statement's paired tests for the whole panel."""
    found: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in data.section("stability"):
        if row["group"] is None and row["n_paired"]:
            found.setdefault((row["from_round"], row["to_round"]), []).append(row)
    return [{"from_round": a, "to_round": b, "rows": rows} for (a, b), rows in found.items()]


def attrition_table(data: StudyData) -> list[dict[str, Any]]:
    """Attrition bias per statement: the whole panel, then each group when that is safe.

    The report is published, so a group's row must not give away the round-1 ratings of
    the few who left (a group with one dropout would show that person's rating as the
    dropouts' median). Per statement, group rows are shown only when every group has at
    least ``min_group_size`` panellists on each side (stayed and dropped); otherwise
    none is, since the whole panel's row minus the shown groups would give away the
    hidden one (see consensus/disclosure.py for the same reasoning on feedback).
    """
    minimum = data.study.min_group_size
    pooled: list[dict[str, Any]] = []
    by_item: dict[Any, list[dict[str, Any]]] = {}
    for row in data.section("attrition_bias"):
        if row.get("group") is None:
            pooled.append(row)
        else:
            by_item.setdefault(row.get("item"), []).append(row)
    rows = []
    for row in pooled:
        rows.append({**row, "name": data.group_name(None)})
        groups = by_item.get(row.get("item"), [])
        if groups and all(g["n_stayed"] >= minimum and g["n_dropped"] >= minimum
                          for g in groups):
            rows.extend({**g, "name": data.group_name(g["group"])} for g in groups)
    return rows


def panel_groups(data: StudyData) -> list[dict[str, Any]]:
    """The stakeholder groups with their panel size."""
    return [{"name": g.name, "key": g.key,
             "panellists": sum(1 for p in g.panellists if p.is_active)}
            for g in data.study.groups]


def report_context(data: StudyData) -> dict[str, Any]:
    """Everything the report template shows."""
    study = data.study
    fields = report_fields(data)
    facts = accord_facts(data)
    consent, participant_table = consent_counts(study), participant_rows(data)
    boxes, height = participant_flow(data, consent, participant_table)
    described = participants(study)
    item_boxes, item_height = item_flow(data)
    return {
        "study": study, "scale": study.scale, "generated_at": iso(data.generated_at),
        "fields": fields, "team_fields": {f.key: f for f in TEAM_FIELDS},
        "draft_title": f"{study.title}: a {study.method} study in {len(data.closed_rounds)} "
                       f"round{'s' if len(data.closed_rounds) != 1 else ''}",
        "methods": methods(data), "rounds": round_rows(data), "groups": panel_groups(data),
        "participants": participant_table, "flow_boxes": boxes, "flow_height": height,
        "flow_width": BOX_WIDTH, "flow_line": LINE_HEIGHT, "flow_text": flow_text(boxes),
        "item_boxes": item_boxes, "item_height": item_height,
        "item_text": flow_text(item_boxes),
        "origins": origin_counts(data), "decisions": decision_rows(data),
        "decision_counts": decision_counts(data.decisions), "changes": study_changes(data),
        "round_tables": round_tables(data), "statements": statement_rows(data),
        "panel_agreement": panel_agreement(data), "stability_tables": stability_tables(data),
        "attrition": attrition_table(data), "consent": consent,
        "characteristics": characteristics(described, study.min_group_size),
        "panel_size": len(described),
        "pilot": facts["M16"], "conflicts": facts["O2"],
        "status_text": STATUS_TEXT, "accord": accord_rows(fields, facts),
        "credes": credes_rows(fields, facts), "delphistar": delphistar_rows(),
    }


def chart_function(standalone: bool) -> Callable[..., Markup]:
    """The histogram macro of the voting page, with its colours inside the SVG when standalone."""
    module = current_app.jinja_env.get_template("panel/_histogram.html").module
    histogram = vars(module)["histogram"]  # a template's macros are its module's attributes

    def chart(stats: dict[str, Any], scale: Any, ident: str) -> Markup:
        svg = str(histogram(stats, scale, ident=ident, small=True))
        if standalone:
            svg = svg.replace("<title", CHART_STYLE + "<title", 1)
        return Markup(svg)  # noqa: S704 - the macro's own autoescaped output

    return chart


def report_css() -> Markup:
    """The report's own style sheet, for inlining into a file that stands alone."""
    path = Path(current_app.static_folder or "static") / "report.css"
    return Markup(path.read_text(encoding="utf-8"))  # noqa: S704 - our file, not user text


def report_html(data: StudyData, standalone: bool = True, paged: bool = False) -> str:
    """The report page; ``standalone`` inlines the CSS (downloads, PDF), else links it.

    ``paged`` is the PDF's version: the same content, with the per-round results as one
    compact row per statement (see ``round_matrix`` in the template).
    """
    return render_template("exports/report.html", standalone=standalone, paged=paged,
                           css=report_css() if standalone else None,
                           chart=chart_function(standalone), strip=distribution_strip,
                           **report_context(data))
