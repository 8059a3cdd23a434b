"""A facilitator's own account (password, second factor) and the site admins' page."""

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
