"""Export downloads and the team's report texts, in the console (facilitators only)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for

from ..console import actor, facilitator_blueprint, get_study_or_404, requires
from ..models import DomainError
from ..roles import Permission
from ..uow import unit_of_work
from .checklist import TEAM_FIELDS, accord_rows
from .data import load
from .downloads import EXPORTS, WHAT, ExportError, check_combination, export, send
from .facts import accord_facts
from .forms import ReportFieldsForm
from .operations import update_report_fields
from .pdf import PdfUnavailable, pdf_available
from .report import report_html

bp = facilitator_blueprint("exports", __name__, "/studies/<slug>")


def _page(study, form: ReportFieldsForm, status: int = 200):
    fields = {f.key: (study.report_fields or {}).get(f.key, "") for f in TEAM_FIELDS}
    to_write = [row for row in accord_rows(fields, accord_facts(load(study)))
                if row["to_write"]]
    return render_template("exports/index.html", study=study, form=form, exports=EXPORTS,
                           what=WHAT, team_fields=TEAM_FIELDS, to_write=to_write,
                           pdf=pdf_available()), status


@bp.route("/exports/")
@requires(Permission.EXPORT)
def index(slug: str):
    study = get_study_or_404(slug)
    return _page(study, ReportFieldsForm(data=study.report_fields or {}))


@bp.route("/exports/report-fields", methods=["POST"])
@requires(Permission.CONFIGURE_EXPORTS)
def report_fields(slug: str):
    study = get_study_or_404(slug)
    form = ReportFieldsForm()
    if not form.validate_on_submit():  # re-shown with the errors, so no text is lost
        if "csrf_token" in form.errors:
            flash("The form had expired; nothing was saved. Save it again.", "error")
        return _page(study, form, 400)
    values = {f.key: form[f.key].data for f in TEAM_FIELDS}
    try:
        with unit_of_work():
            changed = update_report_fields(study, values, actor())
    except DomainError as exc:
        flash(exc.render(), "error")
        return _page(study, form, 400)
    flash(f"{len(changed)} report texts saved." if changed else "Nothing changed.", "info")
    return redirect(url_for("exports.index", slug=slug))


@bp.route("/exports/report")
@requires(Permission.EXPORT)
def report(slug: str):
    """The report as a web page, with its style sheet linked (the console's CSP)."""
    return report_html(load(get_study_or_404(slug)), standalone=False)


@bp.route("/exports/<what>.<fmt>")
@requires(Permission.EXPORT)
def download(slug: str, what: str, fmt: str):
    study = get_study_or_404(slug)
    try:
        check_combination(what, fmt)
    except ExportError:
        abort(404)
    try:
        made = export(study, what, fmt)
    except (ExportError, PdfUnavailable) as exc:
        flash(str(exc), "error")
        return redirect(url_for("exports.index", slug=slug))
    return send(made)
