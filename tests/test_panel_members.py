"""One panellist at a time: add, edit (a bounced address fixed and the link sent again), late
joiners invited to the open round, and the panel file's extra columns reported in aggregate."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from delphi.exports.characteristics import characteristic
from delphi.extensions import db
from delphi.models import (
    AccessToken,
    AuditEvent,
    Invitation,
    MailStatus,
    OutboxMessage,
    Panellist,
)
from delphi.studies.operations import import_panel

from .conftest import csrf_token, login
from .flows import close, launch, link_for_panellist, open_link, path_of, vote


@pytest.fixture
def console(client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    panel = factory.panel(study, per_group=2)
    login(client, "lead@example.org")
    return study, panel


def _post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, url), **data})


def _panel_size(study) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Panellist)
                             .where(Panellist.study_id == study.id))


def test_a_panellist_added_while_a_round_is_open_is_invited_and_counts_in_its_progress(
        client, console):
    study, _panel = console
    launch(study)
    url = f"/studies/{study.slug}/panel/add"
    page = client.get(url).get_data(as_text=True)
    assert "Invite them to round 1 now" in page
    response = _post(client, url, name="Late Joiner", email="Late@Example.org", group="parent",
                     language="fr", attributes="country: France\nrole: nurse", invite="y")
    assert response.status_code == 302
    assert "invitation to round 1 is in the outbox" in client.get(
        response.headers["Location"]).get_data(as_text=True)
    person = db.session.scalar(sa.select(Panellist).where(Panellist.email == "late@example.org"))
    assert (person.pseudonym, person.language, person.attributes) == (
        "P0005", "fr", {"country": "France", "role": "nurse"})
    invitation = db.session.scalar(sa.select(Invitation).where(
        Invitation.panellist_id == person.id))
    assert invitation.round.number == 1
    assert db.session.scalar(sa.select(OutboxMessage.kind).where(
        OutboxMessage.panellist_id == person.id)) == "invitation"
    detail = client.get(f"/studies/{study.slug}/").get_data(as_text=True)
    assert "0 of 5 panellists have submitted" in detail
    rounds = client.get(f"/studies/{study.slug}/rounds/").get_data(as_text=True)
    assert "P0005" in rounds  # among those who have not answered
    events = {e.action: e.detail for e in db.session.scalars(sa.select(AuditEvent))}
    assert events["panellist.added"]["after"]["email"] == "late@example.org"
    assert events["panellist.invited_late"] == {"panellist": "P0005", "round": 1}

    voter = client.application.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    assert vote(voter, {i.id: 8 for i in study.items}).status_code == 302
    rnd = close(study)
    from delphi.models import RoundResult

    result = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    pooled = next(r for r in result.data["response"] if r["group"] is None)
    assert (pooled["invited"], pooled["responded"]) == (5, 1)


def test_a_panellist_added_without_inviting_waits_for_the_next_round(client, console):
    study, _panel = console
    launch(study)
    response = _post(client, f"/studies/{study.slug}/panel/add", name="Later", group="clin",
                     email="later@example.org")
    assert response.status_code == 302
    person = db.session.scalar(sa.select(Panellist).where(Panellist.email == "later@example.org"))
    assert db.session.scalar(sa.select(Invitation).where(
        Invitation.panellist_id == person.id)) is None
    close(study)
    rnd = launch(study)
    assert person.id in {i.panellist_id for i in rnd.invitations}


@pytest.mark.parametrize("field,value,message", [
    ("name", "", "required"),
    ("name", "n" * 201, "at most 200"),
    ("name", "Bad\x00Name", "contains a NUL character"),
    ("name", "<script>alert(1)</script>", "markup"),
    ("email", "", "required"),
    ("email", "a" * 250 + "@example.org", "at most 254"),
    ("email", "not-an-address", "not a valid email address"),
    ("email", "EXISTING", "already on the panel"),
    ("email", "<script>@example.org", "not a valid email address"),
    ("group", "", "choose one of the study"),
    ("group", "surgeons", "unknown group"),
    ("language", "French language", "language tag"),
    ("language", "<script>", "language tag"),
    ("attributes", "country France", "write the column, a colon"),
    ("attributes", "country: " + "x" * 201, "at most 200"),
    ("attributes", "role: <script>alert(1)</script>", "markup"),
    ("attributes", "role: nurse\x07", "control character"),
    ("attributes", "email: other@example.org", "has its own field"),
])
def test_bad_input_when_adding_is_answered_and_nothing_is_saved(client, console, field, value,
                                                                message):
    study, panel = console
    data = {"name": "New Person", "email": "new@example.org", "group": "clin", "language": "",
            "attributes": ""}
    data[field] = panel[0].email.upper() if value == "EXISTING" else value
    before = _panel_size(study)
    response = _post(client, f"/studies/{study.slug}/panel/add", **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _panel_size(study) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "panellist.added")) == 0


def test_fixing_a_bounced_address_resends_the_invitation_to_the_new_one(client, console):
    study, panel = console
    launch(study)
    person = panel[0]
    old_link = link_for_panellist(study, person.id)
    message = db.session.scalar(sa.select(OutboxMessage).where(
        OutboxMessage.panellist_id == person.id))
    message.status = MailStatus.FAILED
    message.last_error = "SMTPRecipientsRefused: 550 no such user"
    db.session.commit()
    url = f"/studies/{study.slug}/panel/{person.pseudonym}/edit"
    assert "Send them a new link" in client.get(url).get_data(as_text=True)
    response = _post(client, url, name=person.name, email="right@example.org", group="clin",
                     language="", attributes="", resend="y")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "email changed" in page and "A new link to round 1 is in the outbox" in page
    db.session.expire_all()
    queued = db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.panellist_id == person.id, OutboxMessage.status == MailStatus.PENDING)).all()
    assert [(m.kind, m.to_address) for m in queued] == [("invitation", "right@example.org")]
    assert client.application.test_client().get(path_of(old_link)).status_code == 404
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "panellist.edited"))
    assert event.detail["after"] == {"email": "right@example.org"}
    assert "@example.org" in event.detail["before"]["email"]


def test_an_edit_is_audited_with_before_and_after_and_exports_show_no_personal_data(
        client, console):
    study, panel = console
    person = panel[1]
    old_name = person.name
    url = f"/studies/{study.slug}/panel/{person.pseudonym}/edit"
    response = _post(client, url, name="Dr Renamed", email=person.email, group="parent",
                     language="de", attributes="country: Austria")
    assert response.status_code == 302
    db.session.expire_all()
    person = db.session.get(Panellist, person.id)
    assert (person.name, person.group.key, person.language) == ("Dr Renamed", "parent", "de")
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "panellist.edited"))
    assert event.detail["before"] == {"name": old_name, "group": "clin", "language": "",
                                      "attributes": {}}
    assert event.detail["after"] == {"name": "Dr Renamed", "group": "parent", "language": "de",
                                     "attributes": {"country": "Austria"}}
    raw = json.loads(client.get(f"/studies/{study.slug}/exports/raw.json").data)
    text = json.dumps(raw)
    assert "Dr Renamed" not in text and old_name not in text
    assert "[personal data]" in text
    unchanged = _post(client, url, name="Dr Renamed", email=person.email, group="parent",
                      language="de", attributes="country: Austria")
    assert unchanged.status_code == 400 and "Nothing was changed" in unchanged.get_data(
        as_text=True)


def test_the_group_cannot_change_once_a_closed_rounds_results_count_it(app, client, console):
    study, panel = console
    launch(study)
    person = panel[0]
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, person.id))
    vote(voter, {i.id: 8 for i in study.items})
    close(study)
    url = f"/studies/{study.slug}/panel/{person.pseudonym}/edit"
    response = _post(client, url, name=person.name, email=person.email, group="parent")
    assert response.status_code == 400
    assert "the group can no longer change" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Panellist, person.id).group.key == "clin"


def test_an_erased_panellist_cannot_be_edited(client, console):
    study, panel = console
    from delphi.studies.privacy import erase_panellist

    erase_panellist(panel[0], "test")
    db.session.commit()
    response = client.get(f"/studies/{study.slug}/panel/{panel[0].pseudonym}/edit")
    assert response.status_code == 302


def test_erasure_blanks_the_names_an_edit_put_in_the_audit_log(client, console):
    study, panel = console
    person = panel[0]
    url = f"/studies/{study.slug}/panel/{person.pseudonym}/edit"
    _post(client, url, name="Identifiable Name", email="id@example.org", group="clin")
    from delphi.studies.privacy import erase_panellist

    erase_panellist(db.session.get(Panellist, person.id), "test")
    db.session.commit()
    details = json.dumps([e.detail for e in db.session.scalars(sa.select(AuditEvent))])
    assert "Identifiable Name" not in details and "id@example.org" not in details


def test_a_panellists_new_link_is_refused_without_an_open_round(client, console):
    study, panel = console
    url = f"/studies/{study.slug}/panel/{panel[0].pseudonym}/edit"
    response = _post(client, url, name=panel[0].name, email=panel[0].email, group="clin",
                     resend="y")
    assert response.status_code == 400
    assert "no round is open" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 0


# -- panel characteristics ----------------------------------------------------------------

def test_a_value_held_by_too_few_panellists_is_never_shown_on_its_own():
    values = ["Italy"] * 4 + ["France"] * 3 + ["Malta"]
    found = characteristic("country", values, 3)
    # Malta alone (1) would be the hidden remainder: France is withheld with it.
    assert found.counts == [("Italy", 4)]
    assert (found.other, found.other_values) == (4, 2)
    found = characteristic("country", ["Italy"] * 4 + ["France"] * 4, 3)
    assert found.counts == [("France", 4), ("Italy", 4)] and found.other == 0


def test_numbers_are_summarised_only_from_the_minimum_on():
    found = characteristic("years", ["5", "10", "20", "", "7"], 3)
    assert (found.median, found.p25, found.p75, found.n_numbers) == (8.5, 6.5, 12.5, 4)
    small = characteristic("years", ["5", "10", ""], 3)
    assert small.median is None and small.other == 3


def test_the_study_page_and_the_report_show_characteristics_in_aggregate(app, client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    rows = ["name,email,group,country,years of experience,role"]
    countries = ["Italy"] * 4 + ["Malta"] + ["Spain"] * 3
    for n, country in enumerate(countries):
        rows.append(f"Expert {n},e{n}@example.org,{'clin' if n % 2 else 'parent'},{country},"
                    f"{n + 3},{'nurse' if n < 5 else 'doctor'}")
    panel = import_panel(study, "\n".join(rows), "test")
    db.session.commit()
    login(client, "lead@example.org")
    html = client.get(f"/studies/{study.slug}/").get_data(as_text=True)
    block = html[html.index('id="characteristics"'):]
    block = block[:block.index("</article>")]
    assert "<caption>country</caption>" in block and "<td>Italy</td>" in block
    assert "Malta" not in block and "Spain" not in block  # Spain withheld with Malta
    assert "other values (2 values)" in block
    assert "<caption>years of experience</caption>" in block and "median" in block
    assert "Expert" not in block and "@example.org" not in block
    launch(study)
    for person in panel[:4]:
        voter = app.test_client()
        open_link(voter, link_for_panellist(study, person.id))
        vote(voter, {i.id: 8 for i in study.items})
    close(study)
    report = client.get(f"/studies/{study.slug}/exports/report").get_data(as_text=True)
    section = report[report.index('<section id="characteristics">'):]
    section = section[:section.index("</section>")]
    assert "Of 4 panellists who submitted answers in at least one round" in section
    assert "<td>Italy</td>" in section and "Malta" not in section
