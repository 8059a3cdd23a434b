"""The outbox and the SMTP worker, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from delphi import mail
from delphi.extensions import db
from delphi.models import MailStatus, OutboxMessage, utcnow

from .conftest import csrf_token, login
from .flows import launch, open_link, vote


def _messages():
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_invitations_are_delivered_one_recipient_each_and_the_link_works(app, smtp, factory):
    study = factory.study()
    panel = factory.panel(study)
    launch(study, utcnow() + timedelta(days=3))
    result = mail.deliver_batch()
    assert result.sent == 6
    assert len(smtp.messages) == 6
    assert all(len(rcpts) == 1 for rcpts in smtp.envelopes)
    assert sorted(r[0] for r in smtp.envelopes) == sorted(p.email for p in panel)
    message = smtp.to(panel[0].email)[0]
    assert message["From"] == "IMPACT study <study@delphi.test>"
    assert "round 1 is open" in message["Subject"]
    assert message.get_body(preferencelist=("html",)) is not None
    link = smtp.link(message)
    assert link.startswith("https://delphi.test/p/")
    assert all(m.status is MailStatus.SENT and m.sent_at for m in _messages())
    # the panellist follows the link from the email, votes and submits
    client = app.test_client()
    open_link(client, link)
    assert vote(client, {i.id: 8 for i in study.items}).status_code == 302
    mail.deliver_batch()
    receipt = [m for m in smtp.to(panel[0].email) if "Received" in m["Subject"]]
    assert len(receipt) == 1
    assert "3 of 3 statements rated" in smtp.text(receipt[0])


def test_a_second_worker_pass_sends_nothing_twice(smtp, factory):
    study = factory.study()
    factory.panel(study)
    launch(study)
    mail.deliver_batch()
    assert mail.deliver_batch().sent == 0
    assert len(smtp.messages) == 6


def test_links_come_from_the_base_url_never_the_host_header(app, smtp, factory, client):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    factory.panel(study, per_group=1)
    login(client, owner.email)
    token = csrf_token(client, f"/studies/{study.slug}/rounds/")
    client.post(f"/studies/{study.slug}/rounds/launch",
                data={"csrf_token": token, "confirmed": "yes"}, headers={"Host": "evil.example"})
    mail.deliver_batch()
    assert all(smtp.link(m).startswith("https://delphi.test/p/") for m in smtp.messages)


def test_the_server_refusing_means_retry_with_backoff_then_delivery(smtp, factory):
    study = factory.study()
    factory.panel(study, per_group=1)
    launch(study)
    smtp.refuse = True
    result = mail.deliver_batch()
    assert result.retried == 2 and result.sent == 0
    first = _messages()
    assert all(m.status is MailStatus.PENDING and m.attempts == 1 for m in first)
    assert all("451" in m.last_error for m in first)
    assert all(m.next_attempt_at > utcnow() + timedelta(seconds=20) for m in first)
    assert mail.deliver_batch().sent == 0  # not due yet: backoff
    smtp.refuse = False
    for m in first:
        m.next_attempt_at = utcnow()
    db.session.commit()
    assert mail.deliver_batch().sent == 2
    assert all(m.status is MailStatus.SENT and m.last_error == "" for m in _messages())


def test_after_the_last_attempt_a_message_is_failed_with_its_error(app, smtp, factory,
                                                                   monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 2)
    study = factory.study()
    factory.panel(study, per_group=1)
    launch(study)
    smtp.refuse = True
    mail.deliver_batch()
    for m in _messages():
        m.next_attempt_at = utcnow()
    db.session.commit()
    result = mail.deliver_batch()
    assert result.failed == 2
    assert all(m.status is MailStatus.FAILED and "451" in m.last_error for m in _messages())
    # the facilitator resends; the server is back
    smtp.refuse = False
    for m in _messages():
        mail.resend(m)
    db.session.commit()
    assert mail.deliver_batch().sent == 2


def test_an_unreachable_server_is_recorded_and_retried(app, smtp, factory):
    study = factory.study()
    factory.panel(study, per_group=1)
    launch(study)
    app.config["SMTP_PORT"] = 1  # nothing listens there
    result = mail.deliver_batch()
    assert result.retried == 2
    assert all("ConnectionRefusedError" in m.last_error for m in _messages())


def test_a_worker_that_dies_mid_batch_loses_nothing(app, smtp, factory):
    study = factory.study()
    factory.panel(study)
    launch(study)
    claimed = mail.claim_due(3)  # a worker claims three, then is killed before sending
    assert len(claimed) == 3
    assert mail.deliver_batch().sent == 3  # the other three; the claimed are leased
    later = utcnow() + timedelta(seconds=app.config["MAIL_LEASE_SECONDS"] + 1)
    ids = mail.claim_due(10, now=later)
    assert sorted(ids) == sorted(claimed)
    sender = mail.Sender()
    for message_id in ids:
        mail._deliver_one(message_id, sender, mail.BatchResult())
    sender.close()
    assert sorted(r[0] for r in smtp.envelopes) == sorted(m.to_address for m in _messages())
    assert len(smtp.messages) == 6


def test_without_smtp_the_outbox_page_shows_each_message_with_a_working_link(
        app, client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study, per_group=1)
    launch(study)
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/outbox").get_data(as_text=True)
    assert "No SMTP server is set" in page and panel[0].email in page
    message = next(m for m in _messages() if m.to_address == panel[0].email)
    token = csrf_token(client, f"/studies/{study.slug}/outbox")
    shown = client.post(f"/studies/{study.slug}/outbox/{message.id}/preview",
                        data={"csrf_token": token}).get_data(as_text=True)
    assert "round 1 is open" in shown
    import re

    link = re.search(r'href="(https://delphi.test/p/[^"]+)"', shown).group(1)
    panellist = app.test_client()
    open_link(panellist, link)
    assert "First statement" in panellist.get("/vote").get_data(as_text=True)


def test_send_mail_command_delivers_once(app, runner, smtp, factory):
    study = factory.study()
    factory.panel(study, per_group=1)
    launch(study)
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    assert len(smtp.messages) == 2


def test_a_crlf_in_a_title_cannot_add_a_mail_header(smtp, factory):
    study = factory.study()
    study.title = "Study\r\nBcc: everyone@example.org"
    db.session.commit()
    factory.panel(study, per_group=1)
    launch(study)
    assert mail.deliver_batch().sent == 2
    message = smtp.messages[0]
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    assert all(len(r) == 1 for r in smtp.envelopes)


def test_two_workers_at_once_send_each_message_exactly_once(app, smtp, factory, monkeypatch):
    import threading

    study = factory.study()
    factory.panel(study, per_group=10)
    launch(study)
    monkeypatch.setitem(app.config, "MAIL_BATCH_SIZE", 3)
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                while mail.deliver_batch().sent:
                    pass
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    received = sorted(r[0] for r in smtp.envelopes)
    assert received == sorted(m.to_address for m in _messages())
    assert len(received) == len(set(received)) == 20


def test_a_refused_message_shows_its_error_to_the_facilitator(client, smtp, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    factory.panel(study, per_group=1)
    launch(study)
    smtp.refuse = True
    mail.deliver_batch()
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/outbox").get_data(as_text=True)
    assert "2 retrying" in page and "0 failed" in page
    assert "Last error: SMTPDataError: 451 4.3.0 try again later" in page
    assert "2 messages could not be delivered yet and will be tried again" in page
    assert '<td class="num">1</td>' in page  # the attempt count


def test_script_in_a_name_is_inert_in_the_html_email(smtp, factory):
    from delphi.models import Panellist

    study = factory.study()
    panellist = factory.panel(study, per_group=1)[0]
    db.session.get(Panellist, panellist.id).name = "<script>alert(1)</script>"
    db.session.commit()
    launch(study)
    mail.deliver_batch()
    message = smtp.to(panellist.email)[0]
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- a worker that never stalls, never dies and tells -------------------------------


def _past_deadline(**ago: float) -> dict:
    """Column values of a round opened an hour ago whose deadline was ``ago``."""
    return {"opened_at": utcnow() - timedelta(hours=1), "closes_at": utcnow() - timedelta(**ago)}


def _set_email(panellist_id: int, address: str) -> None:
    """An address stored before import checked it (an old database)."""
    from delphi.models import Panellist

    db.session.get(Panellist, panellist_id).email = address
    db.session.commit()


def test_an_address_smtp_cannot_carry_fails_alone_and_every_other_message_goes(
        app, client, smtp, factory):
    owner = factory.facilitator()
    first = factory.study(owner=owner)
    panel = factory.panel(first, per_group=2)
    other = factory.study()
    factory.panel(other, per_group=2)
    _set_email(panel[0].id, "zoë@exämple.org")  # legal under RFC 6531, not over plain SMTP
    launch(first)
    launch(other)
    assert mail.run_worker(once=True, interval=0) is True
    assert len(smtp.messages) == 7
    bad = next(m for m in _messages() if m.panellist_id == panel[0].id)
    assert bad.status is MailStatus.FAILED and "non-ASCII" in bad.last_error
    assert bad.lease_until is None
    assert all(m.status is MailStatus.SENT for m in _messages() if m.id != bad.id)
    login(client, owner.email)
    page = client.get(f"/studies/{first.slug}/outbox").get_data(as_text=True)
    assert "1 failed" in page and "non-ASCII characters" in page


def test_a_message_the_server_refuses_for_good_is_failed_at_once(app, smtp, factory):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    real = smtp.handle_DATA
    refused = panel[0].email

    async def refuse_one(server, session, envelope):  # noqa: ANN001
        if refused in envelope.rcpt_tos:
            return "550 5.1.1 mailbox unavailable"
        return await real(server, session, envelope)

    smtp.handle_DATA = refuse_one
    result = mail.deliver_batch()
    assert (result.sent, result.failed, result.retried) == (1, 1, 0)
    failed = next(m for m in _messages() if m.status is MailStatus.FAILED)
    assert failed.to_address == refused and "550" in failed.last_error


def test_every_message_carries_a_date_and_a_message_id(smtp, factory):
    from email.utils import parsedate_to_datetime

    study = factory.study()
    factory.panel(study, per_group=1)
    launch(study)
    mail.deliver_batch()
    ids = set()
    for message in smtp.messages:
        assert abs(parsedate_to_datetime(message["Date"]) - utcnow()) < timedelta(minutes=5)
        assert message["Message-ID"].endswith("@delphi.test>")
        ids.add(message["Message-ID"])
    assert len(ids) == len(smtp.messages) == 2


def test_a_hung_server_means_retry_with_its_error_and_the_loop_goes_on(
        app, smtp, factory, monkeypatch, caplog):
    import logging
    import time

    from .smtp_server import HungServer

    study = factory.study()
    factory.panel(study, per_group=3)
    launch(study)
    hung = HungServer()
    hung.start()
    real_port = app.config["SMTP_PORT"]
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT", 0.3)
    monkeypatch.setitem(app.config, "SMTP_PORT", hung.port)
    caplog.set_level(logging.INFO, logger="delphi")
    started = time.monotonic()
    try:
        assert mail.run_worker(once=True, interval=0) is True  # the pass ends; no exception
    finally:
        hung.stop()
    assert time.monotonic() - started < 5  # one timeout, not one per message
    messages = _messages()
    assert all(m.status is MailStatus.PENDING and m.attempts == 1 for m in messages)
    assert all("timed out" in m.last_error for m in messages)
    assert all(m.lease_until is None for m in messages)
    assert "the SMTP server failed" in caplog.text
    assert "attempt 1 failed" in caplog.text
    assert not any(m.to_address in caplog.text for m in messages)
    # the server is back: the next attempt delivers every message once
    app.config["SMTP_PORT"] = real_port
    for m in messages:
        m.next_attempt_at = utcnow()
    db.session.commit()
    assert mail.deliver_batch().sent == 6
    assert len(smtp.messages) == 6


class _Stop(BaseException):
    pass


def test_a_database_error_inside_the_loop_is_logged_and_the_loop_goes_on(
        app, smtp, factory, monkeypatch, caplog):
    import logging

    study = factory.study()
    factory.panel(study, per_group=1)
    launch(study)
    real = mail.deliver_batch
    calls = []

    def outage(*args, **kwargs):  # noqa: ANN002, ANN003
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("the server closed the "
                                                                   "connection unexpectedly"))
        return real(*args, **kwargs)

    pauses = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            raise _Stop

    monkeypatch.setattr(mail, "deliver_batch", outage)
    caplog.set_level(logging.INFO, logger="delphi")
    try:
        mail.run_worker(once=False, interval=5, sleep=sleep)
    except _Stop:
        pass
    assert "the pass failed (1 in a row)" in caplog.text and "OperationalError" in caplog.text
    assert pauses[0] == 5 and pauses[1] == 5  # backed off once, then back to the interval
    assert len(smtp.messages) == 2
    assert all(m.status is MailStatus.SENT for m in _messages())


def test_a_failing_pass_backs_off_doubling_up_to_a_limit(app, monkeypatch):
    def broken(*_args: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(mail, "_worker_pass", broken)
    pauses = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 12:
            raise _Stop

    try:
        mail.run_worker(once=False, interval=5, sleep=sleep)
    except _Stop:
        pass
    assert pauses[:4] == [5, 10, 20, 40]
    assert max(pauses) == mail.WORKER_BACKOFF_MAX_SECONDS


def test_send_mail_once_says_when_the_pass_failed(app, runner, monkeypatch):
    def broken(*_args: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(mail, "_worker_pass", broken)
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 1 and "the mail pass failed" in result.output


def test_a_slow_server_never_lets_a_second_worker_send_the_same_message(
        app, smtp, factory, monkeypatch):
    import threading

    study = factory.study()
    factory.panel(study, per_group=4)
    launch(study)
    # A lease of 3 s; each message takes 0.45 s, so the batch of 8 takes 3.6 s: without
    # renewal its lease runs out near the end and the second worker sends those again.
    monkeypatch.setitem(app.config, "MAIL_LEASE_SECONDS", 3)
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT", 0.75)
    smtp.delay = 0.45
    done = threading.Event()
    errors = []

    def second_worker() -> None:
        try:
            with app.app_context():
                done.wait(0.3)  # the first worker has claimed the batch by then
                while not done.is_set():
                    mail.deliver_batch()
                    done.wait(0.2)
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=second_worker)
    thread.start()
    try:
        first = mail.deliver_batch()
    finally:
        done.set()
        thread.join(30)
    assert first.sent == 8
    assert errors == []
    received = sorted(r[0] for r in smtp.envelopes)
    assert len(received) == len(set(received)) == 8


def test_the_worker_keeps_deadlines_whatever_the_backlog(app, smtp, factory, monkeypatch):
    from delphi.cli import periodic_jobs
    from delphi.models import Round, RoundState

    study = factory.study()
    factory.panel(study, per_group=3)
    rnd = launch(study, utcnow() + timedelta(days=1))
    monkeypatch.setitem(app.config, "MAIL_BATCH_SIZE", 2)
    real = mail.deliver_batch
    states = []

    def batch(*args, **kwargs):  # noqa: ANN002, ANN003
        state = db.session.scalar(sa.select(Round.state).where(Round.id == rnd.id))
        states.append(state)
        if len(states) == 1:  # the deadline passes while the worker is busy
            db.session.execute(sa.update(Round).where(Round.id == rnd.id)
                               .values(**_past_deadline(seconds=1)))
            db.session.commit()
        return real(*args, **kwargs)

    monkeypatch.setattr(mail, "deliver_batch", batch)
    assert mail.run_worker(once=True, interval=0, jobs=periodic_jobs)
    assert states[0] is RoundState.OPEN and states[1] is RoundState.CLOSED
    assert len(states) >= 3  # the backlog was still being delivered


def test_two_workers_closing_the_same_round_both_go_on(app, factory, caplog):
    import logging
    import threading

    from delphi.cli import periodic_jobs
    from delphi.models import AuditEvent, Round, RoundState

    study = factory.study()
    factory.panel(study, per_group=1)
    rnd = launch(study, utcnow() + timedelta(days=1))
    db.session.execute(sa.update(Round).where(Round.id == rnd.id)
                       .values(**_past_deadline(seconds=1)))
    db.session.commit()
    caplog.set_level(logging.INFO)
    barrier = threading.Barrier(2)
    results = []

    def worker() -> None:
        with app.app_context():
            barrier.wait()
            results.append(mail.run_worker(once=True, interval=0, jobs=periodic_jobs))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True, True]
    assert "closed already" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    db.session.expire_all()
    assert db.session.get(Round, rnd.id).state is RoundState.CLOSED
    closes = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "round.closed")).all()
    assert len(closes) == 1


def test_a_round_closed_by_someone_else_meanwhile_is_skipped(app, factory):
    from delphi.models import Round, RoundState
    from delphi.rounds import operations as round_ops

    study = factory.study()
    factory.panel(study, per_group=1)
    rnd = launch(study, utcnow() + timedelta(days=1))
    later = utcnow() + timedelta(days=2)
    due = round_ops.due_round_ids(later)  # this worker sees the round due ...
    assert due == [rnd.id]
    # ... and another closes it first, unseen by this session: only the conditional
    # update can tell ("round 1 was closed already" used to end the worker)
    db.session.execute(sa.update(Round).where(Round.id == rnd.id)
                       .values(state=RoundState.CLOSED, closed_at=later)
                       .execution_options(synchronize_session=False))
    assert rnd.state is RoundState.OPEN  # what this session still believes
    assert round_ops.close_due_round(rnd.id, later) is None
    db.session.rollback()


def test_the_worker_writes_a_heartbeat_and_logs_that_it_is_alive(app, smtp, caplog):
    import logging

    from delphi.models import WorkerHeartbeat

    caplog.set_level(logging.INFO, logger="delphi")
    mail.run_worker(once=True, interval=0)
    beats = db.session.scalars(sa.select(WorkerHeartbeat)).all()
    assert len(beats) == 1
    assert beats[0].worker == mail.worker_name()
    assert utcnow() - beats[0].last_seen_at < timedelta(seconds=30)
    assert "alive: 0 pending, 0 retrying, 0 failed" in caplog.text


def test_an_smtp_timeout_not_well_below_the_lease_is_refused():
    import pytest

    from delphi import create_app
    from delphi.config import ConfigError

    base = {"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://"}
    with pytest.raises(ConfigError, match="at most a quarter of DELPHI_MAIL_LEASE_SECONDS"):
        create_app(base | {"SMTP_TIMEOUT": 150, "MAIL_LEASE_SECONDS": 120})
    with pytest.raises(ConfigError, match="must be positive"):
        create_app(base | {"SMTP_TIMEOUT": 0})
    assert create_app(base | {"SMTP_TIMEOUT": 30, "MAIL_LEASE_SECONDS": 120})


def test_a_round_past_its_deadline_shows_as_closed(app, client, factory):
    from delphi.models import Round

    owner = factory.facilitator()
    study = factory.study(owner=owner)
    factory.panel(study, per_group=1)
    rnd = launch(study, utcnow() + timedelta(days=1))
    login(client, owner.email)
    assert "is open" in client.get(f"/studies/{study.slug}/rounds/").get_data(as_text=True)
    db.session.execute(sa.update(Round).where(Round.id == rnd.id)
                       .values(**_past_deadline(minutes=1)))
    db.session.commit()
    rounds_page = client.get(f"/studies/{study.slug}/rounds/").get_data(as_text=True)
    assert "Round 1 is closed" in rounds_page and "has passed" in rounds_page
    assert '<span class="badge badge-open">' not in rounds_page
    study_page = client.get(f"/studies/{study.slug}/").get_data(as_text=True)
    assert '<span class="badge badge-closed">closed</span>' in study_page
    assert '<span class="badge badge-open">' not in study_page


# --- emails people read ------------------------------------------------------------


def test_the_invitation_uses_the_short_name_and_says_how_many_statements_and_how_long(
        smtp, factory):
    from delphi.models import Item

    study = factory.study(impact=True)
    panellist = factory.panel(study, per_group=1)[0]
    launch(study)
    mail.deliver_batch()
    message = smtp.to(panellist.email)[0]
    assert message["Subject"] == "IMPACT: round 1 is open for your ratings"
    text = smtp.text(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Item)
                              .where(Item.study_id == study.id))
    minutes = -(-count * 30 // 60)
    assert f"This round has {count} statements; rating them takes about\n{minutes} minutes" \
        in text
    assert f"{count} statements</strong>; rating them takes about {minutes} minutes" in html
    assert text.rstrip().endswith("With thanks,\nThe IMPACT steering committee")
    assert "<br>The IMPACT steering committee</p>" in html
    assert "steering committee" not in message["Subject"]
    assert study.title in text  # the full title is still named once, in the body


def test_without_a_short_name_emails_fall_back_to_the_title(smtp, factory):
    study = factory.study()
    panellist = factory.panel(study, per_group=1)[0]
    launch(study)
    mail.deliver_batch()
    message = smtp.to(panellist.email)[0]
    assert message["Subject"] == "A small study: round 1 is open for your ratings"
    text = smtp.text(message)
    assert "This round has 3 statements; rating them takes about\n2 minutes." in text
    assert text.rstrip().endswith("The A small study steering committee")


def test_reminders_and_receipts_use_the_short_name_and_the_sender(app, smtp, factory):
    from delphi.rounds import operations as round_ops

    study = factory.study(impact=True)
    panellist = factory.panel(study, per_group=1)[0]
    launch(study)
    round_ops.remind(study, "test")
    db.session.commit()
    mail.deliver_batch()
    reminder = next(m for m in smtp.to(panellist.email) if m["Subject"].startswith("Reminder"))
    assert reminder["Subject"] == "Reminder: IMPACT, round 1"
    assert smtp.text(reminder).rstrip().endswith("The IMPACT steering committee")


def test_estimated_minutes_round_up_at_30_seconds_a_statement():
    assert [mail.estimated_minutes(n) for n in (0, 1, 2, 3, 56, 57)] == [1, 1, 1, 2, 28, 29]


def test_a_message_deleted_while_it_was_being_sent_does_not_stop_the_worker(app, factory):
    """Deleting a study deletes its outbox; a failed send of one of its messages then has
    nothing left to record, and the pass goes on with the other messages."""
    import smtplib

    study = factory.study()
    factory.panel(study, per_group=1)
    launch(study)
    first, address = _messages()[0].id, _messages()[0].to_address

    class DeletedMidSend(mail.Sender):
        def send(self, email):  # noqa: ANN001
            if email["To"] == address:
                db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.id == first))
                db.session.commit()
                raise smtplib.SMTPRecipientsRefused({email["To"]: (550, b"no such user")})

        def close(self):
            pass

    result = mail.deliver_batch(sender=DeletedMidSend())
    assert (result.sent, result.failed, result.retried) == (1, 0, 0)
    assert [m.status for m in _messages()] == [MailStatus.SENT]
