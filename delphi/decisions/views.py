"""The results of a round, the decisions made on them, the preview of the next round."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for

from ..consensus.words import fleiss_reason
from ..console import (
    EmptyForm,
    actor,
    can,
    facilitator_blueprint,
    field_text,
    get_study_or_404,
    requires,
    run_use_case,
    unconfirmed,
)
from ..extensions import db
from ..limits import bounded_int
from ..models import (
    AuditEvent,
    DomainError,
    DropOutcome,
    Item,
    ItemDecision,
    ItemStatus,
    Round,
    RoundState,
    Section,
    Study,
    Suggestion,
)
from ..results.items import item_results, stored_result, summary
from ..roles import Permission
from ..uow import unit_of_work
from . import operations as ops
from .forms import (
    AddForm,
    CarryForm,
    DismissSuggestionForm,
    DropForm,
    MeetingOutcomeForm,
    MergeForm,
    MergeSuggestionsForm,
    RewordForm,
    SplitForm,
)
from .results import FILTERS, SORTS, apply_view, finish_facts, open_suggestions

bp = facilitator_blueprint("decisions", __name__, "/studies/<slug>")


def _round_or_404(study: Study, number: int) -> Round:
    rnd = db.session.scalar(sa.select(Round).where(Round.study_id == study.id,
                                                   Round.number == number))
    if rnd is None:
        abort(404)
    return rnd


def _deciding(study: Study, rnd: Round) -> bool:
    """Decisions are made on the latest round once it has closed, by a role that may."""
    return (rnd is study.current_round and rnd.state is RoundState.CLOSED
            and not study.is_closed_for_good and can(Permission.DECIDE))


@bp.route("/rounds/<int:number>/results")
@requires(Permission.VIEW_RESULTS)
def results(slug: str, number: int):
    study = get_study_or_404(slug)
    rnd = _round_or_404(study, number)
    stored = stored_result(rnd)
    filter_key = request.args.get("show", "all")
    sort_key = request.args.get("sort", "position")
    analysis = stored.analysis if stored else None
    everything = item_results(study, rnd, stored) if stored else []
    rows = apply_view(everything, filter_key, sort_key)
    panel = next((p for p in analysis["panel"] if p["round"] == number), None) \
        if analysis else None
    response = [r for r in analysis["response"] if r["round"] == number] if analysis else []
    deciding = _deciding(study, rnd)
    return render_template(
        "decisions/results.html", study=study, round=rnd, result=stored, analysis=analysis,
        rows=rows, panel=panel, response=response, filters=FILTERS, sorts=SORTS, show=filter_key,
        sort=sort_key, deciding=deciding, suggestions=open_suggestions(rnd) if deciding else [],
        forms=_forms(), decisions=_decisions_after(study, rnd) if deciding else [],
        sections=[(s.id, s.title) for s in study.sections],
        active_items=[i for i in study.items if i.status is ItemStatus.ACTIVE],
        group_names={g.key: g.name for g in study.groups}, counts=summary(everything),
        fleiss_reason=fleiss_reason(panel),
    )


def _forms() -> dict[str, Any]:
    return {"carry": CarryForm(), "drop": DropForm(), "reword": RewordForm(),
            "merge": MergeForm(), "split": SplitForm(), "add": AddForm(),
            "dismiss": DismissSuggestionForm(), "merge_suggestions": MergeSuggestionsForm()}


def _decisions_after(study: Study, rnd: Round) -> list[ItemDecision]:
    return list(db.session.scalars(
        sa.select(ItemDecision).where(ItemDecision.study_id == study.id,
                                      ItemDecision.after_round == rnd.number)
        .order_by(ItemDecision.id)))


@bp.route("/decisions/<int:decision_id>/undo", methods=["POST"])
@requires(Permission.DECIDE)
def undo(slug: str, decision_id: int):
    """Undo a decision made after the latest round, before the next launch."""
    study = get_study_or_404(slug)
    decision = db.session.get(ItemDecision, decision_id)
    if decision is None or decision.study_id != study.id:
        abort(404)
    kind = decision.kind.value
    return _decide(study, EmptyForm(), lambda: ops.undo_decision(study, decision, actor()),
                   f"The {kind} decision is undone.")


def _suggestion_or_404(study: Study, suggestion_id: int | None) -> Suggestion:
    suggestion = db.session.get(Suggestion, suggestion_id) if suggestion_id else None
    if suggestion is None or suggestion.round.study_id != study.id:
        abort(404)
    return suggestion


@bp.route("/suggestions/<int:suggestion_id>/dismiss", methods=["POST"])
@requires(Permission.DECIDE)
def dismiss_suggestion(slug: str, suggestion_id: int):
    study = get_study_or_404(slug)
    suggestion = _suggestion_or_404(study, suggestion_id)
    form = DismissSuggestionForm()
    return _decide(study, form, lambda: ops.dismiss_suggestion(
        study, suggestion, field_text(form.reason), actor()), "The suggestion is set aside.")


@bp.route("/suggestions/<int:suggestion_id>/split", methods=["POST"])
@requires(Permission.DECIDE)
def split_suggestion(slug: str, suggestion_id: int):
    study = get_study_or_404(slug)
    suggestion = _suggestion_or_404(study, suggestion_id)
    return _decide(study, EmptyForm(), lambda: len(ops.split_suggestion(
        study, suggestion, actor())), "The suggestion is now {result} suggestions, one per line.")


@bp.route("/suggestions/merge", methods=["POST"])
@requires(Permission.DECIDE)
def merge_suggestions(slug: str):
    study = get_study_or_404(slug)
    form = MergeSuggestionsForm()
    chosen = [_suggestion_or_404(study, bounded_int(v))
              for v in request.form.getlist("suggestions")]
    return _decide(study, form, lambda: ops.merge_suggestions(
        study, chosen, field_text(form.text), actor()), "The suggestions are merged into one.")


def _item_or_404(study: Study, item_id: int) -> Item:
    item = db.session.get(Item, item_id)
    if item is None or item.study_id != study.id:
        abort(404)
    return item


def _decide(study: Study, form: Any, action: Any, success: str):
    """Run a decision from its form and go back to the latest round's results."""
    back = url_for("decisions.results", slug=study.slug,
                   number=study.current_round.number if study.current_round else 1)
    return run_use_case(action, success, back, form, failure="Nothing was changed: ")


