"""Helpers that act as facilitators and panellists do, for the flow tests."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from flask.testing import FlaskClient

from delphi import mail
from delphi.extensions import db
from delphi.models import OutboxMessage, Rating, Response, Round, Study
from delphi.rounds import operations as round_ops
from delphi.tokens import link_for, mint_token

BASE = "https://delphi.test"


def launch(study: Study, closes_at: datetime | None = None) -> Round:
    rnd = round_ops.launch_round(study, "test", closes_at)
    db.session.commit()
    return rnd


def close(study: Study) -> Round:
    rnd = round_ops.close_round(study, "test")
    db.session.commit()
    return rnd


def confirm_in_console(client: FlaskClient, path: str, query: str = ""):
    """Open the confirmation page of an irreversible console action (launch, close, finish)
    and press its button, as a facilitator does: the form's hidden fields are posted."""
    page = client.get(path + (f"?{query}" if query else ""))
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    form = html[html.index(f'<form method="post" action="{path}">'):]
    form = form[:form.index("</form>")]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    # The boxes the page asks to tick (statements without a decision), ticked as read.
    fields.update(re.findall(r'<input type="checkbox" name="([^"]+)" value="([^"]*)" required>',
                             form))
    # The boxes ticked already (email the thank-you message at finish) stay ticked.
    fields.update(re.findall(r'<input type="checkbox" name="([^"]+)" value="([^"]*)" checked>',
                             form))
    assert fields.get("confirmed") == "yes", fields
    return client.post(path, data=fields, follow_redirects=True)


def link_for_panellist(study: Study, panellist_id: int) -> str:
    """A fresh personal link to the open round, as the worker would mint for an email."""
    rnd = round_ops.open_round(study)
    invitation = next(i for i in rnd.invitations if i.panellist_id == panellist_id)
    link = link_for(mint_token(invitation))
    db.session.commit()
    return link


def path_of(link: str) -> str:
    assert link.startswith(BASE + "/p/"), link
    return link[len(BASE):]


def open_link(client: FlaskClient, link: str):
    response = client.get(path_of(link))
    assert response.status_code == 302, response.status_code
    return response


def page_fields(client: FlaskClient) -> dict[str, str]:
    html = client.get("/vote").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    rnd = re.search(r'name="round" value="(\d+)"', html).group(1)
    version = re.search(r'name="sheet_version" value="([^"]+)"', html).group(1)
    return {"csrf_token": token, "round": rnd, "sheet_version": version}


def vote(client: FlaskClient, ratings: dict[int, int | str], action: str = "submit",
         extra: dict[str, str] | None = None, confirm: bool = True):
    """Post the voting form with ``ratings`` (item id -> value or 'uts').

    A submit that leaves statements blank is asked to confirm first; ``confirm`` presses
    "Submit anyway" there, as a panellist who means it would.
    """
    data = page_fields(client)
    data["intent"] = action
    for item_id, value in ratings.items():
        data[f"rating-{item_id}"] = str(value)
    data.update(extra or {})
    response = client.post("/vote", data=data)
    if confirm and response.status_code == 302 \
            and response.headers["Location"].endswith("/vote/confirm"):
        fields = page_fields(client)
        response = client.post("/vote/confirm", data=fields)
    return response


def deliver() -> mail.BatchResult:
    return mail.deliver_batch()


def counts() -> tuple[int, int, int]:
    """(responses, ratings, outbox messages): what a refused request must leave unchanged."""
    return (db.session.scalar(sa.select(sa.func.count()).select_from(Response)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Rating)),
            db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)))
