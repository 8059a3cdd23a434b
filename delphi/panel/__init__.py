"""The panellist side: the voting page, reached through an invitation link."""

from flask import Flask

from . import participation  # noqa: F401 - the consent and withdrawal pages, on ``bp``
from .preview import bp as previews
from .views import bp


def init_app(app: Flask) -> None:
    # Flask-WTF checks the voting forms' CSRF tokens as every other form's; the panel's
    # handler of its refusal draws the voting page again with everything typed.
    app.register_blueprint(bp)
    app.register_blueprint(previews)  # the facilitators' previews of the voting page
