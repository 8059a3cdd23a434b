"""Rounds: launch, close, remind, personal links and the outbox, from the console and the CLI."""

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
