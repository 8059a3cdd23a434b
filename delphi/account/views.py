"""The account page: change the password, set up or turn off the second factor, new
recovery codes; and for site admins, the accounts page (create, disable, re-enable)."""

from __future__ import annotations

from typing import Any

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user
from markupsafe import Markup

from ..auth import accounts
from ..auth.forms import (
    ChangePasswordForm,
    EnrolForm,
    NewAccountAdminForm,
    PasswordCheckForm,
)
from ..console import EmptyForm, actor, field_text, run_use_case, second_factor_required
from ..models import DomainError
from ..security import start_fresh_session
from ..uow import unit_of_work

bp = Blueprint("account", __name__)
# Pages a site admin without a second factor may still open (DELPHI_REQUIRE_2FA).
_ENROLMENT = {"account.two_factor", "account.start_two_factor", "account.confirm_two_factor"}


@bp.before_request
@login_required
def _require_login() -> Any:
    if request.endpoint not in _ENROLMENT:
        return second_factor_required()
    return None


def _relogin() -> None:
    """This browser's session was renewed by the use case: carry the login over."""
    me = current_user._get_current_object()
    start_fresh_session()
    login_user(me)


def _page(status: int = 200, **forms: Any):
    me = current_user._get_current_object()
    forms.setdefault("password_form", ChangePasswordForm())
    return render_template("account/index.html", me=me, form=EmptyForm(),
                           codes_left=accounts.recovery_codes_left(me), **forms), status


def _throttled(refused: accounts.Throttled, template: str, **context: Any):
    flash(f"Too many attempts. Try again in {refused.retry_after} seconds.", "error")
    response = make_response(render_template(template, **context), 429)
    response.headers["Retry-After"] = str(refused.retry_after)
    return response


@bp.route("/account/")
def index():
    return _page()


@bp.route("/account/password", methods=["POST"])
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _page(400, password_form=form)
    me = current_user._get_current_object()
    refused: accounts.Throttled | None = None
    with unit_of_work():  # counted and audited whatever the answer
        try:
            right = accounts.verify_password(me, form.current.data, "password_change")
        except accounts.Throttled as exc:
            refused = exc
    if refused is not None:
        return _throttled(refused, "account/index.html", me=me, form=EmptyForm(),
                          password_form=form, codes_left=accounts.recovery_codes_left(me))
    if not right:
        form.current.errors = ["The current password is not right."]
        return _page(400, password_form=form)
    try:
        with unit_of_work():
            accounts.change_password(me, form.current.data, form.password.data)
    except DomainError as exc:
        form.password.errors = [str(exc)]
        return _page(400, password_form=form)
    _relogin()
    flash("Your password is changed. Every other session of your account has ended.", "info")
    return redirect(url_for("account.index"))


def _qr_svg(uri: str) -> Markup:
    svg = segno.make(uri, error="m").svg_inline(scale=5, title="QR code for your "
                                                "authenticator app", border=4)
    return Markup(svg)  # noqa: S704 - segno's own SVG, built from our secret and email


@bp.route("/account/two-factor")
def two_factor():
    me = current_user._get_current_object()
    qr = secret = None
    if me.totp_pending_secret and not me.has_second_factor:
        qr, secret = _qr_svg(accounts.provisioning_uri(me)), me.totp_pending_secret
    return render_template("account/two_factor.html", me=me, qr=qr, secret=secret,
                           enrol=EnrolForm(), check=PasswordCheckForm(), form=EmptyForm(),
                           codes_left=accounts.recovery_codes_left(me),
                           required=bool(current_app.config.get("REQUIRE_2FA")
                                         and me.is_admin))


@bp.route("/account/two-factor/start", methods=["POST"])
def start_two_factor():
    return run_use_case(lambda: accounts.start_enrolment(actor()),
                        "Scan the code with your authenticator app, then type the code it "
                        "shows.", url_for("account.two_factor"))


def _codes_page(codes: list[str]):
    _relogin()
    response = make_response(render_template("account/recovery_codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/two-factor/confirm", methods=["POST"])
def confirm_two_factor():
    form = EnrolForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash("Type the six-digit code your app shows.", "error")
        return redirect(url_for("account.two_factor"))
    try:
        with unit_of_work():
            codes = accounts.confirm_enrolment(actor(), form.code.data)
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.two_factor"))
    flash("The second factor is on. Every other session of your account has ended.", "info")
    return _codes_page(codes)


def _with_password(action: Any, done: str, attempt: str):
    """Check the current password (throttled, counted whatever the answer), then run
    ``action`` in a unit of work of its own."""
    form = PasswordCheckForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash("Type your current password.", "error")
        return redirect(url_for("account.two_factor"))
    me = current_user._get_current_object()
    refused: accounts.Throttled | None = None
    with unit_of_work():  # counted and audited whatever the answer
        try:
            right = accounts.verify_password(me, field_text(form.current), attempt)
        except accounts.Throttled as exc:
            refused = exc
    try:
        if refused is not None:
            raise refused
        if not right:
            raise DomainError("password.wrong_current", "The current password is not right.")
        with unit_of_work():
            result = action()
    except accounts.Throttled as refused:
        flash(f"Too many attempts. Try again in {refused.retry_after} seconds.", "error")
        return redirect(url_for("account.two_factor"))
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.two_factor"))
    flash(done, "info")
    if result is not None:
        return _codes_page(result)
    _relogin()
    return redirect(url_for("account.two_factor"))


@bp.route("/account/two-factor/off", methods=["POST"])
def turn_off_two_factor():
    return _with_password(lambda: accounts.turn_off_second_factor(actor()),
                          "The second factor is off. Every other session of your account "
                          "has ended.", "second_factor_off")


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
def new_recovery_codes():
    return _with_password(lambda: accounts.regenerate_recovery_codes(actor()),
                          "New recovery codes: the old ones no longer work.",
                          "recovery_codes")


# -- site admins --------------------------------------------------------------------

def _admin_or_403() -> None:
    if not current_user.is_admin:
        abort(403)


def _admin_page(form: NewAccountAdminForm | None = None, status: int = 200):
    return render_template("account/admin.html", accounts=accounts.all_accounts(),
                           create=form or NewAccountAdminForm(), form=EmptyForm()), status


@bp.route("/admin/accounts", methods=["GET", "POST"])
def admin_accounts():
    _admin_or_403()
    if request.method == "GET":
        return _admin_page()
    form = NewAccountAdminForm()
    return run_use_case(
        lambda: accounts.admin_create_account(actor(), form.email.data, form.name.data or ""),
        f"The account {(form.email.data or '').strip().lower()} is made; an email asks them "
        "to choose a password.", url_for("account.admin_accounts"), form=form,
        failure="No account was made: ")


def _set_enabled(account_id: int, enabled: bool):
    _admin_or_403()
    target = accounts.find_account(account_id)
    if target is None:
        abort(404)
    return run_use_case(lambda: accounts.set_enabled(actor(), target, enabled),
                        f"{target.email} is {'enabled' if enabled else 'disabled'}.",
                        url_for("account.admin_accounts"))


@bp.route("/admin/accounts/<int:account_id>/disable", methods=["POST"])
def disable_account(account_id: int):
    return _set_enabled(account_id, False)


@bp.route("/admin/accounts/<int:account_id>/enable", methods=["POST"])
def enable_account(account_id: int):
    return _set_enabled(account_id, True)
