"""Email through an outbox: rows are written with the action that causes them and
delivered after commit by ``delphi send-mail`` over SMTP, one recipient per message.

Workers claim due rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) and a lease, so
several can run at once; a worker that dies mid-batch loses nothing: its rows come
due again when the lease runs out.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid, parseaddr
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy.orm import joinedload

from .extensions import db, write_transaction
from .models import Invitation, MailStatus, OutboxMessage, Panellist, Study, utcnow
from .tokens import link_for, mint_token

log = logging.getLogger("delphi.mail")

KINDS = ("invitation", "reminder", "receipt")
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


def queue(kind: str, panellist: Panellist, study: Study, dedupe_key: str,
          invitation: Invitation | None = None, **context: Any) -> OutboxMessage | None:
    """Add one message to the outbox unless one with the same dedupe key exists."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    exists = db.session.scalar(
        sa.select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    )
    if exists is not None:
        return None
    message = OutboxMessage(
        study_id=study.id, kind=kind, dedupe_key=dedupe_key, to_address=panellist.email,
        panellist_id=panellist.id, invitation_id=invitation.id if invitation else None,
        context=context, status=MailStatus.PENDING, next_attempt_at=utcnow(),
    )
    db.session.add(message)
    return message


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(message: OutboxMessage, link: str | None) -> Rendered:
    """Render a message's subject, text and HTML parts from its templates."""
    study = db.session.get(Study, message.study_id) if message.study_id else None
    panellist = db.session.get(Panellist, message.panellist_id) if message.panellist_id else None
    invitation = db.session.get(Invitation, message.invitation_id) if message.invitation_id \
        else None
    values = dict(message.context, study=study, panellist=panellist, link=link,
                  round=invitation.round if invitation else None)
    subject = render_template(f"email/{message.kind}.subject.txt", **values).strip()
    # A subject is one line: a study title with a line break must not add a header.
    subject = " ".join(subject.split())
    return Rendered(
        subject=subject,
        text=render_template(f"email/{message.kind}.txt", **values),
        html=render_template(f"email/{message.kind}.html", **values),
    )


def build_email(message: OutboxMessage, rendered: Rendered) -> Message:
    """An RFC 5322 message to exactly one recipient.

    Built with the ``email.mime`` classes: ``EmailMessage`` parses every header it
    is given and costs more than the SMTP exchange itself.
    """
    sender = str(current_app.config["MAIL_FROM"])
    name, address = parseaddr(sender)
    email = MIMEMultipart("alternative")
    email["From"] = formataddr((name, address), charset="utf-8") if address else sender
    email["To"] = formataddr(("", message.to_address))
    email["Subject"] = Header(rendered.subject, "utf-8")
    email["Message-ID"] = make_msgid(domain=_sender_domain())
    email["Auto-Submitted"] = "auto-generated"
    email.attach(MIMEText(rendered.text, "plain", "utf-8"))
    email.attach(MIMEText(rendered.html, "html", "utf-8"))
    return email


def _sender_domain() -> str:
    sender = str(current_app.config["MAIL_FROM"])
    return sender.rsplit("@", 1)[-1].strip("> ") or "localhost"


def link_for_message(message: OutboxMessage) -> str | None:
    """Mint a fresh personal link for a message that carries one."""
    if message.invitation_id is None:
        return None
    invitation = db.session.get(Invitation, message.invitation_id)
    if invitation is None or invitation.revoked_at is not None:
        return None
    return link_for(mint_token(invitation, flush=False))


def smtp_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def claim_due(limit: int, now: datetime | None = None) -> list[int]:
    """Lease up to ``limit`` due messages to this worker; returns their ids (committed)."""
    now = now or utcnow()
    lease = timedelta(seconds=int(current_app.config["MAIL_LEASE_SECONDS"]))
    due = sa.or_(
        sa.and_(OutboxMessage.status == MailStatus.PENDING, OutboxMessage.next_attempt_at <= now),
        sa.and_(OutboxMessage.status == MailStatus.SENDING, OutboxMessage.lease_until <= now),
    )
    query = (sa.select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(limit)
             .with_for_update(skip_locked=True))
    with write_transaction():  # SQLite: one claimer at a time; PostgreSQL: SKIP LOCKED
        rows = db.session.scalars(query).all()
        for row in rows:
            row.status = MailStatus.SENDING
            row.lease_until = now + lease
        db.session.commit()
    return [row.id for row in rows]


