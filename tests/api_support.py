"""Helpers for the API tests: a token for a facilitator and a client that sends it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from delphi.api import tokens
from delphi.extensions import db
from delphi.models import Facilitator, Invitation, Study
from delphi.panel.answers import Answer, AnswerSheet
from delphi.panel.operations import save_sheet


def make_token(facilitator: Facilitator, scopes: str = "read write", days: int = 30) -> str:
    _token, secret = tokens.create_token(facilitator, "tests", scopes, days)
    db.session.commit()
    return secret


class Api:
    """Calls ``/api/v1`` with a bearer token."""

    def __init__(self, client: FlaskClient, secret: str | None) -> None:
        self.client = client
        self.secret = secret

    def call(self, method: str, path: str, headers: dict[str, str] | None = None,
             **kwargs: Any):
        sent = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        sent.update(headers or {})
        return self.client.open("/api/v1" + path, method=method, headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any):
        return self.call("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any):
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.call("DELETE", path, **kwargs)


def submit_ratings(study: Study, values: list[int]) -> None:
    """Every invited panellist of the open round submits, the n-th giving ``values[n]``
    (cycled) to every statement."""
    rnd = study.current_round
    invitations = db.session.scalars(sa.select(Invitation).where(Invitation.round_id == rnd.id)
                                     .order_by(Invitation.panellist_id)).all()
    for index, invitation in enumerate(invitations):
        sheet = AnswerSheet(action="submit")
        for offset, item in enumerate(i for i in study.items if i.status.value == "active"):
            sheet.answers[item.id] = Answer(value=values[(index + offset) % len(values)])
        save_sheet(invitation, sheet)
    db.session.commit()
