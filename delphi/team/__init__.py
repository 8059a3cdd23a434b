"""A study's team: invitations by email, roles, removing members."""

from flask import Flask

from .views import bp, join_bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(join_bp)
