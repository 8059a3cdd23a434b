"""Login and logout pages."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_required, login_user, logout_user

from ..console import EmptyForm, actor, field_text
from ..extensions import db
from ..models import DomainError, Facilitator, FacilitatorSession, utcnow
from ..security import client_address, is_safe_next, start_fresh_session
from ..uow import unit_of_work
from . import accounts, operations
from .forms import LoginForm, NewPasswordForm, ResetRequestForm, SecondFactorForm
from .links import find_reset
from .operations import LoginThrottled, begin_login, finish_login

bp = Blueprint("auth", __name__)
PENDING = "second_factor_pending"  # the session key of a login waiting for its second factor
PENDING_SECONDS = 300


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
        if facilitator is not None and facilitator.session_secret is None:
            # The password was right; the second factor comes next (see second_factor).
            start_fresh_session()
            session[PENDING] = {"f": facilitator.id, "e": facilitator.session_epoch,
                                "t": int(time.time()), "next": form.next.data or ""}
            return redirect(url_for("auth.second_factor"))
        if facilitator is not None:
            return _logged_in(facilitator, form.next.data)
        flash("The email or password is not right.", "error")
        return render_template("auth/login.html", form=form), 200
    return render_template("auth/login.html", form=form)


def _logged_in(facilitator: Facilitator, target: str | None):
    """Log the browser in and send it on, with the known-device cookie."""
    start_fresh_session()
    login_user(facilitator)
    response = redirect(target if is_safe_next(target) else url_for("studies.index"))
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    response.set_cookie(_device_cookie(), operations.device_token(facilitator),
                        max_age=operations.DEVICE_COOKIE_DAYS * 86400, path="/",
                        secure=secure, httponly=True, samesite="Lax")
    return response


def _pending_facilitator() -> Facilitator | None:
    """The account whose password was right in this browser in the last minutes, waiting
    for its second factor; None when there is none, it is stale, or it changed since."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("t", 0) > PENDING_SECONDS:
        return None
    facilitator = db.session.get(Facilitator, pending.get("f"))
    if (facilitator is None or not facilitator.is_enabled or not facilitator.has_second_factor
            or facilitator.session_epoch != pending.get("e")):
        return None
    return facilitator


@bp.route("/login/second-factor", methods=["GET", "POST"])
def second_factor():
    """The second step of a login with a second factor: a code from the app, or a
    recovery code. Throttled per account like the password."""
    facilitator = _pending_facilitator()
    if facilitator is None:
        session.pop(PENDING, None)
        flash("Log in with your email and password first.", "error")
        return redirect(url_for("auth.login"))
    form = SecondFactorForm()
    if not form.validate_on_submit():
        if form.is_submitted() and "csrf_token" in form.errors:
            abort(400)
        return render_template("auth/second_factor.html", form=form), \
            400 if form.is_submitted() else 200
    refused: accounts.Throttled | None = None
    with unit_of_work():
        try:
            result = accounts.check_second_factor(facilitator, form.code.data)
            if result.ok:
                operations.complete_login(facilitator, second_factor=result.kind)
        except accounts.Throttled as exc:
            refused = exc  # the count and the record of the refusal are committed
    if refused is not None:
        flash(f"Too many wrong codes. Try again in {refused.retry_after} seconds.", "error")
        response = make_response(render_template("auth/second_factor.html", form=form), 429)
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    if not result.ok:
        form.code.errors = ["The code is not right (or was used already)."]
        return render_template("auth/second_factor.html", form=form), 400
    target = session.get(PENDING, {}).get("next")
    if result.kind == "recovery code":
        left = accounts.recovery_codes_left(facilitator)
        flash(f"You used a recovery code: {left} are left. Make new ones on your account "
              "page if you are running short.", "info")
    return _logged_in(facilitator, target)


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    """Ask for a reset link: the same answer, after the same work, for any address."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        refused: accounts.Throttled | None = None
        with unit_of_work():
            try:
                accounts.request_reset(form.email.data, client_address())
            except accounts.Throttled as exc:
                refused = exc  # the count and the record of the refusal are committed
        if refused is not None:
            flash(f"Too many reset requests. Try again in {refused.retry_after} seconds.",
                  "error")
            response = make_response(render_template("auth/reset_request.html", form=form), 429)
            response.headers["Retry-After"] = str(refused.retry_after)
            return response
        flash("If there is an account with that address, an email with a link to choose a new "
              "password is on its way. The link works once, for 30 minutes.", "info")
        return redirect(url_for("auth.login"))
    if form.is_submitted() and "csrf_token" in form.errors:
        abort(400)
    return render_template("auth/reset_request.html", form=form), \
        400 if form.is_submitted() else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Choose a new password through the emailed link (good once, for 30 minutes)."""
    found = find_reset(token)
    if found is None:
        return render_template("auth/reset_invalid.html"), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                accounts.complete_reset(found, field_text(form.password))
        except DomainError as exc:
            form.password.errors = [str(exc)]
        else:
            flash("Your new password is set, and every session of the account has ended. "
                  "Log in with it.", "info")
            return redirect(url_for("auth.login"))
    elif form.is_submitted() and "csrf_token" in form.errors:
        abort(400)
    return render_template("auth/reset.html", form=form, account=found.facilitator), \
        400 if form.is_submitted() else 200


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
