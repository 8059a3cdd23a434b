"""Personal links and the voting page: the exchange, drafts, submission and bad input."""

from __future__ import annotations

import io
import logging
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from delphi import invitations
from delphi.extensions import db, write_transaction
from delphi.models import (
    AuditEvent,
    Invitation,
    Rating,
    Response,
    ResponseState,
    RoundState,
    Suggestion,
    utcnow,
)
from delphi.results import tables
from delphi.rounds import operations as round_ops

from .flows import (
    close,
    counts,
    launch,
    link_for_panellist,
    open_link,
    page_fields,
    path_of,
    vote,
)


@pytest.fixture
def running(factory):
    """A small study with six panellists and round 1 open."""
    study = factory.study()
    panel = factory.panel(study)
    launch(study, utcnow() + timedelta(days=7))
    return study, panel


def test_the_link_becomes_a_session_and_the_address_loses_the_secret(client, running):
    study, panel = running
    link = link_for_panellist(study, panel[0].id)
    response = open_link(client, link)
    assert response.headers["Location"] == "/vote"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = client.get("/vote")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "First statement" in html and path_of(link) not in html
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_a_scanner_opening_the_link_changes_nothing(client, running):
    study, panel = running
    link = link_for_panellist(study, panel[0].id)
    before = (counts(), db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)))
    client.get(path_of(link))
    client.get("/vote")
    client.head(path_of(link))
    after = (counts(), db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)))
    assert before == after
    invitation = db.session.scalar(sa.select(Invitation).where(
        Invitation.panellist_id == panel[0].id))
    assert invitation.first_opened_at is None


def test_wrong_revoked_and_closed_links_get_the_same_404(client, running, factory):
    study, panel = running
    good = link_for_panellist(study, panel[0].id)
    revoked = link_for_panellist(study, panel[1].id)
    invitation = db.session.scalar(sa.select(Invitation).where(
        Invitation.panellist_id == panel[1].id))
    invitations.revoke_links(invitation, "test")
    db.session.commit()
    pages = [client.get("/p/" + "x" * 43), client.get(path_of(revoked))]
    close(study)
    pages.append(client.get(path_of(good)))
    assert [p.status_code for p in pages] == [404, 404, 404]
    assert len({p.get_data() for p in pages}) == 1