class Sender:
    """One SMTP connection, opened on first use and reused for a batch."""

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None

    def send(self, email: Message) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(email)
        except smtplib.SMTPServerDisconnected:
            self._smtp = self._connect()
            self._smtp.send_message(email)

    @staticmethod
    def _connect() -> smtplib.SMTP:
        cfg = current_app.config
        smtp = smtplib.SMTP(cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]),
                            timeout=float(cfg["SMTP_TIMEOUT"]))
        if cfg["SMTP_STARTTLS"]:
            smtp.starttls()
        if cfg["SMTP_USER"]:
            smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"] or "")
        return smtp

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


@dataclass
class BatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


MARK_SENT_EVERY = 10


def deliver_batch(sender: Sender | None = None, limit: int | None = None) -> BatchResult:
    """Claim due messages and deliver each; record sent, retry later, or failed."""
    limit = limit or int(current_app.config["MAIL_BATCH_SIZE"])
    own_sender = sender is None
    sender = sender or Sender()
    result = BatchResult()
    sent: list[int] = []
    try:
        for message_id, email in _prepare(claim_due(limit)):
            if _send_one(message_id, email, sender, result, mark=False):
                sent.append(message_id)
            if len(sent) >= MARK_SENT_EVERY:
                _mark_sent(sent)
    finally:
        _mark_sent(sent)
        if own_sender:
            sender.close()
    if result.sent or result.failed or result.retried:
        log.info("mail batch: %d sent, %d to retry, %d failed", result.sent, result.retried,
                 result.failed)
    return result


def _mark_sent(ids: list[int]) -> None:
    if not ids:
        return
    with write_transaction():
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids))
            .values(status=MailStatus.SENT, sent_at=utcnow(), attempts=OutboxMessage.attempts + 1,
                    lease_until=None, last_error="")
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    ids.clear()


def _deliver_one(message_id: int, sender: Sender, result: BatchResult) -> None:
    for prepared_id, email in _prepare([message_id]):
        _send_one(prepared_id, email, sender, result)


def _prepare(message_ids: list[int]) -> list[tuple[int, Message]]:
    """Mint the links and build the emails of claimed messages, in one transaction.

    It commits before returning: every new link's hash is stored before its secret
    leaves.  Links of messages that are then not sent are never used.
    """
    if not message_ids:
        return []
    with write_transaction():
        messages = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                           OutboxMessage.status == MailStatus.SENDING)
            .order_by(OutboxMessage.id)
        ).all()
        related = _load_related(messages)  # held: the session keeps only weak references
        prepared = [(m.id, build_email(m, render(m, link_for_message(m)))) for m in messages]
        db.session.commit()
    del related
    return prepared


def _load_related(messages: list[OutboxMessage]) -> list[object]:
    """Load the messages' studies, panellists and invitations (with rounds) in 3 queries."""
    def ids(attr: str) -> set[int]:
        return {getattr(m, attr) for m in messages if getattr(m, attr) is not None}

    loaded: list[object] = []
    for model, wanted in ((Study, ids("study_id")), (Panellist, ids("panellist_id"))):
        if wanted:
            loaded += db.session.scalars(sa.select(model).where(model.id.in_(wanted))).all()
    if wanted := ids("invitation_id"):
        loaded += db.session.scalars(sa.select(Invitation).where(Invitation.id.in_(wanted))
                                     .options(joinedload(Invitation.round))).all()
    return loaded


def _send_one(message_id: int, email: Message, sender: Sender,
              result: BatchResult, mark: bool = True) -> bool:
    try:
        sender.send(email)
    except (smtplib.SMTPException, OSError) as exc:
        sender.close()
        with write_transaction():
            _record_failure(db.session.get(OutboxMessage, message_id), exc, result)
        return False
    if mark:
        _mark_sent([message_id])
    result.sent += 1
    return True


def _record_failure(message: OutboxMessage, exc: Exception, result: BatchResult) -> None:
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    message.lease_until = None
    if message.attempts >= int(current_app.config["MAIL_MAX_ATTEMPTS"]):
        message.status = MailStatus.FAILED
        result.failed += 1
    else:
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (message.attempts - 1), BACKOFF_MAX_SECONDS)
        message.status = MailStatus.PENDING
        message.next_attempt_at = utcnow() + timedelta(seconds=delay)
        result.retried += 1
    db.session.commit()


def resend(message: OutboxMessage) -> None:
    """Queue a failed or sent message again now (the caller commits)."""
    message.status = MailStatus.PENDING
    message.next_attempt_at = utcnow()
    message.lease_until = None
    message.attempts = 0


def run_worker(once: bool, interval: float, jobs: Any = None) -> None:
    """Deliver due mail (and run periodic jobs) once, or forever every ``interval`` seconds."""
    while True:
        if jobs is not None:
            jobs()
        if smtp_configured():
            while deliver_batch().sent:
                pass
        if once:
            return
        time.sleep(interval)
