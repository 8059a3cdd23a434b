"""One panellist's personal data: a copy, erasure; a study archived and deleted after its
retention date (GDPR articles 15-17)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from delphi import invitations
from delphi.cli import periodic_jobs
from delphi.decisions import operations as decision_ops
from delphi.exports.data import load
from delphi.exports.flow import participant_rows, study_changes
from delphi.exports.raw import rating_rows
from delphi.extensions import db
from delphi.models import (
    AccessToken,
    AuditEvent,
    DomainError,
    Invitation,
    OutboxMessage,
    Panellist,
    Rating,
    Response,
    Study,
    StudyState,
    Suggestion,
    utcnow,
)
from delphi.rounds import operations as round_ops
from delphi.studies import operations as ops
from delphi.studies import privacy
from delphi.surveys import SurveyError, dump_survey, parse_survey

from .conftest import csrf_token, login
from .factories import SMALL_SURVEY
from .flows import close, confirm_in_console, launch, link_for_panellist, open_link, vote

OWNER = "owner@example.org"


def _study(factory, erasure: str = "keep-pseudonymised", retention_days: int | None = None):
    """A small study whose panel has voted in round 1 (closed); P0001 with a comment and a
    suggestion."""
    owner = factory.facilitator(OWNER)
    text = SMALL_SURVEY.format(slug="private") + f"privacy: {{erasure: {erasure}" + (
        f", retention_days: {retention_days}}}" if retention_days is not None else "}")
    study = ops.import_survey(parse_survey(text, "s.yaml"), "test", owner)
    db.session.commit()
    panel = factory.panel(study, per_group=3)
    panel[0].attributes = {"country": "Norway"}
    db.session.commit()
    launch(study)
    items = study.current_round.items
    for n, person in enumerate(panel):
        from flask import current_app

        client = current_app.test_client()
        open_link(client, link_for_panellist(study, person.id))
        extra = {f"comment-{items[0].id}": "Only in my clinic in Tromsø"} if n == 0 else {}
        if n == 0:
            extra["suggestion"] = "Report B-cell recovery"
        assert vote(client, {i.id: 7 + (n % 3) for i in items}, extra=extra).status_code == 302
    close(study)
    return study, panel


def test_the_protocol_settings_are_read_written_and_checked():
    text = SMALL_SURVEY.format(slug="ss") + "privacy: {erasure: delete-answers, " \
                                           "retention_days: 3650}\n"
    d = parse_survey(text, "s.yaml")
    assert (d.erasure, d.retention_days) == ("delete-answers", 3650)
    assert parse_survey(dump_survey(d), "again.yaml") == d
    plain = parse_survey(SMALL_SURVEY.format(slug="ss"), "s.yaml")
    assert (plain.erasure, plain.retention_days) == ("keep-pseudonymised", None)
    with pytest.raises(SurveyError) as bad:
        parse_survey(SMALL_SURVEY.format(slug="ss") + "privacy: {erasure: forget, "
                                                     "retention_days: -1, keep: 1}\n", "s.yaml")
    text = str(bad.value)
    assert "privacy.erasure: 'forget' is not one of: keep-pseudonymised, delete-answers" in text
    assert "privacy.retention_days: must be between 0 and" in text
    assert "privacy.keep: unknown key" in text


def test_a_panellist_gets_everything_held_about_them_from_the_console(app, client, factory):
    study, panel = _study(factory)
    login(client, OWNER)
    page = client.get(f"/studies/{study.slug}/panel")
    assert f'/studies/{study.slug}/panel/P0001/' in page.get_data(as_text=True)
    url = f"/studies/{study.slug}/panel/P0001/"
    assert "Download their data" in client.get(url).get_data(as_text=True)
    assert client.get(url + "export").status_code == 405  # a copy is a POST (audited)
    assert client.post(url + "export", data={}).status_code == 400  # no CSRF token
    response = client.post(url + "export", data={"csrf_token": csrf_token(client, url)})
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data())
    person = panel[0]
    assert data["identity"]["name"] == person.name and data["identity"]["email"] == person.email
    assert data["identity"]["attributes"] == {"country": "Norway"}
    assert data["consent"] == []
    assert [i["round"] for i in data["invitations"]] == [1]
    assert data["answers"][0]["state"] == "submitted"
    assert len(data["answers"][0]["ratings"]) == 3
    assert data["comments"][0]["comment"] == "Only in my clinic in Tromsø"
    assert data["suggestions"][0]["text"] == "Report B-cell recovery"
    assert [(e["kind"], e["to"]) for e in data["emails"]][0] == ("invitation", person.email)
    # nothing about another panellist
    assert panel[1].email not in response.get_data(as_text=True)
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "panellist.exported")).one()
    assert event.actor == f"facilitator:{OWNER}" and event.detail == {"panellist": "P0001"}


def _erase_in_console(client, study, pseudonym="P0001"):
    path = f"/studies/{study.slug}/panel/{pseudonym}/erase"
    return confirm_in_console(client, path)


def test_erasing_keeps_the_answers_under_the_pseudonym_when_the_protocol_says_so(
        app, client, factory):
    study, panel = _study(factory)
    person_id, name, email = panel[0].id, panel[0].name, panel[0].email
    before = load(study)
    responded = participant_rows(before)
    login(client, OWNER)
    path = f"/studies/{study.slug}/panel/P0001/erase"
    page = client.get(path).get_data(as_text=True)
    assert name in page and "keeps their answers under the pseudonym" in page
    # the page and a POST without the confirmation change nothing
    refused = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert refused.status_code == 303
    assert db.session.get(Panellist, person_id).erased_at is None

    done = _erase_in_console(client, study)
    assert "The personal data of P0001 is erased" in done.get_data(as_text=True)
    person = db.session.get(Panellist, person_id)
    assert person.erased_at is not None and not person.is_active
    assert (person.name, person.attributes) == ("", {})
    assert person.email == "p0001@erased.invalid"
    tokens = db.session.scalars(sa.select(AccessToken).join(Invitation)
                                .where(Invitation.panellist_id == person_id)).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)
    outbox = db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.panellist_id == person_id)).all()
    assert outbox and all(m.to_address == "" for m in outbox)
    # the answers stay, so do the results and the counts
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating).where(
        Rating.panellist_id == person_id)) == 3
    assert participant_rows(load(study)) == responded
    # no erased data anywhere in the audit log; the erasure itself is in it
    events = db.session.scalars(sa.select(AuditEvent)).all()
    assert not [e for e in events if name in json.dumps(e.detail) or email in json.dumps(e.detail)]
    erased = [e for e in events if e.action == "panellist.erased"]
    assert len(erased) == 1 and erased[0].detail["policy"] == "keep-pseudonymised"
    # the panel page shows the tombstone, not the person
    panel_page = client.get(f"/studies/{study.slug}/panel").get_data(as_text=True)
    assert name not in panel_page and email not in panel_page and "Erased on" in panel_page
    # a second erasure is refused with a message
    assert "erased already" in client.get(path).get_data(as_text=True)
    with pytest.raises(DomainError, match="erased already"):
        privacy.erase_panellist(db.session.get(Panellist, person_id), "test")


def test_erasing_with_delete_answers_recomputes_the_results_the_report_reads(
        app, client, factory):
    study, panel = _study(factory, erasure="delete-answers")
    person_id = panel[0].id
    pooled = [r for r in participant_rows(load(study)) if r["group"] is None][0]
    assert (pooled["invited"], pooled["responded"]) == (6, 6)
    login(client, OWNER)
    page = client.get(f"/studies/{study.slug}/panel/P0001/erase").get_data(as_text=True)
    assert "deletes their answers" in page
    _erase_in_console(client, study)
    for model in (Rating, Response, Suggestion):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model).where(
            model.panellist_id == person_id)) == 0
    data = load(study)
    pooled = [r for r in participant_rows(data) if r["group"] is None][0]
    # still invited (the pseudonym stays), no longer counted as having answered
    assert (pooled["invited"], pooled["responded"]) == (6, 5)
    # the report's numbers agree with the raw ratings
    answered = {rec[2] for rec in rating_rows(data) if rec[4] is not None}
    assert len(answered) == pooled["responded"] and "P0001" not in answered
    item = data.closed_rounds[0].items[0]
    assert data.row(1, item.key)["n_valid"] == 5
    # and the report says so, among the changes after the settings were locked
    changes = study_changes(data)
    assert [c["what"] for c in changes] == ["personal data of a panellist erased"]
    assert "rounds_recomputed: [1]" in changes[0]["detail"]
    report = client.get(f"/studies/{study.slug}/exports/report").get_data(as_text=True)
    assert "personal data of a panellist erased" in report


def test_an_erased_panellists_link_stops_working_and_no_new_one_is_sent(app, client, factory):
    study, panel = _study(factory)
    launch(study)
    link = link_for_panellist(study, panel[1].id)
    privacy.erase_panellist(panel[1], "test")
    db.session.commit()
    response = client.get(link.removeprefix("https://delphi.test"))
    assert response.status_code != 302
    # and no way of sending them a new one: no reissue, no resend, no reminder
    invitation = round_ops.find_invitation(study.current_round, panel[1])
    with pytest.raises(DomainError, match="erased"):
        invitations.reissue_link(invitation, "test")
    db.session.rollback()
    message = db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.panellist_id == panel[1].id)).first()
    with pytest.raises(DomainError, match="erased"):
        from delphi import mail

        mail.resend(message)
    db.session.rollback()
    round_ops.remind(study, "test")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.panellist_id == panel[1].id, OutboxMessage.kind == "reminder")) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "reminder")) == 5


def _finish(study: Study) -> None:
    decision_ops.finish_study(study, "test")
    db.session.commit()


def test_a_finished_study_is_archived_after_its_final_export_is_offered(app, client, factory):
    study, _ = _study(factory, retention_days=30)
    login(client, OWNER)
    path = f"/studies/{study.slug}/archive"
    assert "only a finished study" in client.get(path).get_data(as_text=True)
    _finish(study)
    assert "Take the final export and archive it" in client.get(
        f"/studies/{study.slug}/").get_data(as_text=True)
    page = client.get(path).get_data(as_text=True)
    assert f"/studies/{study.slug}/exports/raw.json" in page
    assert "30 days after it finished" in page
    done = confirm_in_console(client, path)
    assert "The study is archived" in done.get_data(as_text=True)
    db.session.refresh(study)
    assert study.state is StudyState.ARCHIVED and study.archived_at is not None
    assert study.retention_until == study.finished_at + timedelta(days=30)
    with pytest.raises(DomainError, match="archived"):
        round_ops.launch_round(study, "test")
    with pytest.raises(DomainError, match="archived"):
        decision_ops.last_closed_round_number(study)
    with pytest.raises(DomainError, match="archived; its panel cannot change"):
        ops.import_panel(study, "name,email,group\nA,a@example.org,clin\n", "test")
    # the exports still work
    assert client.get(f"/studies/{study.slug}/exports/raw.json").status_code == 200


def test_purge_deletes_only_archived_studies_past_their_retention_date(app, factory):
    study, _ = _study(factory, retention_days=30)
    keep = factory.study(slug="kept")
    _finish(study)
    with pytest.raises(DomainError, match="only an archived study"):
        privacy.delete_study(study, "test")
    privacy.archive_study(study, "test")
    db.session.commit()
    periodic_jobs()
    assert db.session.get(Study, study.id) is not None  # not expired yet
    study.finished_at = utcnow() - timedelta(days=31)
    db.session.commit()
    study_id = study.id
    periodic_jobs()  # the mail worker's pass deletes it
    db.session.expire_all()
    assert db.session.get(Study, study_id) is None
    assert db.session.get(Study, keep.id) is not None
    for model in (Panellist, Rating, OutboxMessage, Invitation):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "study.deleted")).one()
    assert event.study_id is None and event.actor == "system:retention"
    assert event.detail["slug"] == "private"