def test_a_session_from_a_revoked_link_stops_working(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    invitation = db.session.scalar(sa.select(Invitation).where(
        Invitation.panellist_id == panel[0].id))
    invitations.revoke_links(invitation, "test")
    db.session.commit()
    page = client.get("/vote")
    assert page.status_code == 403
    assert "open your personal link again" in page.get_data(as_text=True)


def test_repeated_wrong_links_from_one_address_are_throttled(app, client, running):
    study, panel = running
    app.config["TOKEN_MAX_MISSES"] = 3
    for _ in range(3):
        assert client.get("/p/wrong-token-guess").status_code == 404
    good = link_for_panellist(study, panel[0].id)
    assert client.get(path_of(good)).status_code == 429


def test_the_token_never_reaches_the_logs(client, running, caplog):
    study, panel = running
    link = link_for_panellist(study, panel[0].id)
    secret = path_of(link)[3:]
    caplog.set_level(logging.DEBUG)
    logging.getLogger("werkzeug").info('127.0.0.1 - - "GET %s HTTP/1.1" 302 -', path_of(link))
    open_link(client, link)
    vote(client, {i.id: 7 for i in study.items})
    assert secret not in caplog.text
    assert "/p/[redacted]" in caplog.text


def test_a_draft_is_kept_and_comes_back_from_a_new_link(client, app, running):
    study, panel = running
    items = study.items
    open_link(client, link_for_panellist(study, panel[0].id))
    response = vote(client, {items[0].id: 8, items[1].id: "uts"}, action="save",
                    extra={f"comment-{items[0].id}": "Needs a paediatric cut-off"})
    assert response.status_code == 302
    later = app.test_client()
    open_link(later, link_for_panellist(study, panel[0].id))
    html = later.get("/vote").get_data(as_text=True)
    assert f'name="rating-{items[0].id}" value="8" checked' in html
    assert f'name="rating-{items[1].id}" value="uts" checked' in html
    assert "Needs a paediatric cut-off" in html
    saved = db.session.scalar(sa.select(Response))
    assert saved.state is ResponseState.DRAFT


def test_submit_shows_a_receipt_and_allows_changes_until_the_close(client, running):
    study, panel = running
    items = study.items
    open_link(client, link_for_panellist(study, panel[0].id))
    response = vote(client, {items[0].id: 8, items[1].id: 3})
    assert response.headers["Location"] == "/vote/receipt"
    receipt = client.get("/vote/receipt").get_data(as_text=True)
    assert "2 of 3 statements rated" in receipt
    assert vote(client, {items[0].id: 9, items[1].id: 3, items[2].id: 5}).status_code == 302
    values = dict(db.session.execute(sa.select(Rating.item_id, Rating.value)).all())
    assert values == {items[0].id: 9, items[1].id: 3, items[2].id: 5}
    close(study)
    page = client.get("/vote").get_data(as_text=True)
    assert "This round has closed" in page and "Submit my answers" not in page


def test_autosave_answers_json(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    response = vote(client, {study.items[0].id: 6}, action="autosave")
    assert response.status_code == 200
    assert response.get_json()["answered"] == 1


def test_suggestions_are_kept_in_round_one(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    vote(client, {}, action="save", extra={
        "suggestion": "Add a statement on school attendance",
        f"reword-{study.items[0].id}": "First statement, reworded"})
    texts = sorted(db.session.scalars(sa.select(Suggestion.text)).all())
    assert texts == ["Add a statement on school attendance", "First statement, reworded"]


def _bad(client, study, field_values, status=400):
    before = counts()
    data = page_fields(client) | {"intent": "submit"}
    response = client.post("/vote", data=MultiDict(list(data.items()) + field_values))
    assert response.status_code == status, response.get_data(as_text=True)[-2000:]
    assert counts() == before
    return response.get_data(as_text=True)


@pytest.mark.parametrize(("value", "message"), [
    ("10", "&#39;10&#39; is not a point of the scale (1-9 or unable to score)"),
    ("0", "is not a point of the scale"),
    ("-1", "is not a point of the scale"),
    ("\u0667", "is not a point of the scale"),  # Arabic-Indic seven
    ("７", "is not a point of the scale"),  # full-width seven
    ("7.0", "is not a point of the scale"),
    (" 7 x", "is not a point of the scale"),
])
def test_out_of_scale_values_are_refused_with_a_message(client, running, value, message):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    item = study.items[0]
    html = _bad(client, study, [(f"rating-{item.id}", value), (f"rating-{study.items[1].id}",
                                                               "8")])
    assert message in html
    assert f"statement {item.key}" in html
    assert 'value="8" checked' in html  # what was typed is shown again, not lost


def test_unknown_and_foreign_items_are_refused(client, running, factory):
    study, panel = running
    other = factory.study()
    open_link(client, link_for_panellist(study, panel[0].id))
    html = _bad(client, study, [("rating-999999", "7")])
    assert "1 field of the form is not part of this round" in html
    html = _bad(client, study, [(f"rating-{other.items[0].id}", "7")])
    assert "1 field of the form is not part of this round" in html
    html = _bad(client, study, [("rating-abc", "7")])
    assert "1 field of the form is not part of this round" in html


def test_unknown_fields_are_summed_up_never_echoed(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    marker = "zq" * 40
    fields = [(f"{marker}{n}", "x") for n in range(500)]
    html = _bad(client, study, fields)
    assert "500 fields of the form are not part of this round" in html
    assert marker not in html
    assert len(html) < 200_000


def test_duplicated_fields_are_refused(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    item = study.items[0]
    html = _bad(client, study, [(f"rating-{item.id}", "7"), (f"rating-{item.id}", "3")])
    assert "was sent more than once" in html


def test_a_tampered_round_field_is_refused(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    data = page_fields(client) | {"intent": "submit", "round": "12345",
                                  f"rating-{study.items[0].id}": "7"}
    before = counts()
    response = client.post("/vote", data=data)
    assert response.status_code == 400
    assert "belongs to another round" in response.get_data(as_text=True)
    assert counts() == before


def test_an_unknown_action_and_control_characters_are_refused(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    item = study.items[0]
    html = _bad(client, study, [(f"comment-{item.id}", "bad\x00byte")])
    assert "contains a NUL character" in html  # refused before anything runs, on every database
    html = _bad(client, study, [(f"comment-{item.id}", "bell\x07")])
    assert "control character" in html
    data = page_fields(client) | {"intent": "delete-everything"}
    assert client.post("/vote", data=data).status_code == 400


def test_an_expired_csrf_token_keeps_everything_typed(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    item = study.items[0]
    data = page_fields(client) | {"intent": "submit", "csrf_token": "expired",
                                  f"rating-{item.id}": "6",
                                  f"comment-{item.id}": "typed on the train"}
    before = counts()
    response = client.post("/vote", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "press Save again" in html
    assert 'value="6" checked' in html and "typed on the train" in html
    assert counts() == before


def test_an_oversized_body_gets_413(app, client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    data = page_fields(client) | {"intent": "save",
                                  f"comment-{study.items[0].id}": "x" * (2 * 1024 * 1024)}
    before = counts()
    assert client.post("/vote", data=data).status_code == 413
    assert counts() == before


def test_too_many_form_parts_get_413(app, client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    data = page_fields(client) | {f"x{i}": "1" for i in range(3000)}
    before = counts()
    response = client.post("/vote", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert counts() == before
    assert io  # multipart is where Werkzeug counts parts


def test_a_vote_after_the_close_is_refused(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    close(study)
    before = counts()
    data = fields | {"intent": "submit", f"rating-{study.items[0].id}": "7"}
    response = client.post("/vote", data=data)
    assert response.status_code == 409
    assert "has closed; your answers could not be saved" in response.get_data(as_text=True)
    assert counts() == before


def test_a_vote_after_the_deadline_but_before_the_close_job_is_refused(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    rnd = study.rounds[0]
    rnd.closes_at = utcnow() - timedelta(seconds=1)
    rnd.opened_at = utcnow() - timedelta(days=1)
    db.session.commit()
    before = counts()
    response = client.post("/vote", data=fields | {"intent": "submit",
                                                   f"rating-{study.items[0].id}": "7"})
    assert response.status_code == 409
    assert "closed at its deadline" in response.get_data(as_text=True)
    assert counts() == before


def test_a_vote_meant_for_another_round_is_refused(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    old_fields = page_fields(client)
    vote(client, {i.id: 7 for i in study.items})
    close(study)
    launch(study)
    open_link(client, link_for_panellist(study, panel[0].id))
    before = counts()
    response = client.post("/vote", data=old_fields | {"intent": "submit"})
    assert response.status_code == 400
    assert "belongs to another round" in response.get_data(as_text=True)
    assert counts() == before


def test_only_the_panellists_own_answers_are_reachable(client, app, running):
    study, panel = running
    other = app.test_client()
    open_link(other, link_for_panellist(study, panel[1].id))
    vote(other, {study.items[0].id: 2}, action="save",
         extra={f"comment-{study.items[0].id}": "secret opinion"})
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    assert "secret opinion" not in html and panel[1].email not in html
    assert 'value="2" checked' not in html


def _concurrently(app, study, panellist_id, action_a, action_b):
    clients = [app.test_client(), app.test_client()]
    for c in clients:
        open_link(c, link_for_panellist(study, panellist_id))
    fields = [page_fields(c) for c in clients]
    barrier = threading.Barrier(2)
    results = []

    def run(c, f, action):
        barrier.wait()
        results.append(action(c, f))

    threads = [threading.Thread(target=run, args=(clients[0], fields[0], action_a)),
               threading.Thread(target=run, args=(clients[1], fields[1], action_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_double_submits_leave_exactly_one(app, running):
    study, panel = running
    ratings = {f"rating-{i.id}": "7" for i in study.items}

    def submit(c, f):
        return c.post("/vote", data=f | ratings | {"intent": "submit"}).status_code

    results = _concurrently(app, study, panel[0].id, submit, submit)
    assert sorted(results) == [302, 302]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 3


def test_a_submit_racing_the_close_either_lands_before_it_or_is_refused(app, running):
    study, panel = running
    ratings = {f"rating-{i.id}": "7" for i in study.items}
    outcome = {}
    study_id = study.id  # never touch the test's own objects from another thread

    def submit(c, f):
        outcome["vote"] = c.post("/vote", data=f | ratings | {"intent": "submit"}).status_code
        return outcome["vote"]

    def closer(c, f):
        with app.app_context(), write_transaction():
            from delphi.models import Study

            fresh = db.session.get(Study, study_id)
            round_ops.close_round(fresh, "test")
            db.session.commit()
        return "closed"

    _concurrently(app, study, panel[0].id, submit, closer)
    db.session.expire_all()
    rnd = study.rounds[0]
    assert rnd.state is RoundState.CLOSED
    saved = db.session.scalars(sa.select(Rating)).all()
    result = tables.analyze(tables.study_records(study, 1),
                               tables.analysis_settings(study))
    counted = sum(r["n_valid"] for r in result["items"] if r["group"] is None)
    if outcome["vote"] == 302:
        assert len(saved) == 3 and all(r.updated_at <= rnd.closed_at for r in saved)
    else:
        assert outcome["vote"] in (403, 409) and saved == []
    assert counted == len(saved)


def test_no_form_control_is_named_after_a_form_property():
    """A control named action, submit, method or id shadows the form's own property in the
    browser (form.action became a RadioNodeList and every autosave went to a 404)."""
    import re
    from pathlib import Path

    import delphi

    root = Path(delphi.__file__).parent / "templates"
    control = re.compile(r"<(input|button|select|textarea|output|fieldset|object)\b[^>]*>",
                         re.I | re.S)
    bad_name = re.compile(r"""\b(name|id)\s*=\s*["']?(action|submit|method|id)["'\s>]""", re.I)
    found = [f"{path.relative_to(root)}: {tag.group(0)}"
             for path in sorted(root.rglob("*.html"))
             for tag in control.finditer(path.read_text(encoding="utf-8"))
             if bad_name.search(tag.group(0))]
    assert found == []
    # the WTForms forms too: a field's attribute name becomes its name and id
    import inspect

    from wtforms import Form
    from wtforms.fields.core import UnboundField

    for module in ("auth", "studies", "rounds", "decisions", "exports", "panel"):
        forms = __import__(f"delphi.{module}.forms", fromlist=["x"])
        for _, cls in inspect.getmembers(forms, inspect.isclass):
            if issubclass(cls, Form):
                fields = {n for n, v in vars(cls).items() if isinstance(v, UnboundField)}
                assert not fields & {"action", "submit", "method", "id"}, cls


def _confirm_page(client):
    response = client.get("/vote/confirm")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_part_answered_submit_asks_first_and_keeps_a_draft(client, running):
    study, panel = running
    items = study.items
    open_link(client, link_for_panellist(study, panel[0].id))
    outbox = counts()[2]
    # "unable to score" answers a statement; a comment alone does not
    response = vote(client, {items[0].id: 8, items[1].id: "uts"}, confirm=False,
                    extra={f"comment-{items[2].id}": "Not sure yet"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/vote/confirm"
    saved = db.session.scalar(sa.select(Response))
    assert saved.state is ResponseState.DRAFT  # saved, not submitted
    assert counts()[2] == outbox  # no receipt queued
    html = _confirm_page(client)
    assert "1 statement not answered yet" in html and "2 of 3" in html
    assert f'href="/vote#item-{items[2].id}"' in html  # a link to the blank one
    assert f'href="/vote#item-{items[0].id}"' not in html
    assert "Submit anyway" in html and "Go back to answer them" in html
    # going back shows everything as typed
    page = client.get("/vote").get_data(as_text=True)
    assert f'name="rating-{items[0].id}" value="8" checked' in page
    assert "Not sure yet" in page
    # "Submit anyway" submits the saved answers, with the comment
    fields = page_fields(client)
    response = client.post("/vote/confirm", data=fields)
    assert response.headers["Location"] == "/vote/receipt"
    db.session.expire_all()
    saved = db.session.scalar(sa.select(Response))
    assert saved.state is ResponseState.SUBMITTED
    ratings = {r.item_id: r for r in db.session.scalars(sa.select(Rating))}
    assert ratings[items[0].id].value == 8 and ratings[items[1].id].is_uts
    assert ratings[items[2].id].comment == "Not sure yet"
    assert "2 of 3 statements rated" in client.get("/vote/receipt").get_data(as_text=True)


def test_a_fully_answered_submit_goes_straight_through(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    response = vote(client, {i.id: "uts" for i in study.items}, confirm=False)
    assert response.headers["Location"] == "/vote/receipt"


def test_submit_anyway_needs_its_csrf_token_and_an_open_round(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    vote(client, {study.items[0].id: 5}, confirm=False)
    fields = page_fields(client)
    response = client.post("/vote/confirm", data=fields | {"csrf_token": "forged"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(Response)).state is ResponseState.DRAFT
    close(study)
    response = client.post("/vote/confirm", data=fields)
    assert response.status_code == 409
    assert "has closed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(Response)).state is ResponseState.DRAFT


def test_progress_and_section_counts_are_on_the_page(client, factory):
    study = factory.study(impact=True)
    panel = factory.panel(study, per_group=1)
    launch(study)
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    total = len(study.items)
    assert f'<strong id="progress-count">0</strong> of {total} answered' in html
    section = study.sections[0]
    in_first = [i for i in study.items if i.section_id == section.id]
    assert f'href="#section-{section.id}"' in html and f'id="section-{section.id}"' in html
    assert f'data-section="{section.id}">0 of {len(in_first)} answered' in html
    vote(client, {in_first[0].id: 7, in_first[1].id: "uts"}, action="save")
    html = client.get("/vote").get_data(as_text=True)
    assert f'<strong id="progress-count">2</strong> of {total} answered' in html
    assert f'data-section="{section.id}">2 of {len(in_first)} answered' in html
    assert 'id="next-unanswered"' in html and f'href="#item-{in_first[2].id}"' in html


def test_save_for_later_and_coming_back_land_on_the_first_blank_statement(app, client,
                                                                          running):
    study, panel = running
    items = study.items
    open_link(client, link_for_panellist(study, panel[0].id))
    # a new panellist starts at the top, with the introduction
    assert open_link(app.test_client(), link_for_panellist(study, panel[1].id)) \
        .headers["Location"] == "/vote"
    response = vote(client, {items[0].id: 8}, action="save")
    assert response.headers["Location"] == f"/vote#item-{items[1].id}"
    later = app.test_client()
    assert open_link(later, link_for_panellist(study, panel[0].id)) \
        .headers["Location"] == f"/vote#item-{items[1].id}"
    vote(client, {i.id: 8 for i in items}, action="save")
    assert open_link(later, link_for_panellist(study, panel[0].id)) \
        .headers["Location"] == "/vote"


def test_pages_are_compressed_with_brotli_or_gzip_and_keep_their_headers(client, running):
    import gzip

    import brotli

    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    plain = client.get("/vote", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    html = plain.get_data()
    for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        packed = client.get("/vote", headers={"Accept-Encoding": f"{encoding}, identity"})
        assert packed.headers["Content-Encoding"] == encoding
        assert "Accept-Encoding" in packed.headers["Vary"]
        body = packed.get_data()
        assert len(body) * 4 < len(html)
        page = decode(body)
        # the same page (its CSRF token aside), and the headers that guard it kept
        assert page.split(b'name="csrf_token"')[0] == html.split(b'name="csrf_token"')[0]
        assert packed.headers["Cache-Control"] == "no-store"
        assert packed.headers["Content-Security-Policy"] == plain.headers[
            "Content-Security-Policy"]
    css = client.get("/static/vendor/pico-2.1.1.min.css", headers={"Accept-Encoding": "gzip"})
    assert css.headers["Content-Encoding"] == "gzip"
    assert len(gzip.decompress(css.get_data())) > 4 * len(css.get_data())
    css.close()
    # an answer to a POST, where typed text is shown again, is never compressed (BREACH)
    data = page_fields(client) | {"intent": "save", "csrf_token": "expired",
                                  f"comment-{study.items[0].id}": "x" * 2000}
    refused = client.post("/vote", data=data, headers={"Accept-Encoding": "br, gzip"})
    assert refused.status_code == 400 and "Content-Encoding" not in refused.headers
    done = vote(client, {i.id: 5 for i in study.items}, action="autosave")
    assert done.status_code == 200 and "Content-Encoding" not in done.headers


def test_the_round_two_page_draws_its_histograms_compactly_and_labels_every_choice(
        app, client, factory):
    import re

    from .test_feedback import _round_one

    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    launch(study)
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) >= 2 * len(study.items)
    # each histogram says what it shows, in under a kilobyte (they were over two)
    assert all("<title>" in s and 'role="img"' in s for s in svgs)
    assert max(len(s) for s in svgs) < 1000, max(len(s) for s in svgs)
    # still accessible: every statement a fieldset with its legend, every choice labelled
    assert html.count('<fieldset class="item') == html.count("<legend>") == len(study.items)
    radios = re.findall(r"<label[^>]*>\s*<input type=\"radio\"", html)
    assert len(radios) == html.count('type="radio"') == len(study.items) * 10  # 1-9 + uts
    # and no blank lines in a statement's own markup (from the scale on)
    blocks = re.findall(r"<fieldset class=\"item.*?</fieldset>", html, re.S)
    assert not [b for b in blocks
                if re.search(r"\n[ \t]*\n", b[b.index('<div class="scale-points'):])]


def test_a_submit_the_page_already_confirmed_goes_straight_through(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    response = vote(client, {study.items[0].id: 4}, confirm=False, extra={"confirmed": "1"})
    assert response.headers["Location"] == "/vote/receipt"
    assert db.session.scalar(sa.select(Response)).state is ResponseState.SUBMITTED
