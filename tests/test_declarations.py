"""Declarations of potential conflicts of interest (ACCORD O2): the study setting, the
panellist's page after consent, the team member's own on the Team page, the report's
aggregate, erasure and the panellist's copy of their data."""

from __future__ import annotations

import html as markup
import re

import pytest
import sqlalchemy as sa

from delphi import consent as consent_ops
from delphi.extensions import db
from delphi.models import ConflictDeclaration, Panellist, Rating, Study, StudyMembership
from delphi.studies import operations as study_ops
from delphi.studies import privacy
from delphi.surveys import SurveyError, dump_survey, parse_survey

from .conftest import csrf_token, login
from .factories import SMALL_SURVEY
from .flows import counts, launch, link_for_panellist, open_link, vote
from .test_consent import CONSENT_BLOCK, _answer
from .test_exports import _checklist_status, _export

ASKS = "declarations: {conflicts: true}\n"
SECRET = "Paid adviser to Acme Pharma"


def _study(slug: str, *extra: str, owner=None, erasure: str = "keep-pseudonymised") -> Study:
    text = SMALL_SURVEY.format(slug=slug) + "".join(extra) + f"privacy: {{erasure: {erasure}}}\n"
    study = study_ops.import_survey(parse_survey(text, "s.yaml"), "test", owner)
    db.session.commit()
    return study


@pytest.fixture
def asking(factory):
    """A launched study that asks for consent, then for a declaration."""
    owner = factory.facilitator("lead@example.org", name="Dr Lead")
    study = _study("coi", CONSENT_BLOCK, ASKS, owner=owner)
    factory.panel(study, per_group=2)
    launch(study)
    return study


def _declaration_form(client) -> str:
    html = client.get("/declaration").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _declare(client, answer: str | None, details: str = "", token: str | None = None):
    data = {"csrf_token": token or _declaration_form(client), "details": details}
    if answer is not None:
        data["answer"] = answer
    return client.post("/declaration", data=data)


def _stored() -> list[ConflictDeclaration]:
    return list(db.session.scalars(sa.select(ConflictDeclaration).order_by(
        ConflictDeclaration.id)))


def _visit(app, study: Study, person: Panellist, consent: bool = True):
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    if consent:
        assert _answer(voter, "consent").headers["Location"].endswith("/vote")
    return voter


# -- the survey file and the builder ------------------------------------------------------

def test_the_setting_round_trips_through_the_survey_file_exactly(factory):
    study = _study("asks", ASKS)
    assert study.asks_conflict_declarations is True
    definition = study_ops.study_definition(study)
    text = dump_survey(definition)
    assert "declarations:\n  conflicts: true\n" in text
    assert parse_survey(text, "again.yaml") == definition
    # the default (false) leaves the block out, so files written before it stay the same
    plain = study_ops.study_definition(_study("plain"))
    assert plain.asks_conflict_declarations is False
    assert "declarations" not in dump_survey(plain)


@pytest.mark.parametrize("block,problem", [
    ("declarations: {conflicts: sometimes}", "declarations.conflicts: must be true or false"),
    ("declarations: {conflict: true}", "declarations.conflict: unknown key (allowed: conflicts)"),
])
def test_a_bad_setting_in_the_survey_file_is_named(block, problem):
    with pytest.raises(SurveyError) as error:
        parse_survey(SMALL_SURVEY.format(slug="bad") + block + "\n", "s.yaml")
    assert problem in str(error.value)


