"""The study builder's pages: create a study, edit a draft's settings, groups, sections
and statements, preview round 1 as a panellist sees it, and download the survey file.

Every change is a POST with CSRF that rebuilds the study's definition and saves it through
``operations.save`` (the survey file's checks, then one audit event with before/after).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from ..consensus.settings import SettingsError
from ..console import EmptyForm, actor, facilitator_blueprint, get_study_or_404, requires
from ..extensions import db
from ..models import DomainError, ItemStatus, Study, StudyState
from ..roles import Permission
from ..surveys import SurveyError, dump_survey
from ..uow import unit_of_work
from . import operations as ops
from .forms import (
    CONSENSUS_FIELDS,
    CONSENSUS_ROWS,
    GroupForm,
    NewStudyForm,
    SectionForm,
    SettingsForm,
    StatementForm,
    UploadSurveyForm,
    format_references,
    parse_references,
)

bp = facilitator_blueprint("builder", __name__, "")

MAX_SURVEY_UPLOAD = 1024 * 1024
_NAME = re.compile(r"[A-Za-z_]+")


# -- creating a study -----------------------------------------------------------------

def _new_page(errors: dict[str, list[str]] | None = None, status: int = 200, **forms: Any):
    forms.setdefault("template_form", NewStudyForm(prefix="template"))
    forms.setdefault("blank_form", NewStudyForm(prefix="blank"))
    forms.setdefault("upload_form", UploadSurveyForm(prefix="upload"))
    return render_template("builder/new.html", errors=errors or {}, **forms), status


@bp.route("/studies/new")
def new():
    return _new_page()


def _create(kind: str, form: FlaskForm, make: Callable[[], Any]):
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _new_page({kind: [f"{getattr(form, n).label.text}: {' '.join(e)}"
                                 for n, e in form.errors.items()]}, 400,
                         **{f"{kind}_form": form})
    try:
        with unit_of_work():
            study = make()
    except SurveyError as exc:
        problems = exc.with_lines() if kind == "upload" else [
            _readable(p) for p in exc.problems]
        return _new_page({kind: problems}, 400, **{f"{kind}_form": form})
    except DomainError as exc:
        return _new_page({kind: [exc.render()]}, 400, **{f"{kind}_form": form})
    flash(f"The study “{study.title}” was created as a draft.", "info")
    return redirect(url_for("builder.settings", slug=study.slug))


def _readable(problem: str) -> str:
    return problem.replace("slug: ", "Short address: ", 1).replace("title: ", "Title: ", 1)


@bp.route("/studies/new/template", methods=["POST"])
def new_from_template():
    form = NewStudyForm(prefix="template")
    return _create("template", form, lambda: ops.create_from_template(
        form.slug.data or "", form.title.data or "", actor()))


@bp.route("/studies/new/blank", methods=["POST"])
def new_blank():
    form = NewStudyForm(prefix="blank")
    return _create("blank", form, lambda: ops.create_blank(
        form.slug.data or "", form.title.data or "", actor()))


@bp.route("/studies/new/upload", methods=["POST"])
def new_from_file():
    form = UploadSurveyForm(prefix="upload")

    def make():
        data = form.file.data.read(MAX_SURVEY_UPLOAD + 1)
        if len(data) > MAX_SURVEY_UPLOAD:
            raise DomainError("builder.file_too_large", "the file is larger than 1 MB")
        return ops.create_from_file(data, form.file.data.filename or "survey.yaml", actor())

    return _create("upload", form, make)


# -- editing a draft --------------------------------------------------------------------

def _attach(form: FlaskForm, exc: SurveyError, prefix: str, *,
            last: bool = False, aliases: dict[str, str] | None = None) -> list[str]:
    """Put each ``path: problem`` on the form field it is about; return the others."""
    general = []
    for problem in exc.problems:
        path, _, message = problem.partition(": ")
        if path.startswith(prefix) and path != prefix:
            rest = path[len(prefix):].lstrip(".")
            names = _NAME.findall(rest)
            name = (names[-1] if last else names[0]) if names else ""
            name = (aliases or {}).get(name, name)
            field = form._fields.get(name)
            if field is not None and name != "csrf_token":
                detail = message if rest == name or last else f"{rest}: {message}"
                field.errors = [*field.errors, detail]
                continue
        general.append(problem)
    return general


def _apply(study, change: Callable[[dict[str, Any]], tuple[str, Any, Any]]):
    """Run ``change`` on the study's current document and save it; return None, or the
    problems (a DomainError becomes a one-problem SurveyError). Nothing is saved then."""
    try:
        with unit_of_work():
            doc = ops.document(study)
            action, before, after = change(doc)
            ops.save(study, doc, actor(), action, before, after)
    except SurveyError as exc:
        return exc
    except DomainError as exc:  # e.g. a group that panellists belong to
        return SurveyError(ops.SOURCE, [exc.render()])
    return None


def _draft_or_redirect(study):
    """The study if it is a draft; else a redirect to its page saying why."""
    try:
        ops.require_draft(study)
    except DomainError as exc:
        flash(f"This study cannot be edited: {exc.render()}.", "error")
        return redirect(url_for("studies.detail", slug=study.slug))
    return None


def _page(template: str, study, status: int = 200, **context: Any):
    return render_template(f"builder/{template}", study=study, button=EmptyForm(),
                           **context), status


def _csrf_or_400(form: FlaskForm) -> bool:
    """True when a POSTed form is valid; a bad CSRF token is a 400."""
    valid = form.validate_on_submit()
    if not valid and "csrf_token" in form.errors:
        abort(400)
    return valid


SETTINGS_ALIASES = {"key": "scale"}


def _settings_values(doc: dict[str, Any]) -> dict[str, Any]:
    c, f = doc["consensus"], doc["feedback"]
    return {
        "title": doc["title"], "short_name": doc.get("short_name", ""),
        "sender_name": doc.get("sender_name", ""), "description": doc["description"],
        "plain_language": doc["plain_language"], "method": doc["method"],
        "scale": doc["scale"]["key"], "unable_to_score": doc["scale"]["unable_to_score"],
        **{name: _get(c, spec.survey) for name, spec in CONSENSUS_FIELDS.items()},
        "by_group": f["by_group"], "min_group_size": f["min_group_size"],
        "ask_reason": f["ask_reason"],
        "conflicts": bool(doc.get("declarations", {}).get("conflicts", False)),
    }


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc.get(key, {}) if isinstance(doc, dict) else {}
    return None if doc == {} else doc


def _put_settings(doc: dict[str, Any], v: dict[str, Any]) -> None:
    for key in ("title", "short_name", "sender_name", "description", "plain_language",
                "method"):
        doc[key] = v[key]
    doc["scale"] = {"key": v["scale"], "unable_to_score": v["unable_to_score"]}
    # The settings the form edits; the others (the Wilcoxon test's, thresholds by round...)
    # stay as the survey file set them.
    consensus = doc.setdefault("consensus", {})
    for name, spec in CONSENSUS_FIELDS.items():
        *blocks, key = spec.survey
        target = consensus
        for block in blocks:
            target = target.setdefault(block, {})
        if v[name] is None:
            target.pop(key, None)
        else:
            target[key] = v[name]
    doc["feedback"] = {"by_group": v["by_group"], "min_group_size": v["min_group_size"],
                       "ask_reason": v["ask_reason"]}
    if v["conflicts"]:
        doc["declarations"] = {"conflicts": True}
    else:
        doc.pop("declarations", None)


@bp.route("/studies/<slug>/build", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def settings(slug: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    current = _settings_values(ops.document(study))
    form = SettingsForm(data=current)
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        wanted = {name: form[name].data for name in current}

        def change(doc):
            before = _settings_values(doc)
            _put_settings(doc, wanted)
            changed = [k for k in before if before[k] != wanted[k]]
            return ("study.settings_edited", {k: before[k] for k in changed},
                    {k: wanted[k] for k in changed})

        exc = _apply(study, change)
        if exc is None:
            flash("The study’s settings were saved.", "info")
            return redirect(url_for("builder.settings", slug=slug))
        general = _attach(form, exc, "", last=True, aliases=SETTINGS_ALIASES)
    failed = request.method == "POST"
    sentence = _sentence_or_problem(current, study)
    from ..consensus.scales import SCALES

    return _page("settings.html", study, 400 if failed else 200, form=form, general=general,
                 sentence=sentence, scales=SCALES, consensus_rows=CONSENSUS_ROWS)


def _sentence_or_problem(values: dict[str, Any], study: Study) -> str:
    """The rule in words for the settings form's values, or what stops it being a rule.

    The group rule's minimum is the study's consensus setting, not the form's
    ``min_group_size`` (the feedback's anonymity minimum, a different setting)."""
    try:
        return ops.rule_sentence(
            {spec.name: values[name] for name, spec in CONSENSUS_FIELDS.items()}
            | {"min_group_size": study.consensus.min_group_size},
            values["scale"])
    except (SettingsError, KeyError, TypeError, ValueError) as exc:
        return f"Not a valid rule yet: {exc}"


@bp.route("/studies/<slug>/build/rule-sentence")
@requires(Permission.EDIT_DEFINITION)
def rule_sentence(slug: str):
    """The rule in words for the values typed so far (the settings page asks as you type).

    A GET that changes nothing; the answer is the same text the page shows after a save.
    """
    study = get_study_or_404(slug)
    form = SettingsForm(request.args, meta={"csrf": False})
    values = {name: form[name].data for name in (*CONSENSUS_FIELDS, "scale")}
    values["scale"] = values["scale"] or study.scale_key
    return jsonify(sentence=_sentence_or_problem(values, study))


# -- groups ---------------------------------------------------------------------------

def _group_values(form: GroupForm) -> dict[str, str]:
    return {"key": form.key.data or "", "name": form.name.data or "",
            "description": form.description.data or ""}


@bp.route("/studies/<slug>/build/groups", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def groups(slug: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    form = GroupForm()
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        wanted = _group_values(form)
        index = len(study.groups)

        def change(doc):
            doc["groups"].append(wanted)
            return "study.group_added", None, wanted

        exc = _apply(study, change)
        if exc is None:
            flash(f"The group “{wanted['name'].strip()}” was added.", "info")
            return redirect(url_for("builder.groups", slug=slug))
        general = _attach(form, exc, f"groups[{index}]")
    return _page("groups.html", study, 400 if request.method == "POST" else 200, form=form,
                 general=general)


def _group_index(study, key: str) -> int:
    for index, group in enumerate(study.groups):
        if group.key == key:
            return index
    abort(404)


@bp.route("/studies/<slug>/build/groups/<key>", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def group(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    index = _group_index(study, key)
    g = study.groups[index]
    form = GroupForm(data={"key": g.key, "name": g.name, "description": g.description})
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        wanted = _group_values(form)
        if wanted["key"].strip() != key and g.panellists:
            form.key.errors = [*form.key.errors, f"{len(g.panellists)} panellists belong to "
                               "this group; its key cannot change"]
        else:
            def change(doc):
                before = doc["groups"][index]
                doc["groups"][index] = wanted
                return "study.group_edited", before, wanted

            exc = _apply(study, change)
            if exc is None:
                flash("The group was saved.", "info")
                return redirect(url_for("builder.groups", slug=slug))
            general = _attach(form, exc, f"groups[{index}]")
    return _page("group.html", study, 400 if request.method == "POST" else 200, form=form,
                 general=general, group=g)


@bp.route("/studies/<slug>/build/groups/<key>/delete", methods=["POST"])
@requires(Permission.EDIT_DEFINITION)
def delete_group(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    index = _group_index(study, key)
    if not _csrf_or_400(EmptyForm()):
        abort(400)

    def change(doc):
        return "study.group_deleted", doc["groups"].pop(index), None

    _flash_result(_apply(study, change), "The group was deleted.")
    return redirect(url_for("builder.groups", slug=slug))


def _flash_result(exc: SurveyError | None, success: str) -> None:
    if exc is None:
        flash(success, "info")
    else:
        flash("Nothing was changed: " + "; ".join(exc.problems), "error")


# -- sections and statements -------------------------------------------------------------

def _section_values(form: SectionForm) -> dict[str, Any]:
    return {"key": form.key.data or "", "title": form.title.data or "",
            "description": form.description.data or ""}


@bp.route("/studies/<slug>/build/statements", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def statements(slug: str):
    """The questionnaire: its sections and their statements, and a form to add a section."""
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    form = SectionForm()
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        wanted = _section_values(form)
        index = len(study.sections)

        def change(doc):
            section = {**wanted, "items": []}
            section["key"] = section["key"].strip() or ops.free_section_key(doc)
            doc["sections"].append(section)
            return "study.section_added", None, section

        exc = _apply(study, change)
        if exc is None:
            flash(f"The section “{wanted['title'].strip()}” was added.", "info")
            return redirect(url_for("builder.statements", slug=slug) + f"#section-{index}")
        general = _attach(form, exc, f"sections[{index}]")
    return _page("statements.html", study, 400 if request.method == "POST" else 200,
                 form=form, general=general, items=_active_items(study))


def _active_items(study) -> dict[int, list]:
    out: dict[int, list] = {}
    for item in study.items:
        if item.status is ItemStatus.ACTIVE:
            out.setdefault(item.section_id, []).append(item)
    return out


def _section_index(study, key: str) -> int:
    for index, section in enumerate(study.sections):
        if section.key == key:
            return index
    abort(404)


@bp.route("/studies/<slug>/build/sections/<key>", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def section(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    index = _section_index(study, key)
    s = study.sections[index]
    form = SectionForm(data={"key": s.key, "title": s.title, "description": s.description})
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        wanted = _section_values(form)

        def change(doc):
            before = {k: v for k, v in doc["sections"][index].items() if k != "items"}
            doc["sections"][index].update(wanted)
            return "study.section_edited", before, wanted

        exc = _apply(study, change)
        if exc is None:
            flash("The section was saved.", "info")
            return redirect(url_for("builder.statements", slug=slug) + f"#section-{index}")
        general = _attach(form, exc, f"sections[{index}]")
    return _page("section.html", study, 400 if request.method == "POST" else 200, form=form,
                 general=general, section=s)


@bp.route("/studies/<slug>/build/sections/<key>/move", methods=["POST"])
@requires(Permission.EDIT_DEFINITION)
def move_section(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    index = _section_index(study, key)
    direction = _direction()

    def change(doc):
        if not ops.move(doc["sections"], index, direction):
            raise SurveyError(ops.SOURCE, [f"the section is already the {_end(direction)}"])
        return "study.section_moved", {"key": key, "position": index + 1}, \
            {"key": key, "position": index + (0 if direction == "up" else 2)}

    _flash_result(_apply(study, change), f"The section was moved {direction}.")
    return redirect(url_for("builder.statements", slug=slug) + f"#section-{key}")


def _direction() -> str:
    if not _csrf_or_400(EmptyForm()):
        abort(400)
    direction = request.form.get("direction", "")
    if direction not in ("up", "down"):
        abort(400)
    return direction


def _end(direction: str) -> str:
    return "first" if direction == "up" else "last"


@bp.route("/studies/<slug>/build/sections/<key>/delete", methods=["POST"])
@requires(Permission.EDIT_DEFINITION)
def delete_section(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    index = _section_index(study, key)
    if not _csrf_or_400(EmptyForm()):
        abort(400)

    def change(doc):
        return "study.section_deleted", doc["sections"].pop(index), None

    _flash_result(_apply(study, change), "The section and its statements were deleted.")
    return redirect(url_for("builder.statements", slug=slug))


def _statement_values(form: StatementForm) -> tuple[dict[str, Any], list[str]]:
    refs, problems = parse_references(form.references.data or "")
    values: dict[str, Any] = {"key": form.key.data or "", "text": form.text.data or "",
                              "rationale": form.rationale.data or "",
                              "plain_text": form.plain_text.data or ""}
    if refs:
        values["references"] = refs
    return values, problems


@bp.route("/studies/<slug>/build/sections/<key>/statements/new", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def new_statement(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    index = _section_index(study, key)
    form = StatementForm()
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        wanted, problems = _statement_values(form)
        if problems:
            form.references.errors = [*form.references.errors, *problems]
        else:
            position = len(_active_items(study).get(study.sections[index].id, []))

            def change(doc):
                items = doc["sections"][index].setdefault("items", [])
                wanted["key"] = wanted["key"].strip() or ops.free_key(doc, key)
                items.append(wanted)
                return "study.statement_added", None, wanted

            exc = _apply(study, change)
            if exc is None:
                flash(f"The statement {wanted['key']} was added.", "info")
                return redirect(url_for("builder.statements", slug=slug)
                                + f"#item-{wanted['key']}")
            general = _attach(form, exc, f"sections[{index}].items[{position}]")
    return _page("statement.html", study, 400 if request.method == "POST" else 200, form=form,
                 general=general, section=study.sections[index], item=None)


def _item_index(study, key: str) -> tuple[int, int]:
    found = ops.find_item(ops.document(study), key)
    if found is None:
        abort(404)
    return found


@bp.route("/studies/<slug>/build/statements/<key>", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def statement(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    i, j = _item_index(study, key)
    item = next(it for it in study.items if it.key == key and it.status is ItemStatus.ACTIVE)
    form = StatementForm(data={"key": item.key, "text": item.text,
                               "plain_text": item.plain_text, "rationale": item.rationale,
                               "references": format_references(item.references or [])})
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        wanted, problems = _statement_values(form)
        if problems:
            form.references.errors = [*form.references.errors, *problems]
        else:
            def change(doc):
                before = doc["sections"][i]["items"][j]
                doc["sections"][i]["items"][j] = wanted
                return "study.statement_edited", before, wanted

            exc = _apply(study, change)
            if exc is None:
                flash(f"The statement {wanted['key'].strip()} was saved.", "info")
                return redirect(url_for("builder.statements", slug=slug)
                                + f"#item-{wanted['key'].strip()}")
            general = _attach(form, exc, f"sections[{i}].items[{j}]")
    return _page("statement.html", study, 400 if request.method == "POST" else 200, form=form,
                 general=general, section=study.sections[i], item=item)


@bp.route("/studies/<slug>/build/statements/<key>/move", methods=["POST"])
@requires(Permission.EDIT_DEFINITION)
def move_statement(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    i, j = _item_index(study, key)
    direction = _direction()

    def change(doc):
        if not ops.move(doc["sections"][i]["items"], j, direction):
            raise SurveyError(ops.SOURCE, [
                f"{key} is already the {_end(direction)} statement of its section"])
        return "study.statement_moved", {"key": key, "position": j + 1}, \
            {"key": key, "position": j + (0 if direction == "up" else 2)}

    _flash_result(_apply(study, change), f"The statement {key} was moved {direction}.")
    return redirect(url_for("builder.statements", slug=slug) + f"#item-{key}")


@bp.route("/studies/<slug>/build/statements/<key>/delete", methods=["POST"])
@requires(Permission.EDIT_DEFINITION)
def delete_statement(slug: str, key: str):
    study = get_study_or_404(slug)
    if (refused := _draft_or_redirect(study)) is not None:
        return refused
    i, j = _item_index(study, key)
    if not _csrf_or_400(EmptyForm()):
        abort(400)

    def change(doc):
        return "study.statement_deleted", doc["sections"][i]["items"].pop(j), None

    _flash_result(_apply(study, change), f"The statement {key} was deleted.")
    return redirect(url_for("builder.statements", slug=slug))


# -- preview and survey file -------------------------------------------------------------

@bp.route("/studies/<slug>/build/survey.yaml")
@requires(Permission.EDIT_DEFINITION)
def survey_file(slug: str):
    """The study's definition as a survey file, to keep in version control."""
    study = get_study_or_404(slug)
    text = dump_survey(ops.study_definition(study))
    return Response(text, mimetype="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="{study.slug}.yaml"',
        "Cache-Control": "no-store"})


# -- participant information and consent --------------------------------------------------

@bp.route("/studies/<slug>/build/consent", methods=["GET", "POST"])
@requires(Permission.EDIT_DEFINITION)
def consent(slug: str):
    """The participant information sheet and consent statement: part of a draft's
    definition; after launch an edit adds a new version (panellists are asked again)."""
    from .. import consent as consent_ops
    from .forms import ConsentForm

    study = get_study_or_404(slug)
    current = study.consent_document
    form = ConsentForm(data={"information_sheet": current.information_sheet if current else "",
                             "statement": current.statement if current else ""})
    general: list[str] = []
    if request.method == "POST" and _csrf_or_400(form):
        sheet, statement = form.information_sheet.data or "", form.statement.data or ""
        if study.state is StudyState.DRAFT and not study.rounds:
            def change(doc):
                before = doc.get("consent")
                doc["consent"] = {"information_sheet": sheet, "statement": statement}
                return "study.consent_edited", before, doc["consent"]

            exc = _apply(study, change)
        else:
            exc = _revise(lambda: consent_ops.revise(study, sheet, statement, actor()))
        if exc is None:
            flash("The information sheet and consent statement were saved.", "info")
            return redirect(url_for("builder.consent", slug=slug))
        general = _attach(form, exc, "consent", last=True)
    counts = _consent_counts(study)
    return _page("consent.html", study, 400 if request.method == "POST" else 200, form=form,
                 general=general, counts=counts, draft=not study.rounds)


def _revise(action: Callable[[], Any]) -> SurveyError | None:
    try:
        with unit_of_work():
            action()
    except SurveyError as exc:
        return exc
    except DomainError as exc:
        return SurveyError(ops.SOURCE, [str(exc)])
    return None


def _consent_counts(study) -> dict[int, dict[str, int]]:
    """Per version: how many panellists consented to it and how many declined."""
    import sqlalchemy as sa

    from ..models import ConsentDocument, ConsentRecord

    rows = db.session.execute(
        sa.select(ConsentDocument.version, ConsentRecord.decision, sa.func.count())
        .join(ConsentRecord, ConsentRecord.document_id == ConsentDocument.id)
        .where(ConsentDocument.study_id == study.id)
        .group_by(ConsentDocument.version, ConsentRecord.decision)).all()
    counts: dict[int, dict[str, int]] = {}
    for version, decision, n in rows:
        counts.setdefault(version, {})[decision] = n
    return counts
