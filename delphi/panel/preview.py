"""The voting page as a facilitator previews it: round 1 from the builder, and the next
round with the feedback of the one that closed. Nothing is saved; both draw the panel's
own templates, so they live beside the voting page."""

from __future__ import annotations

from types import SimpleNamespace

from flask import render_template

from ..console import facilitator_blueprint, get_study_or_404, requires
from ..models import ItemStatus, RoundState
from ..results.blocks import by_id, feedback_for_round, render_statements
from ..roles import Permission
from .views import _progress, page_scale

bp = facilitator_blueprint("previews", __name__, "")


@bp.route("/studies/<slug>/build/preview")
@requires(Permission.EDIT_DEFINITION)
def round_one(slug: str):
    """Round 1's voting page as a panellist will see it: read-only, nothing is saved."""
    study = get_study_or_404(slug)
    items = render_statements(1, [i for i in study.items if i.status is ItemStatus.ACTIVE], {})
    rnd = SimpleNamespace(id=0, number=1, closes_at=None, opened_at=None,
                          allow_suggestions=True, ask_reason_on_band_change=False)
    sections = [s for s in study.sections if any(i.section_id == s.id for i in items)]
    return render_template(
        "builder/preview.html", preview=True, invitation=SimpleNamespace(id=0), round=rnd,
        study=study, items=items, sections=sections, own={}, scale_parts={}, answers={},
        errors={}, response=None, is_open=False, scale=page_scale(study, items),
        suggestion="", rewords={}, submitted=False, sheet_version="preview",
        progress=_progress(items, {}))


@bp.route("/studies/<slug>/next-round/preview")
@requires(Permission.VIEW_RESULTS)
def next_round(slug: str):
    """The next round as a panellist will see it: its statements and their feedback."""
    study = get_study_or_404(slug)
    current = study.current_round
    items = [i for i in study.items if i.status is ItemStatus.ACTIVE]
    items.sort(key=lambda i: (next((s.position for s in study.sections
                                    if s.id == i.section_id), 0), i.position))
    feedback = feedback_for_round(current, items) \
        if current is not None and current.state is RoundState.CLOSED else {}
    number = (current.number + 1) if current else 1
    return render_template(
        "decisions/preview.html", study=study, items=items, feedback=feedback,
        blocks=by_id(render_statements(number, items, feedback)),
        number=number, scale=study.scale,
        sections=[s for s in study.sections if any(i.section_id == s.id for i in items)],
    )
