"""What every facilitator page shares: a login-only blueprint, the actor, the study a
facilitator may see, the bare CSRF form of a button, the confirmation step of an
irreversible button, and running a use case from a POST (validate, run in one unit of
work, commit once, say so).

Features (``auth``, ``builder``, ``decisions``, ``exports``, ``panel``, ``rounds``,
``studies``) import this module and never each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, request
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as HttpResponse
from wtforms import StringField

from .extensions import db
from .models import DomainError, Facilitator, Study, StudyMembership
from .uow import unit_of_work

CONFIRM_FIELD = "confirmed"


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST buttons."""


def facilitator_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint whose every page needs a logged-in facilitator."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)

    @bp.before_request
    @login_required
    def _require_login() -> None:
        """Pages of the console are for facilitators only."""

    return bp


def actor() -> Facilitator:
    """The facilitator making this request, for the audit log."""
    return current_user._get_current_object()


def get_study_or_404(slug: str) -> Study:
    """The study with ``slug`` if the current facilitator is on its committee, else 404."""
    study = db.session.scalar(
        sa.select(Study)
        .join(StudyMembership)
        .where(Study.slug == slug, StudyMembership.facilitator_id == current_user.id)
    )
    if study is None:
        abort(404)
    return study


def unconfirmed(confirm_url: str, what: str) -> HttpResponse | None:
    """For a POST that lacks the confirmation field: change nothing, go to the confirmation.

    Each irreversible button leads to a confirmation page (a GET that reads only) and a
    POST button carrying ``confirmed=yes``. A bad CSRF token is still a 400, as for every
    other console button.
    """
    if request.form.get(CONFIRM_FIELD) == "yes":
        return None
    if not EmptyForm().validate_on_submit():
        abort(400)
    flash(f"Nothing was changed: {what} only after reading what it does and confirming "
          "on this page.", "error")
    return redirect(confirm_url, code=303)


def run_use_case(action: Callable[[], Any], success: str, back: str,
                 form: FlaskForm | None = None, failure: str = "") -> Any:
    """Validate ``form`` (a bare CSRF form by default), run ``action``, commit, redirect ``back``.

    ``success`` may use ``{result}``. A missing or bad CSRF token is a 400; other form
    errors and domain errors are flashed and nothing is changed.
    """
    form = form or EmptyForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors or not form.is_submitted():
            abort(400)
        problems = "; ".join(f"{getattr(form, name).label.text}: {' '.join(errors)}"
                             for name, errors in form.errors.items())
        flash(f"{failure}{problems}", "error")
        return redirect(back)
    try:
        with unit_of_work():
            result = action()
    except DomainError as exc:
        flash(f"{failure}{exc.render()}", "error")
        return redirect(back)
    flash(success.format(result=result), "info")
    return redirect(back)


def field_text(field: StringField) -> str:
    """The text of a field whose validators require it (WTForms types it ``str | None``)."""
    return field.data or ""
