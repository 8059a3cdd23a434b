"""The console's API tokens page: create (the secret is shown once), list and revoke."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import (  # type: ignore[attr-defined]  # new in WTForms 3.3,
    SelectChoice,  # after the newest stubs (types-WTForms 3.2)
)
from wtforms.validators import DataRequired, Length, NumberRange

from ..console import EmptyForm, actor, facilitator_blueprint, get_study_or_404, requires
from ..models import DomainError, utcnow
from ..roles import Permission
from ..uow import unit_of_work
from . import tokens

bp = facilitator_blueprint("api_tokens", __name__, "/account/api-tokens")


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=tokens.MAX_NAME)])
    scopes = SelectField("Scopes", choices=[SelectChoice("read", "Read only"),
                                            SelectChoice("read write", "Read and write")],
                         default="read")
    days = IntegerField("Days until it expires",
                        validators=[DataRequired(), NumberRange(1, tokens.MAX_DAYS)])


def _page(form: TokenForm, secret: str | None = None, status: int = 200):
    return render_template("api/tokens.html", form=form, secret=secret, now=utcnow(),
                           tokens=tokens.tokens_of(actor())), status


@bp.route("/", methods=["GET", "POST"])
def index():
    form = TokenForm()
    if form.days.data is None and not form.is_submitted():
        form.days.data = current_app.config["API_TOKEN_DAYS"]
    if not form.validate_on_submit():
        return _page(form, status=400 if form.is_submitted() else 200)
    try:
        with unit_of_work():
            token, secret = tokens.create_token(actor(), form.name.data, form.scopes.data,
                                                form.days.data)
    except DomainError as exc:
        form.name.errors = [exc.render()]
        return _page(form, status=400)
    flash(f"The token {token.name} is created. Copy it now: it is not shown again.", "info")
    return _page(TokenForm(formdata=None, days=current_app.config["API_TOKEN_DAYS"]), secret)


@bp.route("/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    if not EmptyForm().validate_on_submit():
        return _page(TokenForm(formdata=None), status=400)
    try:
        with unit_of_work():
            token = tokens.revoke_token(actor(), token_id, actor())
    except DomainError as exc:
        if exc.code == "token.not_found":
            from flask import abort

            abort(404)
        flash(exc.render(), "error")
    else:
        flash(f"The token {token.name} is revoked; it no longer works.", "info")
    return redirect(url_for("api_tokens.index"))


hooks_bp = facilitator_blueprint("webhooks", __name__, "/studies/<slug>")


@hooks_bp.route("/webhooks", endpoint="index")
@requires(Permission.VIEW_STUDY)
def webhook_log(slug: str):
    """The study's webhooks and each one's latest deliveries (the delivery log)."""
    import sqlalchemy as sa

    from ..extensions import db
    from ..models import Webhook, WebhookDelivery
    study = get_study_or_404(slug)
    hooks = db.session.scalars(sa.select(Webhook).where(Webhook.study_id == study.id)
                               .order_by(Webhook.id)).all()
    log = {h.id: db.session.scalars(sa.select(WebhookDelivery)
                                    .where(WebhookDelivery.webhook_id == h.id)
                                    .order_by(WebhookDelivery.id.desc()).limit(50)).all()
           for h in hooks}
    return render_template("api/webhooks.html", study=study, hooks=hooks, log=log)
