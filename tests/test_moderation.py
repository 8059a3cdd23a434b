"""Comment moderation: a facilitator hides or redacts a comment before it is fed back."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import AuditEvent, Rating

from .conftest import csrf_token, login
from .flows import close, launch, link_for_panellist, open_link, vote

IDENTIFYING = "As Dr Jane Roe at St Elsewhere I saw this fail twice"
OTHER = "Depends on the centre"


@pytest.fixture
def closed_round(app, client, factory):
    """Round 1 closed with two comments on the first statement, round 2 open."""
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    panel = factory.panel(study)
    launch(study)
    first = study.items[0]
    for person, text in ((panel[0], IDENTIFYING), (panel[3], OTHER)):
        voter = app.test_client()
        open_link(voter, link_for_panellist(study, person.id))
        assert vote(voter, {i.id: 8 for i in study.items},
                    extra={f"comment-{first.id}": text}).status_code == 302
    close(study)
    login(client, "lead@example.org")
    rating = db.session.scalar(sa.select(Rating).where(Rating.comment == IDENTIFYING))
    return study, panel, rating


def _feedback_block(app, study, person) -> str:
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    return voter.get("/vote").get_data(as_text=True)


def _moderate(client, study, rating, **data):
    url = f"/studies/{study.slug}/comments/{rating.id}"
    return client.post(url, data={"csrf_token": csrf_token(client, url), **data})


def test_a_redacted_comment_is_fed_back_redacted_and_kept_as_written_in_the_raw_export(
        app, client, closed_round):
    study, panel, rating = closed_round
    launch(study)
    assert IDENTIFYING in _feedback_block(app, study, panel[1])  # cached once, as written

    response = _moderate(client, study, rating, show="redact",
                         redacted="As a clinician I saw this fail twice",
                         reason="names a colleague and a hospital")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The panel and the report now read the redacted text" in page

    html = _feedback_block(app, study, panel[1])
    assert IDENTIFYING not in html
    assert "As a clinician I saw this fail twice" in html and OTHER in html
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "comment.moderated"))
    assert event.detail["before"]["moderation"] is None
    assert event.detail["after"] == {"moderation": "redacted",
                                     "redacted_comment": "As a clinician I saw this fail twice",
                                     "reason": "names a colleague and a hospital"}
    assert IDENTIFYING not in str(event.detail)  # the audit log does not copy it

    raw = client.get(f"/studies/{study.slug}/exports/raw.csv")
    with zipfile.ZipFile(io.BytesIO(raw.data)) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("comments.csv").decode("utf-8-sig"))))
    written = next(r for r in rows if r["comment"] == IDENTIFYING)
    assert (written["moderated"], written["redacted_comment"], written["moderation_reason"]) == (
        "redacted", "As a clinician I saw this fail twice", "names a colleague and a hospital")
    assert next(r for r in rows if r["comment"] == OTHER)["moderated"] == ""


def test_a_hidden_comment_disappears_from_feedback_and_results_and_can_be_restored(
        app, client, closed_round):
    study, panel, rating = closed_round
    assert _moderate(client, study, rating, show="hide", reason="identifies a patient",
                     redacted="").status_code == 302
    results = client.get(f"/studies/{study.slug}/rounds/1/results").get_data(as_text=True)
    assert IDENTIFYING not in results and OTHER in results
    comments = client.get(f"/studies/{study.slug}/rounds/1/comments").get_data(as_text=True)
    assert "hidden" in comments and IDENTIFYING in comments  # the team still sees it
    launch(study)
    html = _feedback_block(app, study, panel[1])
    assert IDENTIFYING not in html and OTHER in html

    assert _moderate(client, study, rating, show="restore", reason="the patient agreed",
                     redacted="").status_code == 302
    assert IDENTIFYING in _feedback_block(app, study, panel[2])


@pytest.mark.parametrize("field,value,message", [
    ("reason", "", "required"),
    ("reason", "x" * 501, "at most 500"),
    ("reason", "bad\x00reason", "contains a NUL character"),  # refused before any form
    ("reason", "bad\x07bell", "control character"),
    ("reason", "<script>alert(1)</script>", "markup"),
    ("redacted", "", "required"),
    ("redacted", "y" * 5001, "at most 5000"),
    ("redacted", "nul\x00here", "contains a NUL character"),
    ("redacted", "<script>alert(1)</script>", "markup"),
    ("show", "delete", "Choose hide, redact or restore"),
])
def test_bad_moderation_input_is_answered_and_nothing_is_saved(client, closed_round, field,
                                                               value, message):
    study, _panel, rating = closed_round
    data = {"show": "redact", "redacted": "A clinician said so", "reason": "identifying"}
    data[field] = value
    response = _moderate(client, study, rating, **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(Rating, rating.id)
    assert stored.moderation is None and stored.redacted_comment == ""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "comment.moderated")) == 0


def test_an_open_rounds_comment_cannot_be_moderated(app, client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    panel = factory.panel(study)
    launch(study)
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, panel[0].id))
    vote(voter, {i.id: 8 for i in study.items}, extra={f"comment-{study.items[0].id}": "Hm"})
    login(client, "lead@example.org")
    rating = db.session.scalar(sa.select(Rating).where(Rating.comment == "Hm"))
    response = _moderate(client, study, rating, show="hide", reason="r", redacted="")
    assert response.status_code == 400
    assert "still open" in response.get_data(as_text=True)
    assert db.session.get(Rating, rating.id).moderation is None


def test_the_comments_page_lists_each_comment_with_a_moderation_link(client, closed_round):
    study, _panel, rating = closed_round
    html = client.get(f"/studies/{study.slug}/rounds/1/comments").get_data(as_text=True)
    assert IDENTIFYING in html and OTHER in html
    assert re.search(rf'href="/studies/{study.slug}/comments/{rating.id}"', html)
