"""Decisions between rounds and the results pages they are made on."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import moderation_views  # noqa: F401 - comment moderation pages, on ``bp``
    from .views import bp

    app.register_blueprint(bp)