@bp.route("/items/<int:item_id>/carry", methods=["POST"])
@requires(Permission.DECIDE)
def carry(slug: str, item_id: int):
    study = get_study_or_404(slug)
    item = _item_or_404(study, item_id)
    form = CarryForm()
    return _decide(study, form, lambda: ops.carry_forward(
        study, [item], field_text(form.reason), actor()), f"{item.label} goes to the next round.")


@bp.route("/items/<int:item_id>/drop", methods=["POST"])
@requires(Permission.DECIDE)
def drop(slug: str, item_id: int):
    study = get_study_or_404(slug)
    item = _item_or_404(study, item_id)
    form = DropForm()
    return _decide(study, form, lambda: ops.drop(
        study, item, DropOutcome(field_text(form.outcome)), field_text(form.reason), actor()),
        f"{item.label} is dropped from later rounds.")


@bp.route("/items/<int:item_id>/reword", methods=["POST"])
@requires(Permission.DECIDE)
def reword(slug: str, item_id: int):
    study = get_study_or_404(slug)
    item = _item_or_404(study, item_id)
    form = RewordForm()
    return _decide(study, form, lambda: ops.reword(
        study, item, field_text(form.text), field_text(form.reason), actor(),
        form.plain_text.data or "", form.rationale.data or ""),
        "{result.label} replaces " + item.label + ".")


@bp.route("/items/<int:item_id>/split", methods=["POST"])
@requires(Permission.DECIDE)
def split(slug: str, item_id: int):
    study = get_study_or_404(slug)
    item = _item_or_404(study, item_id)
    form = SplitForm()
    return _decide(study, form, lambda: len(ops.split(
        study, item, field_text(form.texts).splitlines(), field_text(form.reason), actor(),
        (form.plain_texts.data or "").splitlines(), form.rationale.data or "")),
        item.label + " is split into {result} statements.")


