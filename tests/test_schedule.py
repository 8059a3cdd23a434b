"""Deadlines and schedules (issue 10, point 4): change an open round's deadline, reopen a
round closed by mistake, scheduled reminders sent by the mail worker, the study time zone."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from delphi import mail
from delphi.cli import periodic_jobs
from delphi.decisions import operations as decision_ops
from delphi.extensions import db
from delphi.models import (
    AuditEvent,
    DomainError,
    OutboxMessage,
    RoundResult,
    RoundState,
    utcnow,
)
from delphi.rounds import operations as ops
from delphi.timezones import shown, to_utc

from .conftest import csrf_token, login
from .flows import close, launch, link_for_panellist, open_link, vote

BAD = {"empty": "", "nul": "2030-01-01T10:00\x00", "script": "<script>alert(1)</script>",
       "long": "2030-01-01T10:00" + "0" * 5000}


def _kinds(kind):
    return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
                              .order_by(OutboxMessage.id)).all()


def _submit(app, study, panellist):
    client = app.test_client()
    open_link(client, link_for_panellist(study, panellist.id))
    assert vote(client, {i.id: 8 for i in study.items}).status_code == 302


@pytest.fixture
def running(app, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    launch(study, utcnow() + timedelta(days=3))
    return study, panel, owner


def _audit(action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


def test_extending_the_deadline_tells_only_those_who_have_not_submitted(app, running):
    study, panel, owner = running
    _submit(app, study, panel[0])
    rnd = study.current_round
    before = rnd.closes_at
    ops.set_deadline(study, before + timedelta(days=4), owner)
    db.session.commit()
    extensions = _kinds("extension")
    assert sorted(m.panellist_id for m in extensions) == sorted(p.id for p in panel[1:])
    event = _audit("round.deadline_changed")[-1]
    assert event.detail["before"]["closes_at"] == before.isoformat()
    assert event.detail["after"]["closes_at"] == (before + timedelta(days=4)).isoformat()
    assert event.detail["notified"] == 5
    # shortening tells nobody
    ops.set_deadline(study, before + timedelta(days=1), owner)
    db.session.commit()
    assert len(_kinds("extension")) == 5
    with pytest.raises(DomainError, match="in the future"):
        ops.set_deadline(study, utcnow() - timedelta(minutes=1), owner)


def test_the_extension_email_shows_the_deadline_in_the_study_time_zone(app, smtp, running):
    study, panel, owner = running
    study.time_zone = "Europe/Berlin"
    db.session.commit()
    new = datetime(2031, 7, 1, 15, 30, tzinfo=UTC)
    ops.set_deadline(study, new, owner)
    db.session.commit()
    db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.kind == "invitation"))
    db.session.commit()
    mail.deliver_batch()
    message = smtp.to(panel[0].email)[0]
    assert "now closes on Tuesday 01 July 2031 at 17:30 Europe/Berlin (UTC+02:00)" in \
        smtp.text(message)
    assert smtp.link(message).startswith("https://delphi.test/p/")


def test_the_console_reads_a_deadline_in_the_study_time_zone(client, running):
    study, _, owner = running
    study.time_zone = "America/New_York"
    db.session.commit()
    login(client, owner.email)
    token = csrf_token(client, f"/studies/{study.slug}/rounds/")
    page = client.post(f"/studies/{study.slug}/rounds/deadline", follow_redirects=True,
                       data={"csrf_token": token, "closes_at": "2031-01-15T09:00"})
    assert "is changed" in page.get_data(as_text=True)
    db.session.refresh(study.current_round)
    assert study.current_round.closes_at == datetime(2031, 1, 15, 14, 0, tzinfo=UTC)
    html = client.get(f"/studies/{study.slug}/rounds/").get_data(as_text=True)
    assert "15 January 2031 at 09:00 America/New_York (UTC-05:00)" in html


@pytest.mark.parametrize("bad", BAD)
def test_a_bad_deadline_is_refused_and_nothing_changes(client, running, bad):
    study, _, owner = running
    closes_at = study.current_round.closes_at
    login(client, owner.email)
    token = csrf_token(client, f"/studies/{study.slug}/rounds/")
    page = client.post(f"/studies/{study.slug}/rounds/deadline", follow_redirects=True,
                       data={"csrf_token": token, "closes_at": BAD[bad]})
    html = page.get_data(as_text=True)
    if bad == "nul":  # refused for every form before any view runs, naming the field
        assert page.status_code == 400 and "NUL" in html and "closes_at" in html
    else:
        assert page.status_code == 200 and "Nothing was changed" in html
    assert "<script>alert" not in html
    db.session.refresh(study.current_round)
    assert study.current_round.closes_at == closes_at and not _kinds("extension")


def test_a_round_closed_by_mistake_is_reopened_and_its_result_recomputed(app, client, running):
    study, panel, owner = running
    _submit(app, study, panel[0])
    close(study)
    rnd = study.current_round
    assert db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    login(client, owner.email)
    token = csrf_token(client, f"/studies/{study.slug}/rounds/")
    page = client.post(f"/studies/{study.slug}/rounds/reopen", follow_redirects=True,
                       data={"csrf_token": token, "confirm": "y"})
    assert "open again" in page.get_data(as_text=True)
    db.session.refresh(rnd)
    assert rnd.state is RoundState.OPEN and rnd.closed_at is None and rnd.reopened == 1
    assert db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id)) \
        is None
    event = _audit("round.reopened")[-1]
    assert event.detail["before"]["state"] == "closed" and event.detail["after"]["state"] == "open"
    _submit(app, study, panel[1])  # a late answer now counts
    close(study)
    stored = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    first = study.items[0]
    row = next(r for r in stored.data["items"] if r["item"] == first.key and r["group"] is None)
    assert row["n_valid"] == 2


def test_reopening_needs_the_box_ticked(client, running):
    study, _, owner = running
    close(study)
    login(client, owner.email)
    token = csrf_token(client, f"/studies/{study.slug}/rounds/")
    page = client.post(f"/studies/{study.slug}/rounds/reopen", follow_redirects=True,
                       data={"csrf_token": token})
    assert "Tick the box" in page.get_data(as_text=True)
    assert study.current_round.state is RoundState.CLOSED


def test_a_round_cannot_be_reopened_after_a_decision_or_the_next_launch(running):
    study, _, owner = running
    close(study)
    decision = decision_ops.carry_forward(study, [study.items[0]], "keep", owner)
    db.session.commit()
    with pytest.raises(DomainError, match="decision"):
        ops.reopen_round(study, None, owner)
    decision_ops.undo_decision(study, decision, owner)
    db.session.commit()
    launch(study)
    with pytest.raises(DomainError, match="not closed"):
        ops.reopen_round(study, None, owner)


def test_scheduled_reminders_go_once_per_panellist_and_point_to_non_responders(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    study.reminder_days = [7, 2]
    db.session.commit()
    opened = utcnow()
    launch(study, opened + timedelta(days=10))
    _submit(app, study, panel[0])
    assert ops.due_reminders(opened + timedelta(days=2)) == 0  # 8 days left
    assert ops.due_reminders(opened + timedelta(days=3, hours=1)) == 5  # the 7-day point
    assert ops.due_reminders(opened + timedelta(days=3, hours=2)) == 0  # not twice
    _submit(app, study, panel[1])
    assert ops.due_reminders(opened + timedelta(days=8, hours=1)) == 4  # the 2-day point
    reminders = _kinds("reminder")
    assert len(reminders) == 9 and panel[0].id not in {m.panellist_id for m in reminders}
    assert ops.due_reminders(opened + timedelta(days=11)) == 0  # past the deadline


def test_a_point_already_past_at_the_launch_is_skipped(factory):
    study = factory.study()
    factory.panel(study)
    study.reminder_days = [7]
    db.session.commit()
    launch(study, utcnow() + timedelta(days=3))
    assert ops.due_reminders(utcnow() + timedelta(days=1)) == 0


def test_two_workers_queue_each_scheduled_reminder_once(app, factory):
    study = factory.study()
    factory.panel(study)
    study.reminder_days = [2]
    db.session.commit()
    launch(study, utcnow() + timedelta(days=3))
    later = utcnow() + timedelta(days=1, hours=1)
    start = threading.Barrier(2)
    errors = []

    def worker():
        with app.app_context():
            try:
                start.wait()
                ops.due_reminders(later)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    db.session.expire_all()
    assert len(_kinds("reminder")) == 6


def test_the_mail_worker_pass_queues_due_reminders(app, factory, monkeypatch):
    study = factory.study()
    factory.panel(study)
    study.reminder_days = [1]
    db.session.commit()
    launch(study, utcnow() + timedelta(days=2))
    monkeypatch.setattr(mail, "utcnow", lambda: utcnow() + timedelta(days=1, hours=1))
    periodic_jobs(purge=False)
    assert len(_kinds("reminder")) == 6


def test_the_schedule_page_saves_the_time_zone_and_reminders(client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    login(client, owner.email)
    url = f"/studies/{study.slug}/schedule"
    token = csrf_token(client, url)
    page = client.post(url, follow_redirects=True, data={
        "csrf_token": token, "time_zone": "Europe/London", "reminder_days": "2, 7",
        "suggestions_every_round": "y"})
    assert "The schedule is saved" in page.get_data(as_text=True)
    db.session.refresh(study)
    assert (study.time_zone, study.reminder_days, study.suggestions_every_round) == (
        "Europe/London", [7, 2], True)
    event = _audit("study.schedule_changed")[-1]
    assert event.detail["before"]["time_zone"] == "UTC"
    assert event.detail["after"]["reminder_days"] == [7, 2]
    # Emptying the field ("empty for none", as its label says) stops the reminders.
    page = client.post(url, follow_redirects=True, data={
        "csrf_token": token, "time_zone": "Europe/London", "reminder_days": ""})
    assert page.status_code == 200
    assert "The schedule is saved" in page.get_data(as_text=True)
    db.session.refresh(study)
    assert study.reminder_days == []


@pytest.mark.parametrize("field,value,message", [
    ("time_zone", "Mars/Olympus", "is not a time zone name"),
    ("time_zone", "", "Enter a time zone"),
    ("time_zone", "Europe/\x00London", "NUL"),
    ("time_zone", "<script>x</script>", "markup"),
    ("time_zone", "E" * 65, "64"),
    ("reminder_days", "seven", "whole numbers"),
    ("reminder_days", "0, 2", "1 to 90"),
    ("reminder_days", "7\x00", "NUL"),
    ("reminder_days", "<script>", "markup"),
    ("reminder_days", "1," * 40, "60"),
])
def test_a_bad_schedule_is_refused_with_a_message(client, factory, field, value, message):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    login(client, owner.email)
    url = f"/studies/{study.slug}/schedule"
    data = {"csrf_token": csrf_token(client, url), "time_zone": "Europe/Paris",
            "reminder_days": "3"} | {field: value}
    page = client.post(url, data=data)
    assert page.status_code == 400
    assert message in page.get_data(as_text=True)
    db.session.refresh(study)
    assert (study.time_zone, study.reminder_days) == ("UTC", [])


def test_times_read_and_shown_in_a_zone():
    assert to_utc(datetime(2030, 7, 1, 12, 0), "Europe/London") == \
        datetime(2030, 7, 1, 11, 0, tzinfo=UTC)
    assert shown(datetime(2030, 1, 1, 12, 0, tzinfo=UTC), "Asia/Kolkata") == \
        "01 January 2030 at 17:30 Asia/Kolkata (UTC+05:30)"
    assert shown(datetime(2030, 1, 1, 12, 0, tzinfo=UTC), "UTC") == "01 January 2030 at 12:00 UTC"
    with pytest.raises(DomainError, match="does not exist"):
        to_utc(datetime(2030, 3, 31, 1, 30), "Europe/London")  # the clocks skip it


def test_a_panellist_sees_every_time_in_the_study_zone(app, client, smtp, factory):
    """The deadline on the voting page, the saved and submitted times, the receipt page and
    the receipt email: each in the study's zone with its offset, none in bare UTC."""
    study = factory.study()
    study.time_zone = "Asia/Tokyo"
    panel = factory.panel(study, per_group=1)
    db.session.commit()
    launch(study, datetime(2031, 1, 15, 14, 0, tzinfo=UTC))
    open_link(client, link_for_panellist(study, panel[0].id))
    page = client.get("/vote").get_data(as_text=True)
    assert "open until 15 January 2031, 23:00 Asia/Tokyo (UTC+09:00)" in page
    response = vote(client, {i.id: 8 for i in study.items})
    receipt = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Asia/Tokyo (UTC+09:00): 3 of 3 statements rated" in receipt
    assert "closes on 15 January 2031 at 23:00 Asia/Tokyo (UTC+09:00)" in receipt
    page = client.get("/vote").get_data(as_text=True)
    assert "You submitted your answers on" in page and " UTC." not in page
    mail.deliver_batch()
    text = smtp.text([m for m in smtp.to(panel[0].email) if "Received" in m["Subject"]][0])
    assert "Asia/Tokyo (UTC+09:00))" in " ".join(text.split())
