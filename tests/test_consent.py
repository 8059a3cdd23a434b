"""Consent on the first visit, a versioned information sheet, and withdrawal by the panellist."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from delphi import mail
from delphi.extensions import db
from delphi.models import (
    AuditEvent,
    ConsentRecord,
    Invitation,
    OutboxMessage,
    Panellist,
    Rating,
    Response,
    Round,
)
from delphi.studies import operations as study_ops
from delphi.surveys import SurveyError, dump_survey, parse_survey

from .conftest import csrf_token, login
from .factories import SMALL_SURVEY
from .flows import close, counts, launch, link_for_panellist, open_link, path_of, vote

SHEET = "Why this study\n\nWe ask experts to rate statements.\nIt takes about 20 minutes."
STATEMENT = "I have read the information above and agree to take part."
CONSENT_BLOCK = f"""consent:
  information_sheet: {SHEET!r}
  statement: {STATEMENT!r}
""".replace("'", '"')


def _with_consent(factory, owner=None, erasure: str = "keep-pseudonymised"):
    text = SMALL_SURVEY.format(slug="consent-study") + CONSENT_BLOCK \
        + f"privacy: {{erasure: {erasure}}}\n"
    study = study_ops.import_survey(parse_survey(text, "s.yaml"), "test", owner)
    db.session.commit()
    return study


@pytest.fixture
def study(factory):
    owner = factory.facilitator("lead@example.org")
    study = _with_consent(factory, owner)
    factory.panel(study, per_group=2)
    launch(study)
    return study


def _answer(client, button: str):
    html = client.get("/consent").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    version = re.search(r'name="version" type="hidden" value="(\d*)"', html).group(1)
    return client.post("/consent", data={"csrf_token": token, "version": version,
                                          button: "x"})


def test_the_survey_file_carries_the_consent_texts_and_round_trips_exactly(factory):
    study = _with_consent(factory)
    definition = study_ops.study_definition(study)
    assert (definition.information_sheet, definition.consent_statement) == (SHEET, STATEMENT)
    again = parse_survey(dump_survey(definition), "again.yaml")
    assert again == definition
    assert study.consent_document.version == 1


@pytest.mark.parametrize("block,problem", [
    ("consent: {statement: I agree}", "consent.information_sheet: required with a consent"),
    ("consent: {information_sheet: Read me}", "consent.statement: required with an"),
    ("consent: {information_sheet: '<script>x</script>', statement: ok}", "markup"),
    ("consent: {information_sheet: ok, statement: '" + "x" * 3001 + "'}", "at most 3000"),
    ("consent: {information_sheet: ok, statement: ok, signed: true}", "unknown key"),
])
def test_bad_consent_texts_in_the_survey_file_are_named(block, problem):
    with pytest.raises(SurveyError) as error:
        parse_survey(SMALL_SURVEY.format(slug="bad-consent") + block + "\n", "s.yaml")
    assert problem in str(error.value)


def test_the_first_visit_asks_for_consent_before_anything_can_be_saved(app, study):
    person = study.panellists[0]
    voter = app.test_client()
    response = open_link(voter, link_for_panellist(study, person.id))
    assert response.headers["Location"].endswith("/consent")
    page = voter.get("/consent").get_data(as_text=True)
    assert "We ask experts to rate statements. It takes about 20 minutes." in page
    assert STATEMENT in page
    assert voter.get("/vote").headers["Location"].endswith("/consent")
    before = counts()
    data = {"csrf_token": "x", "intent": "save", f"rating-{study.items[0].id}": "8"}
    refused = voter.post("/vote", data=data)
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/consent")
    assert voter.post("/vote", data={**data, "intent": "autosave"}).status_code == 409
    assert counts() == before  # nothing saved before consent
    # An answer whose form has expired (a bad CSRF token) records nothing and says so.
    version = re.search(r'name="version" type="hidden" value="(\d*)"', page).group(1)
    expired = voter.post("/consent", data={"csrf_token": "x", "version": version,
                                           "consent": "y"})
    assert expired.status_code == 400
    assert "nothing was recorded" in expired.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord)) == 0

    assert _answer(voter, "consent").headers["Location"].endswith("/vote")
    record = db.session.scalar(sa.select(ConsentRecord))
    assert (record.decision, record.document.version, record.panellist_id) == (
        "consented", 1, person.id)
    assert db.session.get(Panellist, person.id).consent_at == record.decided_at
    assert vote(voter, {i.id: 8 for i in study.items}).status_code == 302
    assert voter.get("/consent").headers["Location"].endswith("/vote")


def test_declining_records_declined_only_and_ends_participation(app, study):
    person = study.panellists[1]
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    before = counts()
    response = _answer(voter, "decline")
    assert response.headers["Location"].endswith("/declined")
    assert "only your answer and its time were recorded" in \
        voter.get("/declined").get_data(as_text=True).lower()
    assert counts()[:2] == before[:2]  # no answer sheet, no rating
    db.session.expire_all()
    person = db.session.get(Panellist, person.id)
    assert [r.decision for r in person.consent_records] == ["declined"]
    assert person.withdrawal_kind == "declined" and person.consent_at is None
    assert voter.get("/vote").status_code == 403  # the links no longer work
    close(study)
    launch(study)
    rnd = db.session.scalar(sa.select(Round).where(Round.number == 2))
    assert person.id not in {i.panellist_id for i in rnd.invitations}


def test_a_new_version_after_launch_asks_again_and_keeps_the_old_record(app, client, study):
    person = study.panellists[0]
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    _answer(voter, "consent")
    login(client, "lead@example.org")
    url = f"/studies/{study.slug}/build/consent"
    response = client.post(url, data={"csrf_token": csrf_token(client, url),
                                      "information_sheet": SHEET + "\n\nNew: a third round.",
                                      "statement": STATEMENT})
    assert response.status_code == 302
    db.session.expire_all()
    assert [d.version for d in study.consent_documents] == [1, 2]
    assert study.consent_documents[0].information_sheet == SHEET  # the old one is kept
    assert voter.get("/vote").headers["Location"].endswith("/consent")
    assert "updated this information" in voter.get("/consent").get_data(as_text=True)
    _answer(voter, "consent")
    versions = [r.document.version for r in db.session.get(Panellist, person.id).consent_records]
    assert versions == [1, 2]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "consent.revised"))
    assert event.detail["before"]["version"] == 1 and event.detail["after"]["version"] == 2


def test_a_consent_answer_to_an_old_version_is_not_recorded(app, study):
    person = study.panellists[0]
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    html = voter.get("/consent").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = voter.post("/consent", data={"csrf_token": token, "version": "7",
                                             "consent": "x"})
    assert response.status_code == 409 and "updated" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord)) == 0


def test_the_builder_edits_a_drafts_consent_in_place(client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    login(client, "lead@example.org")
    url = f"/studies/{study.slug}/build/consent"
    for sheet in ("First text", "Second text"):
        response = client.post(url, data={"csrf_token": csrf_token(client, url),
                                          "information_sheet": sheet, "statement": STATEMENT})
        assert response.status_code == 302
    db.session.expire_all()
    assert [(d.version, d.information_sheet) for d in study.consent_documents] == [
        (1, "Second text")]
    assert "information_sheet: Second text" in client.get(
        f"/studies/{study.slug}/build/survey.yaml").get_data(as_text=True)


@pytest.mark.parametrize("field,value,message", [
    ("information_sheet", "", "required with a consent statement"),
    ("information_sheet", "x" * 30001, "at most 30000"),
    ("information_sheet", "a\x00b", "contains a NUL character"),
    ("information_sheet", "Read <script>alert(1)</script>", "markup"),
    ("statement", "", "required with an information sheet"),
    ("statement", "y" * 3001, "at most 3000"),
    ("statement", "I agree\x07", "control character"),
    ("statement", "<script>alert(1)</script>", "markup"),
])
def test_bad_consent_texts_in_the_builder_are_answered_and_nothing_is_saved(
        client, factory, field, value, message):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    login(client, "lead@example.org")
    url = f"/studies/{study.slug}/build/consent"
    data = {"csrf_token": csrf_token(client, url), "information_sheet": "A sheet",
            "statement": "I agree"}
    data[field] = value
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert study.consent_documents == []


def test_every_email_carries_a_withdrawal_link(app, study):
    mail_ids = db.session.scalars(sa.select(OutboxMessage.id)).all()
    message = db.session.get(OutboxMessage, mail_ids[0])
    invitation = db.session.get(Invitation, message.invitation_id)
    from delphi.tokens import link_for, mint_token

    link = link_for(mint_token(invitation))
    rendered = mail.render(message, link)
    assert f"{link}/withdraw" in rendered.text and f'href="{link}/withdraw"' in rendered.html


@pytest.mark.parametrize("erasure", ["keep-pseudonymised", "delete-answers"])
def test_a_panellist_withdraws_from_the_email_link_under_the_protocols_setting(
        app, factory, erasure):
    study = _with_consent(factory, erasure=erasure)
    panel = factory.panel(study, per_group=2)
    launch(study)
    person = panel[0]
    voter = app.test_client()
    link = link_for_panellist(study, person.id)
    open_link(voter, link)
    _answer(voter, "consent")
    vote(voter, {i.id: 8 for i in study.items})
    close(study)  # the link's round is closed: the withdrawal link still works

    leaver = app.test_client()
    response = leaver.get(path_of(link) + "/withdraw")
    assert response.headers["Location"].endswith("/withdraw")
    before = counts()
    page = leaver.get("/withdraw").get_data(as_text=True)
    assert counts() == before  # the GET changes nothing
    expected = "are deleted" if erasure == "delete-answers" else "are kept"
    assert expected in page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    expired = leaver.post("/withdraw", data={})  # no CSRF token
    assert expired.status_code == 400
    assert "nothing was changed" in expired.get_data(as_text=True)
    assert db.session.get(Panellist, person.id).withdrawn_at is None
    response = leaver.post("/withdraw", data={"csrf_token": token})
    assert response.headers["Location"].endswith("/withdrawn")
    db.session.expire_all()
    person = db.session.get(Panellist, person.id)
    assert person.withdrawal_kind == "self"
    ratings = db.session.scalar(sa.select(sa.func.count()).select_from(Rating)
                                .where(Rating.panellist_id == person.id))
    sheets = db.session.scalar(sa.select(sa.func.count()).select_from(Response)
                               .where(Response.panellist_id == person.id))
    assert (ratings, sheets) == ((0, 0) if erasure == "delete-answers" else (3, 1))
    launch(study)
    rnd = db.session.scalar(sa.select(Round).where(Round.number == 2))
    assert person.id not in {i.panellist_id for i in rnd.invitations}
    assert "left this study" in leaver.get(path_of(link) + "/withdraw", follow_redirects=True
                                           ).get_data(as_text=True)


def test_the_voting_page_links_to_withdrawal(app, study):
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, study.panellists[0].id))
    _answer(voter, "consent")
    html = voter.get("/vote").get_data(as_text=True)
    assert 'href="/withdraw"' in html
    assert voter.get("/withdraw").status_code == 200


def test_a_wrong_withdrawal_link_is_a_404(client):
    assert client.get("/p/not-a-real-token/withdraw").status_code == 404
    assert client.get("/withdraw").status_code == 403


def test_the_report_counts_consent_declines_and_withdrawals(app, client, study):
    people = study.panellists
    for person, button in ((people[0], "consent"), (people[1], "consent"),
                           (people[2], "decline")):
        voter = app.test_client()
        open_link(voter, link_for_panellist(study, person.id))
        _answer(voter, button)
        if person is people[1]:
            vote(voter, {i.id: 7 for i in study.items})
            page = voter.get("/withdraw").get_data(as_text=True)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            voter.post("/withdraw", data={"csrf_token": token})
    close(study)
    login(client, "lead@example.org")
    html = client.get(f"/studies/{study.slug}/exports/report").get_data(as_text=True)
    table = html[html.index('id="consent-flow"'):]
    table = table[:table.index("</table>")]
    found = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td>', table))
    assert found == {"Invited": "4", "Consented": "2", "Declined consent": "1",
                     "Not answered yet": "1", "Withdrew themselves": "1",
                     "Withdrawn by the study team": "0"}
    assert "consented: 2, declined: 1, not answered yet: 1" in html  # the flow diagram
    md = client.get(f"/studies/{study.slug}/exports/report.md").get_data(as_text=True)
    assert "Declined consent" in md


def test_a_panellists_copy_of_their_data_lists_their_consent_answers(app, study):
    from delphi.studies.privacy import panellist_data

    person = study.panellists[0]
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    _answer(voter, "consent")
    db.session.expire_all()
    data = panellist_data(db.session.get(Panellist, person.id))
    assert [(c["decision"], c["version"]) for c in data["consent"]] == [("consented", 1)]
    assert data["withdrawal"] is None
