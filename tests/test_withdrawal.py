"""Revocation and withdrawal that last, launches that cannot collide, domain errors as pages."""

from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa
from flask import Flask

from delphi import create_app
from delphi.extensions import db, write_transaction
from delphi.models import (
    AuditEvent,
    DomainError,
    IllegalTransition,
    Invitation,
    OutboxMessage,
    Panellist,
    Round,
)
from delphi.rounds import operations as round_ops

from .conftest import csrf_token, login
from .flows import close, launch, link_for_panellist, open_link, path_of


@pytest.fixture
def console(client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    panel = factory.panel(study, per_group=2)
    login(client, "lead@example.org")
    return study, panel


def _button(html: str, label: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the form whose button says ``label``."""
    for form in re.findall(r"<form method=\"post\".*?</form>", html, re.S):
        if label in form:
            action = re.search(r'action="([^"]+)"', form).group(1)
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                     form))
            return action, fields
    raise AssertionError(f"no button {label!r}")


def _invited(study, number: int) -> set[str]:
    rnd = db.session.scalar(sa.select(Round).where(Round.study_id == study.id,
                                                   Round.number == number))
    return {i.panellist.pseudonym for i in rnd.invitations}


def _post_button(client, page: str, label: str, **extra: str):
    action, fields = _button(client.get(page).get_data(as_text=True), label)
    return client.post(action, data=fields | extra)


def test_revoke_from_the_rounds_page_lasts_until_reinstated(client, console, app):
    study, panel = console
    launch(study)
    target = panel[0]
    link = link_for_panellist(study, target.id)
    rounds = f"/studies/{study.slug}/rounds/"
    response = _post_button(client, rounds, "Revoke links and withdraw")
    assert response.status_code == 302
    page = client.get(rounds).get_data(as_text=True)
    assert f"{target.pseudonym} is withdrawn" in page
    assert client.get(path_of(link)).status_code == 404
    queued = db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.panellist_id == target.id)).all()
    assert [(m.status.value, m.last_error) for m in queued] == [
        ("failed", "not sent: the panellist was withdrawn")]
    close(study)

    response = client.post(f"{rounds}launch", data={"csrf_token": csrf_token(client, rounds),
                                                   "confirmed": "yes",
                                                   "undecided_confirmed": "yes"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Round 2 is open" in page and "1 withdrawn panellist was not invited" in page
    assert target.pseudonym not in _invited(study, 2)
    launched = db.session.scalars(sa.select(AuditEvent.detail).where(
        AuditEvent.action == "round.launched").order_by(AuditEvent.id)).all()
    assert launched[-1]["withdrawn_not_invited"] == 1
    assert len(_invited(study, 2)) == len(panel) - 1
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.panellist_id == target.id, OutboxMessage.dedupe_key.like("invitation:%"),
        OutboxMessage.invitation_id.in_(sa.select(Invitation.id).join(Round).where(
            Round.number == 2))))

    panel_page = f"/studies/{study.slug}/panel"
    html = client.get(panel_page).get_data(as_text=True)
    assert "Withdrawn</strong> on" in html and "personal links revoked" in html
    response = _post_button(client, panel_page, f"Reinstate {target.pseudonym}")
    assert response.headers["Location"].endswith(panel_page)
    assert "is reinstated" in client.get(panel_page).get_data(as_text=True)
    close(study)
    launch(study)
    assert target.pseudonym in _invited(study, 3)

    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.in_(["panellist.withdrawn", "panellist.reinstated"]))
        .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["panellist.withdrawn", "panellist.reinstated"]
    assert events[0].detail["before"]["withdrawn"] is False
    assert events[0].detail["after"]["withdrawn"] is True
    assert events[1].detail["before"]["reason"] == "personal links revoked"
    assert events[1].detail["after"]["withdrawn"] is False
    assert events[0].actor.startswith("facilitator:")


def test_a_withdrawn_panellist_with_an_open_page_is_told_plainly(app, client, console):
    study, panel = console
    launch(study)
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, panel[2].id))
    assert voter.get("/vote").status_code == 200
    _post_button(client, f"/studies/{study.slug}/panel", f"Withdraw {panel[2].pseudonym}")
    response = voter.get("/vote")
    assert response.status_code == 403
    assert "withdrawn you from the panel" in response.get_data(as_text=True)


def test_withdraw_with_a_reason_from_the_panel_page_before_round_one(client, console):
    study, panel = console
    panel_page = f"/studies/{study.slug}/panel"
    response = _post_button(client, panel_page, f"Withdraw {panel[1].pseudonym}",
                            reason="moved to another hospital")
    assert response.status_code == 302
    assert "moved to another hospital" in client.get(panel_page).get_data(as_text=True)
    launch(study)
    assert panel[1].pseudonym not in _invited(study, 1)
    with pytest.raises(DomainError, match="withdrawn already"):
        round_ops.withdraw_panellist(study, db.session.get(Panellist, panel[1].id), "x", "t")


def test_links_for_a_panellist_added_during_a_round_answer_a_message(client, console, factory):
    study, _ = console
    launch(study)
    late = factory.panel(study, per_group=1)[0]
    rounds = f"/studies/{study.slug}/rounds/"
    token = csrf_token(client, rounds)
    response = client.post(f"/studies/{study.slug}/panellists/{late.pseudonym}/reissue",
                           data={"csrf_token": token})
    assert response.status_code == 302
    page = client.get(rounds).get_data(as_text=True)
    assert f"{late.pseudonym} was not invited to round 1" in page
    response = client.post(f"/studies/{study.slug}/panellists/{late.pseudonym}/revoke",
                           data={"csrf_token": token})
    assert response.status_code == 302
    assert f"{late.pseudonym} is withdrawn" in client.get(rounds).get_data(as_text=True)
    response = client.post(f"/studies/{study.slug}/panellists/{late.pseudonym}/reissue",
                           data={"csrf_token": token})
    assert response.status_code == 302
    assert "reinstate them first" in client.get(rounds).get_data(as_text=True)
    response = client.post(f"/studies/{study.slug}/panellists/NOBODY/revoke",
                           data={"csrf_token": token})
    assert response.status_code == 404


def test_two_launches_at_once_one_wins_and_the_other_is_told(app, factory, monkeypatch):
    study = factory.study()
    factory.panel(study, per_group=1)
    study_id = study.id
    barrier = threading.Barrier(2)
    real_open = Round.open

    def open_slowly(self, *args, **kwargs):
        try:  # both launches get here together unless one waits for the other's lock
            barrier.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Round, "open", open_slowly)
    outcomes: list[str] = []

    def launch_in_thread() -> None:
        with app.app_context():
            try:
                with write_transaction():
                    round_ops.launch_round(db.session.get(type(study), study_id), "test")
                    db.session.commit()
                outcomes.append("launched")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - the failure the test looks for
                db.session.rollback()
                outcomes.append(f"crash: {type(exc).__name__}")
            finally:
                db.session.remove()

    db.session.commit()
    threads = [threading.Thread(target=launch_in_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["launched",
                                "round 1 was launched already and is still open; close it first"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 1


def test_a_domain_error_reaching_a_view_is_a_409_page_not_a_500(tmp_path):
    app: Flask = create_app({"TESTING": True, "SECRET_KEY": "k", "PROPAGATE_EXCEPTIONS": False,
                             "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"})

    @app.route("/_domain")
    def _domain():
        raise DomainError("round.still_running", "round {number} is still open; close it first",
                          number=3)

    @app.route("/_illegal")
    def _illegal():
        raise IllegalTransition("study.bad_transition", "a finished study cannot run again")

    client = app.test_client()
    response = client.get("/_domain")
    assert response.status_code == 409
    assert "Round 3 is still open; close it first. Nothing was changed." in \
        response.get_data(as_text=True)
    response = client.get("/_illegal")
    assert response.status_code == 409
    assert "A finished study cannot run again." in response.get_data(as_text=True)
