"""The panellist side: personal links, the voting page, feedback and receipts."""

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    # Flask-WTF checks the voting forms' CSRF tokens as every other form's; the panel's
    # handler of its refusal draws the voting page again with everything typed.
    app.register_blueprint(bp)
