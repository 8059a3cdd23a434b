"""Login and logout pages."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import audit
from ..extensions import db
from ..models import Facilitator
from ..security import client_address, is_safe_next, start_fresh_session
from .forms import EmptyForm, LoginForm
from .operations import LoginThrottled, authenticate

bp = Blueprint("auth", __name__)


def load_facilitator(user_id: str) -> Facilitator | None:
    """Load the logged-in facilitator; an old session epoch means the session has ended."""
    ident, _, epoch = user_id.partition(":")
    if not ident.isdigit() or not epoch.isdigit():
        return None
    facilitator = db.session.get(Facilitator, int(ident))
    if facilitator is None or facilitator.session_epoch != int(epoch):
        return None
    return facilitator if facilitator.is_enabled else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            facilitator = authenticate(form.email.data, form.password.data, client_address())
        except LoginThrottled:
            db.session.commit()
            flash("Too many failed attempts. Wait 15 minutes and try again.", "error")
            return render_template("auth/login.html", form=form), 429
        db.session.commit()
        if facilitator is not None:
            start_fresh_session()
            login_user(facilitator)
            target = form.next.data
            return redirect(target if is_safe_next(target) else url_for("studies.index"))
        flash("The email or password is not right.", "error")
        return render_template("auth/login.html", form=form), 200
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        audit.record(current_user._get_current_object(), "facilitator.logout")
        db.session.commit()
        logout_user()
        start_fresh_session()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    form = EmptyForm()
    if form.validate_on_submit():
        facilitator = current_user._get_current_object()
        facilitator.end_all_sessions()
        audit.record(facilitator, "facilitator.logout_everywhere")
        db.session.commit()
        logout_user()
        start_fresh_session()
        flash("Every session of your account has ended.", "info")
    return redirect(url_for("auth.login"))