def test_the_builder_settings_page_turns_the_setting_on_and_off(client, factory):
    from .test_builder import _settings

    owner = factory.facilitator("me@example.org")
    login(client, "me@example.org")
    study = factory.study(owner, slug="small")
    url = "/studies/small/build"
    assert "Ask each panellist to declare potential conflicts" in client.get(url).get_data(
        as_text=True)
    token = csrf_token(client, url)
    response = client.post(url, data={**_settings(), "conflicts": "y", "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    study = db.session.get(Study, study.id)
    assert study.asks_conflict_declarations is True
    assert "declarations:\n  conflicts: true\n" in dump_survey(study_ops.study_definition(study))
    client.post(url, data={**_settings(), "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Study, study.id).asks_conflict_declarations is False


# -- the panellist's page -------------------------------------------------------------------

def test_after_consent_the_first_visit_asks_for_a_declaration_before_anything_is_saved(
        app, asking):
    person = asking.panellists[0]
    voter = _visit(app, asking, person)
    assert voter.get("/vote").headers["Location"].endswith("/declaration")
    page = voter.get("/declaration").get_data(as_text=True)
    assert "I have no potential conflicts of interest to declare" in page
    assert "I declare:" in page
    before = counts()
    data = {"csrf_token": "x", "intent": "save", f"rating-{asking.items[0].id}": "8"}
    assert voter.post("/vote", data=data).headers["Location"].endswith("/declaration")
    assert voter.post("/vote", data={**data, "intent": "autosave"}).status_code == 409
    assert counts() == before
    assert _declare(voter, "none").headers["Location"].endswith("/vote")
    [stored] = _stored()
    assert (stored.panellist_id, stored.has_conflicts, stored.details) == (person.id, False, "")
    assert stored.declared_at is not None
    page = voter.get("/vote").get_data(as_text=True)
    assert 'href="/declaration"' in page and "Update your declaration of interests" in page
    assert vote(voter, {i.id: 8 for i in asking.items}).status_code == 302


def test_a_panellist_updates_their_declaration_from_the_voting_page(app, asking):
    voter = _visit(app, asking, asking.panellists[0])
    _declare(voter, "none")
    first = _stored()[0].declared_at
    page = voter.get("/declaration").get_data(as_text=True)
    assert re.search(r'value="none"[^>]*checked|checked[^>]*value="none"', page)
    assert _declare(voter, "declare", f"  {SECRET}\r\n").status_code == 302
    db.session.expire_all()
    [stored] = _stored()
    assert (stored.has_conflicts, stored.details) == (True, SECRET)
    assert stored.declared_at >= first
    assert SECRET in voter.get("/declaration").get_data(as_text=True)


@pytest.mark.parametrize("answer,details,problem", [
    (None, "", "Choose one of the two answers."),
    ("maybe", "", "Not a valid choice"),
    ("declare", "   ", "write what you declare"),
    ("none", "Shares in Acme", "but wrote a declaration"),
    ("declare", "x" * 2001, "at most 2000 are allowed"),
    ("declare", "bad\x07text", "control character"),
])
def test_bad_input_is_answered_with_a_message_and_nothing_is_saved(app, asking, answer,
                                                                     details, problem):
    voter = _visit(app, asking, asking.panellists[0])
    response = _declare(voter, answer, details)
    assert response.status_code == 400
    assert problem in response.get_data(as_text=True).replace("&#39;", "'")
    assert _stored() == []
    assert voter.get("/vote").headers["Location"].endswith("/declaration")


def test_an_expired_form_records_nothing_and_says_so(app, asking):
    voter = _visit(app, asking, asking.panellists[0])
    response = _declare(voter, "none", token="expired")
    assert response.status_code == 400
    assert "nothing was recorded" in response.get_data(as_text=True)
    assert _stored() == []


def test_consent_comes_first_and_a_study_that_does_not_ask_shows_no_declaration(
        app, asking, factory):
    voter = _visit(app, asking, asking.panellists[1], consent=False)
    assert voter.get("/declaration").headers["Location"].endswith("/consent")
    assert _declare(voter, "none", token="x").headers["Location"].endswith("/consent")
    assert _stored() == []
    plain = _study("plain")
    factory.panel(plain, per_group=1)
    launch(plain)
    other = app.test_client()
    open_link(other, link_for_panellist(plain, plain.panellists[0].id))
    page = other.get("/vote")
    assert page.status_code == 200 and "declaration of interests" not in page.get_data(
        as_text=True)
    assert other.get("/declaration").headers["Location"].endswith("/vote")


# -- the team -----------------------------------------------------------------------------

def test_a_team_member_records_their_own_declaration_on_the_team_page(client, factory, asking):
    viewer = factory.facilitator("viewer@example.org", name="Ms Viewer")
    db.session.add(StudyMembership(study=asking, facilitator=viewer, role="viewer"))
    db.session.commit()
    login(client, "viewer@example.org")
    url = f"/studies/{asking.slug}/team/"
    page = client.get(url).get_data(as_text=True)
    assert "Your declaration of interests" in page and "not recorded" in page
    token = csrf_token(client, url)
    post = f"/studies/{asking.slug}/team/declaration"
    refused = client.post(post, data={"csrf_token": token, "answer": "declare", "details": ""},
                          follow_redirects=True)
    assert "Your declaration was not saved: You chose “I declare:”" in refused.get_data(
        as_text=True)
    assert _stored() == []
    assert client.post(post, data={"answer": "none"}).status_code == 400  # no CSRF token
    assert _stored() == []
    done = client.post(post, data={"csrf_token": token, "answer": "declare",
                                   "details": "Grant from the Foundation"},
                       follow_redirects=True)
    assert "Your declaration of interests was saved." in done.get_data(as_text=True)
    [stored] = _stored()
    assert (stored.facilitator_id, stored.panellist_id, stored.has_conflicts,
            stored.details) == (viewer.id, None, True, "Grant from the Foundation")
    assert "declares: Grant from the Foundation" in client.get(url).get_data(as_text=True)


def test_someone_off_the_team_cannot_declare_for_it(client, factory, asking):
    factory.facilitator("stranger@example.org")
    login(client, "stranger@example.org")
    token = csrf_token(client, "/studies/new")
    response = client.post(f"/studies/{asking.slug}/team/declaration",
                           data={"csrf_token": token, "answer": "none"})
    assert response.status_code == 404 and _stored() == []


# -- the report ---------------------------------------------------------------------------

def test_the_report_counts_panellists_declarations_and_names_the_organisers(app, asking):
    from delphi.declarations import operations as declarations

    panel = asking.panellists
    declarations.declare_as_panellist(panel[0], True, SECRET)
    declarations.declare_as_panellist(panel[1], False, "")
    lead = asking.memberships[0].facilitator
    declarations.declare_as_member(asking, lead, True, "Grant from the Foundation")
    db.session.commit()
    html = markup.unescape(_export(asking, "report", "html").decode())
    fact = ("1 of 2 panellists who answered declared potential conflicts of interest (2 of 4 "
            "on the panel answered); the organisers' declarations: Dr Lead: declares Grant "
            "from the Foundation")
    assert _checklist_status(html)["O2"] == (fact, "numbers given; the team adds the reasons")
    other = html[html.index('<section id="other">'):html.index('<section id="checklist">')]
    assert f"Declarations of interests on the platform: {fact}." in other
    assert "How conflicts of interest were managed" in other
    # never a panellist's text or identity
    assert SECRET not in html
    assert panel[0].name not in html and panel[0].email not in html
    # the team writes how they were managed: then the item is written
    asking.report_fields = {"conflicts_of_interest": "Declared interests were published."}
    db.session.commit()
    status = _checklist_status(markup.unescape(_export(asking, "report", "html").decode()))["O2"]
    assert status == (fact, "written by the team")


def test_organisers_alone_answer_o2_when_panellists_are_not_asked(app, factory):
    owner = factory.facilitator("solo@example.org", name="Dr Solo")
    study = _study("solo", owner=owner)
    from delphi.declarations import operations as declarations

    declarations.declare_as_member(study, owner, False, "")
    db.session.commit()
    status = _checklist_status(markup.unescape(_export(study, "report", "html").decode()))["O2"]
    assert status[0] == ("panellists were not asked to declare on the platform; the "
                         "organisers' declarations: Dr Solo: none to declare")


# -- personal data ------------------------------------------------------------------------

def test_the_panellists_copy_holds_their_declaration_and_erasure_removes_the_text(app, asking):
    from delphi.declarations import operations as declarations

    person = asking.panellists[0]
    declarations.declare_as_panellist(person, True, SECRET)
    db.session.commit()
    copy = privacy.panellist_data(person)
    assert copy["declaration"]["conflicts"] is True
    assert copy["declaration"]["details"] == SECRET
    assert copy["declaration"]["declared_at"].endswith("Z")
    assert privacy.panellist_data(asking.panellists[1])["declaration"] is None
    privacy.erase_panellist(person, "test")
    db.session.commit()
    [stored] = _stored()
    assert (stored.has_conflicts, stored.details) == (True, "")  # the count holds
    assert SECRET not in str(privacy.panellist_data(db.session.get(Panellist, person.id)))
    # and the erased panellist can no longer declare
    with pytest.raises(Exception, match="no longer on this study's panel"):
        declarations.declare_as_panellist(db.session.get(Panellist, person.id), False, "")


def test_under_delete_answers_erasure_and_withdrawal_delete_the_declaration(app, factory):
    from delphi.declarations import operations as declarations

    study = _study("gone", ASKS, erasure="delete-answers")
    factory.panel(study, per_group=1)
    launch(study)
    first, second = study.panellists
    declarations.declare_as_panellist(first, True, SECRET)
    declarations.declare_as_panellist(second, False, "")
    db.session.commit()
    detail = privacy.erase_panellist(first, "test")
    assert detail["declarations_deleted"] == 1
    assert consent_ops.has_answers(second)  # a declaration is an answer the protocol covers
    consent_ops.withdraw(second)
    db.session.commit()
    assert _stored() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0
