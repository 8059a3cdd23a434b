"""Login and logout pages."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required, login_user, logout_user

from ..console import EmptyForm, actor
from ..extensions import db
from ..models import Facilitator, FacilitatorSession, utcnow
from ..security import client_address, is_safe_next, start_fresh_session
from ..uow import unit_of_work
from . import operations
from .forms import LoginForm
from .operations import LoginThrottled, begin_login, finish_login

bp = Blueprint("auth", __name__)


def load_facilitator(user_id: str) -> Facilitator | None:
    """Load the logged-in facilitator from the id in the session cookie, checked on every
    request against the server: the login session must exist and not have ended (logout)
    nor run out, the epoch must be current (logout everywhere, a new password) and the
    account enabled. Anything else is no login."""
    ident, _, rest = user_id.partition(":")
    epoch, _, secret = rest.partition(":")
    if not ident.isdigit() or not epoch.isdigit() or not secret or len(secret) > 100:
        return None
    row = db.session.execute(
        sa.select(FacilitatorSession, Facilitator)
        .join(Facilitator, FacilitatorSession.facilitator_id == Facilitator.id)
        .where(FacilitatorSession.secret_hash == FacilitatorSession.hash(secret))
    ).first()
    if row is None:
        return None
    login_session, facilitator = row
    hours = int(current_app.config["SESSION_ABSOLUTE_HOURS"])
    if (facilitator.id != int(ident) or facilitator.session_epoch != int(epoch)
            or login_session.ended_at is not None or not facilitator.is_enabled
            or login_session.created_at < utcnow() - timedelta(hours=hours)):
        return None
    facilitator.session_secret = secret
    return facilitator


def _device_cookie() -> str:
    """The known-device cookie's name: ``__Host-`` prefixed whenever cookies are Secure."""
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    return "__Host-delphi-device" if secure else "delphi_device"


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        # The attempt is counted and committed before the password is checked, so
        # that concurrent attempts each see their own count (see operations.py).
        refused: LoginThrottled | None = None
        with unit_of_work():
            try:
                attempt = begin_login(form.email.data, client_address(),
                                      request.cookies.get(_device_cookie()))
            except LoginThrottled as exc:
                refused = exc  # the counts and the record of the refusal are committed
        if refused is not None:
            flash(refused.message, "error")
            response = make_response(render_template("auth/login.html", form=form), 429)
            response.headers["Retry-After"] = str(refused.retry_after)
            return response
        # A write transaction from the start: on SQLite a read that turns into a write
        # fails at once ("database is locked") when another login wrote in between.
        with unit_of_work():
            facilitator = finish_login(attempt, form.password.data)
        if facilitator is not None:
            start_fresh_session()
            login_user(facilitator)
            target = form.next.data
            response = redirect(target if is_safe_next(target) else url_for("studies.index"))
            secure = current_app.config["SESSION_COOKIE_SECURE"]
            response.set_cookie(_device_cookie(), operations.device_token(facilitator),
                                max_age=operations.DEVICE_COOKIE_DAYS * 86400, path="/",
                                secure=secure, httponly=True, samesite="Lax")
            return response
        flash("The email or password is not right.", "error")
        return render_template("auth/login.html", form=form), 200
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        with unit_of_work():
            operations.logout(actor())
        logout_user()
        start_fresh_session()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    form = EmptyForm()
    if form.validate_on_submit():
        with unit_of_work():
            operations.logout_everywhere(actor())
        logout_user()
        start_fresh_session()
        flash("Every session of your account has ended.", "info")
    return redirect(url_for("auth.login"))
