"""A study's team: invitations by email (through a real SMTP server), roles, removing
members, and the last owner."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from delphi import mail
from delphi.extensions import db
from delphi.models import AuditEvent, Facilitator, StudyMembership, TeamInvitation, utcnow
from delphi.studies import operations as ops

from .conftest import csrf_token, login

pytestmark = pytest.mark.smtp
NEW_PASSWORD = "violet tractor on the moon"


def _join_link(smtp, address: str) -> str:
    message = smtp.to(address)[-1]
    found = re.search(r"https?://\S+/join/[A-Za-z0-9_\-]+", smtp.text(message))
    assert found, smtp.text(message)
    return found.group(0).replace("https://delphi.test", "")


def _invite(client, study, email: str, role: str):
    token = csrf_token(client, f"/studies/{study.slug}/team/")
    return client.post(f"/studies/{study.slug}/team/invite",
                       data={"csrf_token": token, "email": email, "role": role})


def _role(study, email: str) -> str | None:
    return db.session.scalar(sa.select(StudyMembership.role).join(Facilitator).where(
        StudyMembership.study_id == study.id, Facilitator.email == email))


def test_an_owner_invites_a_new_colleague_who_sets_a_password_and_joins(app, client, factory,
                                                                         smtp):
    study = factory.study(owner=factory.facilitator("owner@example.org", name="Olu Owner"))
    login(client, "owner@example.org")
    response = _invite(client, study, "New.Colleague@example.org", "statistician")
    assert response.status_code == 302
    page = client.get(f"/studies/{study.slug}/team/").get_data(as_text=True)
    assert "new.colleague@example.org as statistician" in page
    assert mail.deliver_batch().sent == 1
    message = smtp.to("new.colleague@example.org")[0]
    assert study.title in message["Subject"]
    assert "statistician (results and exports only)" in smtp.text(message)
    link = _join_link(smtp, "new.colleague@example.org")

    guest = app.test_client()
    page = guest.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert study.title in html and "statistician" in html and "Olu Owner" in html
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    refused = guest.post(link, data={"csrf_token": token, "name": "Nia",
                                     "password": "password1234", "confirm": "password1234"})
    assert refused.status_code == 400
    assert "most common passwords" in refused.get_data(as_text=True)
    assert _role(study, "new.colleague@example.org") is None
    joined = guest.post(link, data={"csrf_token": token, "name": "Nia",
                                    "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert joined.status_code == 302
    assert _role(study, "new.colleague@example.org") == "statistician"
    # Logged in, and a statistician sees the exports but not the panel.
    assert guest.get(f"/studies/{study.slug}/exports/").status_code == 200
    assert guest.get(f"/studies/{study.slug}/panel").status_code == 403
    # The link worked once.
    assert app.test_client().get(link).status_code == 404
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.study_id == study.id)).all()
    assert "team.invited" in actions and "team.joined" in actions


def test_an_existing_account_joins_after_logging_in(app, client, factory, smtp):
    study = factory.study(owner=factory.facilitator("owner@example.org"))
    factory.facilitator("colleague@example.org")
    login(client, "owner@example.org")
    _invite(client, study, "colleague@example.org", "viewer")
    mail.deliver_batch()
    link = _join_link(smtp, "colleague@example.org")
    colleague = app.test_client()
    page = colleague.get(link).get_data(as_text=True)
    assert "Log in to accept" in page and "Create my account" not in page
    login(colleague, "colleague@example.org")
    token = csrf_token(colleague, link)
    assert colleague.post(link, data={"csrf_token": token}).status_code == 302
    assert _role(study, "colleague@example.org") == "viewer"
    assert colleague.get(f"/studies/{study.slug}/panel").status_code == 200
    token = csrf_token(colleague, f"/studies/{study.slug}/panel")
    assert colleague.post(f"/studies/{study.slug}/panel",
                          data={"csrf_token": token}).status_code == 403


def test_an_invitation_expires_after_seven_days_and_can_be_cancelled(app, client, factory,
                                                                       smtp):
    study = factory.study(owner=factory.facilitator("owner@example.org"))
    login(client, "owner@example.org")
    _invite(client, study, "late@example.org", "editor")
    _invite(client, study, "cancelled@example.org", "editor")
    mail.deliver_batch()
    late, cancelled = _join_link(smtp, "late@example.org"), _join_link(smtp,
                                                                        "cancelled@example.org")
    invitation = db.session.scalar(sa.select(TeamInvitation).where(
        TeamInvitation.email == "late@example.org"))
    assert timedelta(days=6, hours=23) < invitation.expires_at - utcnow() <= timedelta(days=7)
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert app.test_client().get(late).status_code == 404
    other = db.session.scalar(sa.select(TeamInvitation).where(
        TeamInvitation.email == "cancelled@example.org"))
    token = csrf_token(client, f"/studies/{study.slug}/team/")
    client.post(f"/studies/{study.slug}/team/invitations/{other.id}/cancel",
                data={"csrf_token": token})
    assert app.test_client().get(cancelled).status_code == 404


def test_the_last_owner_can_neither_leave_nor_be_demoted(client, factory):
    owner = factory.facilitator("owner@example.org")
    study = factory.study(owner=owner)
    seat = db.session.scalar(sa.select(StudyMembership.id).where(
        StudyMembership.facilitator_id == owner.id))
    login(client, "owner@example.org")
    token = csrf_token(client, f"/studies/{study.slug}/team/")
    client.post(f"/studies/{study.slug}/team/leave", data={"csrf_token": token})
    client.post(f"/studies/{study.slug}/team/members/{seat}/role",
                data={"csrf_token": token, "role": "viewer"})
    page = client.get(f"/studies/{study.slug}/team/", follow_redirects=True)
    assert page.status_code == 200
    assert "only owner" in page.get_data(as_text=True)
    assert _role(study, "owner@example.org") == "owner"
    # With a second owner, the first may step down, then leave.
    second = factory.facilitator("second@example.org")
    ops.add_facilitator_to_study(study, second, "test", role="owner")
    db.session.commit()
    client.post(f"/studies/{study.slug}/team/members/{seat}/role",
                data={"csrf_token": token, "role": "viewer"})
    assert _role(study, "owner@example.org") == "viewer"
    assert client.post(f"/studies/{study.slug}/team/leave",
                       data={"csrf_token": token}).status_code == 302
    assert _role(study, "owner@example.org") is None
    assert client.get(f"/studies/{study.slug}/").status_code == 404
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "team.role_changed")).all()
    assert [(e.detail["before"], e.detail["after"]) for e in events] == [("owner", "viewer")]


def test_an_owner_removes_a_member_who_then_sees_nothing(app, client, factory):
    study = factory.study(owner=factory.facilitator("owner@example.org"))
    editor = factory.facilitator("editor@example.org")
    ops.add_facilitator_to_study(study, editor, "test", role="editor")
    db.session.commit()
    other = app.test_client()
    login(other, "editor@example.org")
    assert other.get(f"/studies/{study.slug}/").status_code == 200
    seat = db.session.scalar(sa.select(StudyMembership.id).where(
        StudyMembership.facilitator_id == editor.id))
    login(client, "owner@example.org")
    token = csrf_token(client, f"/studies/{study.slug}/team/")
    assert client.post(f"/studies/{study.slug}/team/members/{seat}/remove",
                       data={"csrf_token": token}).status_code == 302
    assert other.get(f"/studies/{study.slug}/").status_code == 404
    assert study.title not in other.get("/").get_data(as_text=True)


@pytest.mark.parametrize("email, problem", [
    ("", "Enter the colleague's email."),
    ("<script>alert(1)</script>", "not a valid email address"),
    ("a" * 300 + "@example.org", "Field cannot be longer than 254 characters."),
    ("owner@example.org", "already on the team"),
])
def test_a_bad_invitation_says_what_is_wrong_and_sends_nothing(client, factory, email,
                                                               problem):
    study = factory.study(owner=factory.facilitator("owner@example.org"))
    login(client, "owner@example.org")
    response = _invite(client, study, email, "editor")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert problem in page.replace("&#39;", "'")
    assert "<script>alert" not in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamInvitation)) == 0


def test_an_unknown_role_and_a_nul_byte_are_refused(client, factory):
    study = factory.study(owner=factory.facilitator("owner@example.org"))
    login(client, "owner@example.org")
    response = _invite(client, study, "x@example.org", "superuser")
    assert response.status_code == 302
    assert "Not a valid choice" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _invite(client, study, "x\x00@example.org", "editor").status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamInvitation)) == 0


def test_the_cli_adds_a_member_with_a_role(runner, factory):
    owner = factory.facilitator("owner@example.org")
    study = factory.study(owner=owner)
    factory.facilitator("stats@example.org")
    result = runner.invoke(args=["add-facilitator", study.slug, "stats@example.org",
                                 "--role", "statistician", "--as", "owner@example.org"])
    assert result.exit_code == 0, result.output
    assert _role(study, "stats@example.org") == "statistician"


def test_a_viewer_sees_no_button_its_role_cannot_use(app, client, factory):
    from .flows import close, launch

    owner = factory.facilitator("owner@example.org")
    study = factory.study(owner=owner)
    factory.panel(study)
    launch(study)
    close(study)
    for email, role in (("viewer@example.org", "viewer"), ("stats@example.org", "statistician")):
        ops.add_facilitator_to_study(study, factory.facilitator(email), "test", role=role)
    db.session.commit()
    owner_view = app.test_client()
    login(owner_view, "owner@example.org")
    login(client, "viewer@example.org")
    for path, button in ((f"/studies/{study.slug}/panel", ">Upload<"),
                         (f"/studies/{study.slug}/panel", "Withdraw P0001"),
                         (f"/studies/{study.slug}/rounds/", "Launch round 2"),
                         (f"/studies/{study.slug}/rounds/1/results", "/carry"),
                         (f"/studies/{study.slug}/team/", "Send the invitation")):
        assert button in owner_view.get(path).get_data(as_text=True), path
        page = client.get(path)
        assert page.status_code == 200, path
        assert button not in page.get_data(as_text=True), path
    stats = app.test_client()
    login(stats, "stats@example.org")
    listing = stats.get("/").get_data(as_text=True)
    assert f"/studies/{study.slug}/exports/" in listing and "statistician" in listing
    tabs = stats.get(f"/studies/{study.slug}/exports/").get_data(as_text=True)
    assert f"/studies/{study.slug}/panel" not in tabs