@bp.route("/decisions/merge", methods=["POST"])
@requires(Permission.DECIDE)
def merge(slug: str):
    study = get_study_or_404(slug)
    form = MergeForm()
    ids = [bounded_int(v) for v in request.form.getlist("items")]
    items = [_item_or_404(study, i) if i is not None else abort(404) for i in ids]
    return _decide(study, form, lambda: ops.merge(
        study, items, field_text(form.key), field_text(form.text), field_text(form.reason), actor(),
        form.plain_text.data or "", form.rationale.data or ""),
        "{result.label} replaces " + ", ".join(i.label for i in items) + ".")


@bp.route("/decisions/add", methods=["POST"])
@requires(Permission.DECIDE)
def add(slug: str):
    study = get_study_or_404(slug)
    form = AddForm()
    suggestion = _suggestion_or_404(study, bounded_int(form.suggestion.data)) \
        if form.suggestion.data else None

    def action():
        section = db.session.get(Section, form.section.data)
        if section is None or section.study_id != study.id:
            raise DomainError("decision.no_section", "choose a section")
        return ops.add_statement(study, section, field_text(form.key), field_text(form.text),
                                 form.rationale.data or "", field_text(form.reason), actor(),
                                 suggestion, form.plain_text.data or "")

    return _decide(study, form, action, "{result.label} is added for the next round.")


@bp.route("/finish", methods=["GET", "POST"])
@requires(Permission.DECIDE)
def finish(slug: str):
    """GET: what finishing means and what is still undecided; POST (confirmed): finish."""
    study = get_study_or_404(slug)
    if request.method == "GET":
        return render_template("rounds/confirm.html", study=study, kind="finish",
                               facts=finish_facts(study))
    refused = unconfirmed(url_for("decisions.finish", slug=slug),
                                  "the study is finished")
    if refused is not None:
        return refused
    thank = request.form.get("thank_you") == "yes"
    return _decide(study, EmptyForm(), lambda: ops.finish_study(study, actor(), thank=thank),
                   "The study is finished. Its exports are final." + (
                       " The thank-you message to the panel is in the outbox." if thank else ""))


@bp.route("/audit")
@requires(Permission.VIEW_STUDY)
def audit_log(slug: str):
    study = get_study_or_404(slug)
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.study_id == study.id)
        .order_by(AuditEvent.id.desc()).limit(1000)
    ).all()
    return render_template("decisions/audit.html", study=study, events=events)


def _meeting_page(study: Study, forms: dict[int, Any] | None = None, status: int = 200):
    from ..models import MeetingOutcome

    outcomes = {m.item_id: m for m in db.session.scalars(
        sa.select(MeetingOutcome).where(MeetingOutcome.study_id == study.id))}
    items = ops.meeting_items(study)
    forms = forms or {}
    for item in items:
        if item.id not in forms:
            saved = outcomes.get(item.id)
            forms[item.id] = MeetingOutcomeForm(
                formdata=None, prefix=f"i{item.id}",
                votes_for=saved.votes_for if saved else None,
                votes_against=saved.votes_against if saved else None,
                votes_abstain=saved.votes_abstain if saved else None,
                final_wording=(saved.final_wording or item.text) if saved else item.text)
    current = study.current_round
    ready = current is not None and current.state is RoundState.CLOSED
    return render_template("decisions/meeting.html", study=study, items=items, forms=forms,
                           outcomes=outcomes, ready=ready), status


@bp.route("/meeting")
@requires(Permission.VIEW_RESULTS)
def meeting(slug: str):
    """The final consensus meeting: its vote and endorsed wording per statement."""
    return _meeting_page(get_study_or_404(slug))


@bp.route("/meeting/<int:item_id>", methods=["POST"])
@requires(Permission.DECIDE)
def meeting_outcome(slug: str, item_id: int):
    study = get_study_or_404(slug)
    item = _item_or_404(study, item_id)
    form = MeetingOutcomeForm(prefix=f"i{item.id}")
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _meeting_page(study, {item.id: form}, 400)
    try:
        with unit_of_work():
            ops.record_meeting_outcome(study, item, form.votes_for.data,
                                       form.votes_against.data, form.votes_abstain.data,
                                       form.final_wording.data or "", actor())
    except DomainError as exc:
        form.form_errors.append(str(exc))
        return _meeting_page(study, {item.id: form}, 400)
    flash(f"The meeting's outcome for {item.label} is recorded.", "info")
    return redirect(url_for("decisions.meeting", slug=slug) + f"#item-{item.id}")
