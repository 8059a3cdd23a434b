"""Facilitator login and logout."""

from flask import Flask

from .views import bp, load_facilitator


def init_app(app: Flask) -> None:
    from ..extensions import login_manager

    login_manager.user_loader(load_facilitator)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to see this page."
    login_manager.session_protection = None  # the session epoch and timeouts do this job
    app.register_blueprint(bp)
