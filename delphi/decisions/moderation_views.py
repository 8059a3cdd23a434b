"""Console pages of comment moderation: a round's comments, and one comment's form."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from ..console import actor, field_text, get_study_or_404, requires
from ..extensions import db
from ..models import DomainError, Item, Round
from ..roles import Permission
from ..uow import unit_of_work
from . import moderation as ops
from .forms import ModerationForm
from .views import _round_or_404, bp


@bp.route("/rounds/<int:number>/comments")
@requires(Permission.DECIDE)
def comments(slug: str, number: int):
    """Every submitted comment of a round as written and as the panel reads it."""
    study = get_study_or_404(slug)
    rnd = _round_or_404(study, number)
    return render_template("decisions/comments.html", study=study, round=rnd,
                           comments=ops.round_comment_views(rnd))


@bp.route("/comments/<int:rating_id>", methods=["GET", "POST"])
@requires(Permission.DECIDE)
def moderate(slug: str, rating_id: int):
    study = get_study_or_404(slug)
    rating = ops.find_comment(study, rating_id)
    if rating is None:
        abort(404)
    number = db.session.get_one(Round, rating.round_id).number
    form = ModerationForm(data={"show": {"hidden": "hide", "redacted": "redact"}.get(
        rating.moderation or "", "redact"), "redacted": rating.redacted_comment or rating.comment,
        "reason": rating.moderation_reason})
    if request.method == "POST":
        if not form.validate_on_submit():
            if "csrf_token" in form.errors:
                abort(400)
        else:
            try:
                with unit_of_work():
                    ops.moderate(study, rating, field_text(form.show), form.reason.data or "",
                                 form.redacted.data or "", actor())
            except ops.ModerationInvalid as exc:
                for name, message in exc.problems.items():
                    name = "show" if name == "action" else name
                    getattr(form, name).errors = [*getattr(form, name).errors, message]
            except DomainError as exc:
                form.form_errors.append(str(exc))
            else:
                flash({"hide": "The comment is hidden from the panel and the report.",
                       "redact": "The panel and the report now read the redacted text.",
                       "restore": "The comment is shown as written again."}[field_text(form.show)],
                      "info")
                return redirect(url_for("decisions.comments", slug=slug, number=number))
    item = db.session.get(Item, rating.item_id)
    return render_template("decisions/moderate.html", study=study, rating=rating, item=item,
                           number=number, form=form), 400 if request.method == "POST" else 200
