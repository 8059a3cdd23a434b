"""What every facilitator page shares: a login-only blueprint that checks the study role
each route needs, the actor, the study a facilitator may see, the bare CSRF form of a
button, the confirmation step of an irreversible button, and running a use case from a
POST (validate, run in one unit of work, commit once, say so).

Every route of a study (its URL has ``<slug>``) names the permission it needs with
``@requires``; the blueprint's ``before_request`` loads the study, answers 404 to anyone
not on its team and 403 to a team member whose role (``delphi.roles``) lacks the
permission, before the view runs. A study route without ``@requires`` is a programming
error and fails loudly (the access walk in tests/test_access.py calls every route).

Features (``auth``, ``builder``, ``decisions``, ``exports``, ``panel``, ``rounds``,
``studies``, ``team``) import this module and never each other."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as HttpResponse
from wtforms import Field, Form, IntegerField, StringField
from wtforms.validators import ValidationError

from .extensions import db
from .models import DomainError, Facilitator, Study, StudyMembership
from .roles import Permission, Role, allows
from .uow import unit_of_work

CONFIRM_FIELD = "confirmed"
F = Callable[..., Any]


_MARKUP = re.compile(r"<\s*[A-Za-z/!?]")


def plain_text(_form: Form, field: Field) -> None:
    """A form validator: refuse NUL and other control characters, and markup such as
    ``<script>``."""
    text = field.data or ""
    if any((ord(ch) < 32 and ch not in "\n\t\r") or ord(ch) == 127 for ch in text):
        raise ValidationError("This text contains a control character; remove it.")
    if _MARKUP.search(text):
        raise ValidationError("This text contains markup such as <tag>; write plain text.")


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST buttons."""


def requires(permission: Permission, **per_method: Permission) -> Callable[[F], F]:
    """Name the permission a study route needs; ``post=`` another one for its POSTs::

        @bp.route("/studies/<slug>/panel", methods=["GET", "POST"])
        @requires(Permission.VIEW_PANEL, post=Permission.MANAGE_PANEL)
        def panel(slug): ...
    """
    def mark(view: F) -> F:
        view.permissions = {"*": permission,  # type: ignore[attr-defined]
                            **{m.upper(): p for m, p in per_method.items()}}
        return view
    return mark


def permission_for(view: Any, method: str) -> Permission | None:
    """The permission ``view`` needs for ``method`` (None: it named none)."""
    needs = getattr(view, "permissions", None)
    if needs is None:
        return None
    return needs.get("GET" if method in ("GET", "HEAD") else method, needs["*"])


def facilitator_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint whose every page needs a logged-in facilitator, and whose study pages
    need the role their ``@requires`` names."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)

    @bp.before_request
    @login_required
    def _require_login() -> Any:
        """Pages of the console are for facilitators only; study pages for its team."""
        refused = second_factor_required()
        if refused is not None:
            return refused
        if request.view_args and "slug" in request.view_args:
            # view_args come from the matched rule, which always names its endpoint.
            assert request.endpoint is not None
            view = current_app.view_functions[request.endpoint]
            needed = permission_for(view, request.method)
            if needed is None:
                raise RuntimeError(f"{request.endpoint} names no permission (@requires)")
            _load_study(request.view_args["slug"], needed)
        return None

    return bp


def second_factor_required() -> Any:
    """With DELPHI_REQUIRE_2FA, a site admin without a second factor is sent to enrol."""
    user = current_user
    if (current_app.config.get("REQUIRE_2FA") and user.is_authenticated
            and user.is_admin and not user.has_second_factor):
        flash("Site admins must set up a second factor before anything else.", "error")
        return redirect(url_for("account.two_factor"))
    return None


def _load_study(slug: str, needed: Permission) -> Study:
    """The study and the current facilitator's role in it, kept in ``g``: 404 when not on
    its team (whether the study exists is not told), 403 when the role lacks ``needed``."""
    row = db.session.execute(
        sa.select(Study, StudyMembership.role).join(StudyMembership)
        .where(Study.slug == slug, StudyMembership.facilitator_id == current_user.id)
    ).first()
    if row is None:
        abort(404)
    study, role = row
    if not allows(role, needed):
        abort(403)
    g.study, g.study_role = study, Role(role)
    return study


def get_study_or_404(slug: str) -> Study:
    """The study of this request, loaded and checked by the blueprint for its route."""
    study = getattr(g, "study", None)
    if study is None or study.slug != slug:
        abort(404)
    return study


def can(permission: Permission | str) -> bool:
    """Whether the current facilitator's role in this request's study allows
    ``permission`` (for templates: show only the buttons that will work)."""
    return allows(getattr(g, "study_role", None), permission)


def actor() -> Facilitator:
    """The facilitator making this request, for the audit log."""
    return current_user._get_current_object()


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


def field_number(field: IntegerField) -> int:
    """The number of a field that has passed ``InputRequired`` (WTForms types it
    ``int | None``; a field whose text is not a whole number fails validation)."""
    assert field.data is not None, f"{field.name} was not validated as required"
    return field.data
