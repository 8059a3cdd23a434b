"""Exports: final statements, raw data and the study report, from the console and the CLI."""

from flask import Flask


def init_app(app: Flask) -> None:
    from .views import bp

    app.register_blueprint(bp)
