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


def test_after_the_last_attempt_a_message_is_failed_with_its_error(app, smtp, factory):
    app.config["MAIL_MAX_ATTEMPTS"] = 2
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


def test_two_workers_at_once_send_each_message_exactly_once(app, smtp, factory):
    import threading

    study = factory.study()
    factory.panel(study, per_group=10)
    launch(study)
    app.config["MAIL_BATCH_SIZE"] = 3
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
    assert "2 pending" in page and "451" in page and "try again later" in page


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
