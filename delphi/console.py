"""What every facilitator page shares: a login-only blueprint, the actor, and running a
use case from a POST (validate, run in one write transaction, commit once, say so)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from .auth.forms import EmptyForm
from .extensions import db, write_transaction
from .models import DomainError, Facilitator, IllegalTransition


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
        with write_transaction():
            result = action()
            db.session.commit()
    except (DomainError, IllegalTransition) as exc:
        db.session.rollback()
        flash(f"{failure}{exc}", "error")
        return redirect(back)
    flash(success.format(result=result), "info")
    return redirect(back)
