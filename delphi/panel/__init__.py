"""The panellist side: personal links, the voting page, feedback and receipts."""

from flask import Flask

from ..extensions import csrf
from . import participation  # noqa: F401 - the consent and withdrawal pages, on ``bp``
from .preview import bp as previews
from .views import bp


def init_app(app: Flask) -> None:
    # The voting form checks its CSRF token itself, so that an expired token re-shows
    # the page with everything typed instead of throwing the answers away.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(previews)  # the facilitators' previews of the voting page
