"""Email texts (issue 10, point 5): per-study sender, reply-to and contact person; edited
subjects and bodies filled in a placeholder-only sandbox; preview and a test to me."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from delphi import email_texts, mail
from delphi.extensions import db
from delphi.models import AuditEvent, DomainError, OutboxMessage, utcnow
from delphi.rounds import operations as ops

from .conftest import csrf_token, login
from .flows import launch

SCRIPT = "<script>alert(1)</script>"


def test_the_sandbox_fills_placeholders_and_nothing_else():
    values = {"name": "Ada <b>", "link": "https://delphi.test/p/abc"}
    assert email_texts.fill_text("Dear {name}: {{literal}} {link}", values) == \
        "Dear Ada <b>: {literal} https://delphi.test/p/abc"
    html = email_texts.fill_html("Dear {name}\n\n{link}", values)
    assert "Ada &lt;b&gt;" in html and '<a href="https://delphi.test/p/abc">' in html
    for bad, named in [("{name.__class__}", "{name.__class__}"), ("{0}", "{0}"),
                       ("{name!r}", "{name!r}"), ("{name:>99}", "{name:>99}"),
                       ("{__import__}", "{__import__}"), ("{study.title}", "{study.title}")]:
        with pytest.raises(DomainError, match="is not a placeholder") as info:
            email_texts.fill_text(bad, values, "Reminder body")
        assert named in str(info.value) and "Reminder body" in str(info.value)
    for stray in ("Dear {name", "a } b", "{"):
        with pytest.raises(DomainError, match="stray brace"):
            email_texts.fill_text(stray, values)


def test_invitations_and_reminders_must_carry_the_link():
    with pytest.raises(DomainError, match=r"must contain \{link\}"):
        email_texts.check("invitation", "Hello", "Dear {name}, no link here.")
    with pytest.raises(DomainError, match="cannot go in the subject"):
        email_texts.check("reminder", "Your link {link}", "{link}")
    email_texts.check("receipt", "Thanks", "Dear {name}, thank you.")  # no link needed


@pytest.fixture
def owner_study(factory):
    owner = factory.facilitator("owner@example.org", name="Olive Owner")
    study = factory.study(owner=owner)
    return owner, study


def _post_text(client, study, kind, intent="save", **fields):
    url = f"/studies/{study.slug}/emails"
    data = {"csrf_token": csrf_token(client, url), f"{kind}-kind": kind, "intent": intent}
    data |= {f"{kind}-{k}": v for k, v in fields.items()}
    return client.post(f"{url}/{kind}", data=data, follow_redirects=True)


def test_an_edited_reminder_is_sent_with_reply_to_and_the_deadline_in_the_zone(
        app, smtp, client, factory, owner_study):
    owner, study = owner_study
    panel = factory.panel(study)
    login(client, owner.email)
    url = f"/studies/{study.slug}/emails"
    page = client.post(f"{url}/settings", follow_redirects=True, data={
        "csrf_token": csrf_token(client, url), "sender_name": "The TEST committee",
        "reply_to": "Team@Example.org", "contact_person": "Dr Ada Lovelace"})
    assert "are saved" in page.get_data(as_text=True)
    page = _post_text(client, study, "reminder", subject="Nudge: {study} round {round}",
                      body="Hello {name},\n\nclosing {deadline}.\n\n{link}\n\nAsk {contact}."
                           "\n{signature}")
    assert "is saved" in page.get_data(as_text=True)
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "study.email_text_changed")).one()
    assert event.detail["before"] is None and event.detail["after"]["subject"].startswith("Nudge")
    study.time_zone = "Asia/Tokyo"
    db.session.commit()
    launch(study, utcnow().replace(microsecond=0) + timedelta(days=3))
    db.session.execute(sa.delete(OutboxMessage))
    db.session.commit()
    ops.remind(study, owner)
    db.session.commit()
    mail.deliver_batch()
    message = smtp.to(panel[0].email)[0]
    assert message["Subject"] == "Nudge: A small study round 1"
    assert message["Reply-To"] == "team@example.org"
    assert message["From"] == "The TEST committee <study@delphi.test>"  # the address: ours
    text = smtp.text(message)
    assert f"Hello {panel[0].name}," in text and "Asia/Tokyo (UTC+09:00)" in text
    assert "Ask Dr Ada Lovelace." in text and "The TEST committee" in text
    assert smtp.link(message).startswith("https://delphi.test/p/")


def test_an_edited_invitation_carries_a_working_withdrawal_link(
        app, smtp, client, factory, owner_study):
    owner, study = owner_study
    panel = factory.panel(study)
    login(client, owner.email)
    page = _post_text(client, study, "invitation", subject="Round {round} of {study}",
                      body="Dear {name},\n\n{link}\n\nTo leave the study: {withdraw_link}")
    assert "is saved" in page.get_data(as_text=True)
    launch(study)
    mail.deliver_batch()
    text = smtp.text(smtp.to(panel[0].email)[0])
    found = re.search(r"To leave the study: (https://delphi\.test(/p/[^/\s]+)/withdraw)\s", text)
    assert found, text
    assert found.group(2) in smtp.link(smtp.to(panel[0].email)[0])  # the same personal link
    leaver = app.test_client()
    response = leaver.get(found.group(1).removeprefix("https://delphi.test"))
    assert response.status_code == 302 and response.headers["Location"].endswith("/withdraw")
    page = leaver.get("/withdraw")  # the panellist's own withdrawal page, asking first
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)


def test_an_unedited_study_keeps_todays_texts(app, smtp, factory):
    study = factory.study()
    panel = factory.panel(study)
    launch(study)
    mail.deliver_batch()
    message = smtp.to(panel[0].email)[0]
    assert message["Subject"] == "A small study: round 1 is open for your ratings"
    assert "Thank you for joining the expert panel" in smtp.text(message)
    assert message["Reply-To"] is None


def test_preview_fills_sample_values_and_saves_nothing(client, owner_study):
    owner, study = owner_study
    login(client, owner.email)
    page = _post_text(client, study, "invitation", intent="preview",
                      subject="Round {round} of {study}", body="Dear {name} <3,\n\n{link}")
    html = page.get_data(as_text=True)
    assert "Round 1 of A small study" in html and "Dear Dr Jane Example &lt;3," in html
    assert "/p/example-personal-link" in html
    db.session.refresh(study)
    assert study.email_texts == {}


def test_send_a_test_to_me(app, smtp, client, owner_study):
    owner, study = owner_study
    login(client, owner.email)
    page = _post_text(client, study, "extension", intent="test", subject="x", body="y")
    assert "owner@example.org is in the outbox" in page.get_data(as_text=True)
    mail.deliver_batch()
    message = smtp.to("owner@example.org")[0]
    assert message["Subject"] == "A small study: round 1 now closes on " + \
        message["Subject"].split("closes on ")[1]
    assert "Dear Olive Owner" in smtp.text(message)


@pytest.mark.parametrize("field,value,message", [
    ("subject", "", "The subject is empty"),
    ("body", "", "The body is empty"),
    ("subject", "x" * 201, "200"),
    ("body", "{link}" + "x" * 10001, "10000"),
    ("body", "{link} " + SCRIPT, "markup"),
    ("subject", SCRIPT, "markup"),
    ("body", "{link} {nmae}", "{nmae} is not a placeholder"),
    ("body", "{link} {name", "stray brace"),
    ("body", "Dear {name}", "must contain {link}"),
    ("body", "{link}\x00", "NUL"),
])
def test_bad_texts_are_refused_with_a_message_and_nothing_saved(client, owner_study, field,
                                                                value, message):
    owner, study = owner_study
    login(client, owner.email)
    fields = {"subject": "Round {round}", "body": "Dear {name}, {link}"} | {field: value}
    page = _post_text(client, study, "reminder", **fields)
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and message in html
    assert SCRIPT not in html
    db.session.refresh(study)
    assert study.email_texts == {}


@pytest.mark.parametrize("field,value,message", [
    ("reply_to", "not-an-address", "cannot be used"),
    ("reply_to", "a" * 255 + "@x.org", "254"),
    ("contact_person", SCRIPT, "markup"),
    ("sender_name", "x" * 121, "120"),
    ("contact_person", "Ada\x00", "NUL"),
])
def test_bad_settings_are_refused(client, owner_study, field, value, message):
    owner, study = owner_study
    login(client, owner.email)
    url = f"/studies/{study.slug}/emails"
    data = {"csrf_token": csrf_token(client, url), "sender_name": "S", "reply_to": "",
            "contact_person": ""} | {field: value}
    page = client.post(f"{url}/settings", data=data)
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    db.session.refresh(study)
    assert (study.sender_name, study.reply_to, study.contact_person) == ("", "", "")


def test_back_to_the_default(client, owner_study):
    owner, study = owner_study
    login(client, owner.email)
    _post_text(client, study, "receipt", subject="Got it", body="Thanks {name}")
    db.session.refresh(study)
    assert "receipt" in study.email_texts
    page = _post_text(client, study, "receipt", intent="reset", subject="", body="")
    assert "back to its default" in page.get_data(as_text=True)
    db.session.refresh(study)
    assert study.email_texts == {}


def test_the_thank_you_message_goes_once_the_study_is_finished(app, factory):
    from delphi.decisions import operations as decisions

    from .flows import close

    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    with pytest.raises(DomainError, match="finished"):
        ops.send_thank_you(study, owner)
    launch(study)
    close(study)
    decisions.finish_study(study, owner)
    db.session.commit()
    assert ops.send_thank_you(study, owner) == len(panel)
    db.session.commit()
    with pytest.raises(DomainError, match="thanked already"):
        ops.send_thank_you(study, owner)


def test_the_survey_file_carries_the_schedule_and_email_texts_exactly(factory):
    from delphi.studies.operations import import_survey, study_definition
    from delphi.surveys import dump_survey, parse_survey

    study = factory.study()
    plain = dump_survey(study_definition(study))
    assert "schedule:" not in plain and "emails:" not in plain  # defaults stay out
    study.time_zone, study.reminder_days = "Europe/Rome", [7, 2]
    study.suggestions_every_round = True
    study.reply_to, study.contact_person = "team@example.org", "Dr Ada Lovelace"
    study.email_texts = {"reminder": {"subject": "Nudge {round}",
                                      "body": "Dear {name},\n\n{link}\n\n{{braces}}"}}
    db.session.commit()
    text = dump_survey(study_definition(study))
    again = parse_survey(text.replace(f"slug: {study.slug}", "slug: copied"), "copy.yaml")
    copy = import_survey(again, "test")
    db.session.commit()
    assert (copy.time_zone, copy.reminder_days, copy.suggestions_every_round, copy.reply_to,
            copy.contact_person, copy.email_texts) == (
        "Europe/Rome", [7, 2], True, "team@example.org", "Dr Ada Lovelace", study.email_texts)
    assert dump_survey(study_definition(copy)) == text.replace(f"slug: {study.slug}",
                                                               "slug: copied")


@pytest.mark.parametrize("block,problem", [
    ("schedule: {time_zone: Mars/Base}", "schedule.time_zone: 'Mars/Base' is not a time zone"),
    ("schedule: {reminders: [0]}", "schedule.reminders: must be a list"),
    ("emails: {reply_to: nope}", "emails.reply_to: it must be name@domain"),
    ("emails: {invitation: {subject: Hi, body: 'no link'}}",
     "emails.invitation: Invitation body: it must contain {link}"),
    ("emails: {reminder: {subject: Hi, body: '{link} {oops}'}}", "{oops} is not a placeholder"),
    ("emails: {reminder: {subject: Hi, body: '<script>{link}'}}", "contains markup"),
    ("emails: {memo: {subject: Hi, body: x}}", "emails.memo: unknown key"),
])
def test_bad_schedule_or_texts_in_a_survey_file_name_their_path(block, problem):
    from delphi.surveys import SurveyError, parse_survey

    from .factories import SMALL_SURVEY

    with pytest.raises(SurveyError) as info:
        parse_survey(SMALL_SURVEY.format(slug="bad-file") + block + "\n", "bad.yaml")
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_the_sender_name_is_the_from_display_name_in_any_script_and_one_line(
        app, smtp, factory, owner_study):
    owner, study = owner_study
    panel = factory.panel(study)
    study.sender_name = "Comité de pilotage IMPACT – Genève\r\nBcc: x@evil.test"
    db.session.commit()
    launch(study)
    mail.deliver_batch()
    message = smtp.to(panel[0].email)[0]
    # one quoted display name (it holds ':' and '@'), never a second header
    assert str(message["From"]) == ('"Comité de pilotage IMPACT – Genève Bcc: x@evil.test" '
                                    "<study@delphi.test>")
    assert "Bcc" not in message and all(len(r) == 1 for r in smtp.envelopes)
