"""Email through an outbox: rows are written with the action that causes them and
delivered after commit by ``delphi send-mail`` over SMTP, one recipient per message.

Workers claim due rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) and a lease, so
several can run at once; a worker that dies mid-batch loses nothing: its rows come
due again when the lease runs out.  A live worker renews the lease of the rows it
holds while it works, so a slow SMTP server never hands its messages to a second
worker (each SMTP command waits at most ``DELPHI_SMTP_TIMEOUT``, which the settings
keep well below the lease).

Each message is built and sent on its own: one that cannot be built (an address SMTP
cannot carry, a template error) or that the server refuses for good is marked failed
with its error while the others go.  The worker loop never dies on an exception: it
logs, backs off and goes on, and it writes a heartbeat (``worker_heartbeat``) that
``/healthz`` reports.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import smtplib
import socket
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy.orm import joinedload

from . import email_texts, timezones
from .extensions import affected_rows, db
from .models import (
    DomainError,
    Invitation,
    MailStatus,
    OutboxMessage,
    Panellist,
    Round,
    RoundItem,
    Study,
    WorkerHeartbeat,
    utcnow,
)
from .tokens import link_for, mint_token
from .uow import unit_of_work

log = logging.getLogger("delphi.mail")

KINDS = email_texts.KINDS
# Kinds with a shipped Jinja template (the default text); the others have only the
# editable default of ``email_texts.DEFAULTS``.
TEMPLATE_KINDS = ("invitation", "reminder", "receipt")
# Messages to facilitators (not panellists): no study outbox shows them, and their link
# is minted when the message is built, like a panellist's.
ACCOUNT_KINDS = ("team_invitation", "password_reset")
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
HEARTBEAT_LOG_SECONDS = 60  # the worker's "alive" log line, at most once a minute
WORKER_BACKOFF_MAX_SECONDS = 300  # the longest pause of a worker loop after errors

MAX_ADDRESS = 254  # RFC 5321: a path of 256 octets, less the angle brackets
MAX_LOCAL_PART = 64
# Each pattern is matched whole against a piece already cut to a bounded length, and
# has a single repetition: no nested quantifier, so no backtracking blow-up (the old
# "anything@anything.anything" pattern took 16 s on a 40 KB cell).
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot receive mail from this platform, or None when it can.

    The length is checked first and each check is linear.  Addresses must be ASCII:
    internationalised addresses (RFC 6531) need SMTPUTF8 end to end, which neither
    Python's ``formataddr`` nor most relays carry, so they are refused at import
    rather than failing at delivery.
    """
    if not address:
        return "it is empty"
    if len(address) > MAX_ADDRESS:
        return f"it is {len(address)} characters long; at most {MAX_ADDRESS} are allowed"
    if not address.isascii():
        return ("it has non-ASCII characters, which email servers cannot be relied on to "
                "carry; use the address's ASCII form")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "it must be name@domain"
    if len(local) > MAX_LOCAL_PART:
        return f"the part before the @ is longer than {MAX_LOCAL_PART} characters"
    if (not _LOCAL_PART.fullmatch(local) or local.startswith(".") or local.endswith(".")
            or ".." in local):
        return "the part before the @ has a character or dot that is not allowed"
    labels = domain.split(".")
    if len(labels) < 2 or not all(len(label) <= 63 and _DOMAIN_LABEL.fullmatch(label)
                                  for label in labels):
        return "the domain after the @ is not valid (e.g. example.org)"
    return None


def normalise_email(value: str) -> str:
    """An email address as it is stored and compared: trimmed, lower case."""
    return value.strip().lower()


def shown_address(address: str, limit: int = 60) -> str:
    """An address cut short for an error message (a pasted 40 KB cell is not echoed)."""
    return address if len(address) <= limit else address[:limit] + "…"


def scrub(text: str) -> str:
    """``text`` with every word holding an @ replaced, for log lines: servers quote the
    recipient in their errors.  Word by word, so linear whatever the text."""
    return _WORD.sub(lambda m: "[address]" if "@" in m.group() else m.group(), text)


_WORD = re.compile(r"\S+")


def queue(kind: str, panellist: Panellist, study: Study, dedupe_key: str,
          invitation: Invitation | None = None, **context: Any) -> OutboxMessage | None:
    """Add one message to the outbox unless one with the same dedupe key exists."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    if panellist.erased_at is not None:  # erased: no address, and no more email
        return None
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


def queue_thank_yous(study: Study) -> int:
    """Queue the thank-you message to every panellist invited to a round and still on the
    panel (at most once each, by its dedupe key); how many were queued. Flushes."""
    invited = set(db.session.scalars(
        sa.select(Invitation.panellist_id).join(Round, Invitation.round_id == Round.id)
        .where(Round.study_id == study.id)))
    count = 0
    for panellist in study.panellists:
        if panellist.id not in invited or panellist.withdrawn_at is not None:
            continue
        queued = queue("thankyou", panellist, study, f"thankyou:{study.id}:{panellist.id}")
        count += queued is not None
    db.session.flush()
    return count


def queue_account_message(kind: str, to_address: str, dedupe_key: str,
                          **context: Any) -> OutboxMessage:
    """Add a message to a facilitator (a team invitation, a password reset) to the outbox.

    ``context`` names the row the link opens (``team_invitation_id``, ``reset_id``).
    """
    if kind not in ACCOUNT_KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    message = OutboxMessage(study_id=None, kind=kind, dedupe_key=dedupe_key,
                            to_address=to_address, context=context,
                            status=MailStatus.PENDING, next_attempt_at=utcnow())
    db.session.add(message)
    db.session.flush()
    return message


class UndeliverableMessage(Exception):
    """A message that can never be sent as it is (trying again would not help)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    reply_to: str = ""
    sender_name: str = ""  # the From display name; the address is always MAIL_FROM's


SECONDS_PER_STATEMENT = 30  # the invitation's time estimate (docs/running-a-study.md)


def estimated_minutes(statements: int) -> int:
    """About how long rating ``statements`` takes, in whole minutes rounded up (at least 1)."""
    return max(1, math.ceil(statements * SECONDS_PER_STATEMENT / 60))


def round_sizes(round_ids: set[int]) -> dict[int, int]:
    """How many statements each round has, in one query."""
    if not round_ids:
        return {}
    return dict(db.session.execute(
        sa.select(RoundItem.round_id, sa.func.count()).where(RoundItem.round_id.in_(round_ids))
        .group_by(RoundItem.round_id)).all())


def render(message: OutboxMessage, link: str | None,
           sizes: dict[int, int] | None = None) -> Rendered:
    """Render a message's subject, text and HTML parts from its templates.

    ``sizes`` (round id: statements) saves a query per message in a batch.
    """
    study = db.session.get(Study, message.study_id) if message.study_id else None
    panellist = db.session.get(Panellist, message.panellist_id) if message.panellist_id else None
    invitation = db.session.get(Invitation, message.invitation_id) if message.invitation_id \
        else None
    rnd = invitation.round if invitation else None
    statements = 0
    if rnd is not None:
        statements = (sizes if sizes is not None and rnd.id in sizes
                      else round_sizes({rnd.id})).get(rnd.id, 0)
    link = link or message.context.get("sample_link")
    zone_name = study.time_zone if study is not None else "UTC"
    deadline = timezones.shown(rnd.closes_at, zone_name, "%A %d %B %Y at %H:%M") \
        if rnd is not None and rnd.closes_at else ""
    if message.context.get("sample_deadline"):
        deadline = message.context["sample_deadline"]
    values = dict(message.context, study=study, panellist=panellist, link=link, round=rnd,
                  statements=statements, minutes=estimated_minutes(statements),
                  deadline=deadline, withdraw_link=withdraw_link_for(link))
    if message.kind in ACCOUNT_KINDS:
        from .auth import links

        values.update(links.message_values(message))
    reply_to = study.reply_to if study is not None else ""
    sender_name = study.sender_name if study is not None else ""
    custom = email_texts.texts_for(study.email_texts if study else None, message.kind)
    if custom is None and message.kind in TEMPLATE_KINDS + ACCOUNT_KINDS \
            and not message.context.get("test"):
        subject = render_template(f"email/{message.kind}.subject.txt", **values).strip()
        # A subject is one line: a study title with a line break must not add a header.
        subject = " ".join(subject.split())
        return Rendered(
            subject=subject,
            text=render_template(f"email/{message.kind}.txt", **values),
            html=render_template(f"email/{message.kind}.html", **values),
            reply_to=reply_to, sender_name=sender_name,
        )
    texts = custom or email_texts.DEFAULTS[message.kind]
    filled = sandbox_values(study, panellist, rnd, link, statements, deadline, message.context)
    body = email_texts.fill_text(texts["body"], filled, "body")
    return Rendered(
        subject=" ".join(email_texts.fill_text(texts["subject"], filled, "subject").split()),
        text=body if body.endswith("\n") else body + "\n",
        html=render_template("email/_custom.html",
                             body=email_texts.fill_html(texts["body"], filled, "body")),
        reply_to=reply_to, sender_name=sender_name,
    )


def sandbox_values(study: Study | None, panellist: Panellist | None, rnd: Any,
                   link: str | None, statements: int, deadline: str,
                   context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values an edited email text's placeholders are filled with."""
    context = context or {}
    return {
        "name": panellist.name if panellist is not None else context.get("name", ""),
        "deadline": deadline or "the date the study team closes it (no fixed date)",
        "link": link or "",
        "statements": statements or context.get("statements", 0),
        "minutes": estimated_minutes(statements or context.get("statements", 0)),
        "withdraw_link": withdraw_link_for(link) or context.get("withdraw_link", ""),
        "study": study.mail_name if study is not None else "",
        "round": rnd.number if rnd is not None else context.get("round", ""),
        "signature": study.signature if study is not None else "",
        "contact": study.contact_person if study is not None else "",
    }


def withdraw_link_for(link: str | None) -> str | None:
    """The withdrawal link that goes with a personal link (the same secret; the page asks
    before anything changes)."""
    return f"{link}/withdraw" if link else None


def build_email(message: OutboxMessage, rendered: Rendered) -> Message:
    """An RFC 5322 message to exactly one recipient.

    Built with the ``email.mime`` classes: ``EmailMessage`` parses every header it
    is given and costs more than the SMTP exchange itself.
    """
    problem = address_problem(message.to_address)
    if problem is not None:
        raise UndeliverableMessage(f"the recipient's address cannot be used: {problem}")
    sender = str(current_app.config["MAIL_FROM"])
    name, address = parseaddr(sender)
    # A study's sender name ("IMPACT steering committee") is what the panellist sees in
    # their inbox; the address stays the deployment's own, which SPF and DKIM vouch for.
    # One line only: the name comes from a form.
    name = " ".join(rendered.sender_name.split()) or name
    email = MIMEMultipart("alternative")
    email["From"] = formataddr((name, address), charset="utf-8") if address else sender
    email["To"] = formataddr(("", message.to_address))
    # typeshed types a MIMEMultipart's headers as str; the compat32 policy also takes a
    # Header, encoded (RFC 2047) and folded when the message is written.
    email["Subject"] = Header(rendered.subject, "utf-8")  # type: ignore[assignment]
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = make_msgid(domain=_sender_domain())
    email["Auto-Submitted"] = "auto-generated"
    if rendered.reply_to and not address_problem(rendered.reply_to):
        email["Reply-To"] = formataddr(("", rendered.reply_to))
    email.attach(MIMEText(rendered.text, "plain", "utf-8"))
    email.attach(MIMEText(rendered.html, "html", "utf-8"))
    return email


def _sender_domain() -> str:
    sender = str(current_app.config["MAIL_FROM"])
    return sender.rsplit("@", 1)[-1].strip("> ") or "localhost"


def link_for_message(message: OutboxMessage) -> str | None:
    """Mint a fresh personal link for a message that carries one."""
    if message.kind in ACCOUNT_KINDS:
        from .auth import links

        return links.link_for_message(message)
    if message.invitation_id is None:
        return None
    invitation = db.session.get(Invitation, message.invitation_id)
    if invitation is None or invitation.revoked_at is not None:
        return None
    return link_for(mint_token(invitation, flush=False))


def smtp_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def worker_name() -> str:
    """This process's name in leases and heartbeats: host and process id."""
    return f"{socket.gethostname()[:180]}:{os.getpid()}"


def _lease_length() -> timedelta:
    return timedelta(seconds=int(current_app.config["MAIL_LEASE_SECONDS"]))


def claim_due(limit: int, now: datetime | None = None, holder: str | None = None) -> list[int]:
    """Lease up to ``limit`` due messages to this worker; returns their ids (committed)."""
    now = now or utcnow()
    holder = holder or _new_holder()
    due = sa.or_(
        sa.and_(OutboxMessage.status == MailStatus.PENDING, OutboxMessage.next_attempt_at <= now),
        sa.and_(OutboxMessage.status == MailStatus.SENDING, OutboxMessage.lease_until <= now),
    )
    query = (sa.select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(limit)
             .with_for_update(skip_locked=True))
    with unit_of_work():  # SQLite: one claimer at a time; PostgreSQL: SKIP LOCKED
        rows = db.session.scalars(query).all()
        for row in rows:
            row.status = MailStatus.SENDING
            row.lease_until = now + _lease_length()
            row.leased_by = holder
    return [row.id for row in rows]


def _new_holder() -> str:
    """A lease holder: this process plus a batch token, so two batches never mix rows."""
    return f"{worker_name()}:{secrets.token_hex(4)}"


class Lease:
    """The rows a batch holds; renewed while the batch works, so a live worker keeps them.

    Renewal is conditional on the holder: a row whose lease ran out and that another
    worker claimed is dropped from the batch and never sent by this one.
    """

    def __init__(self, holder: str, ids: list[int]) -> None:
        self.holder = holder
        self.ids = set(ids)
        self.renewed = time.monotonic()

    def renew_if_due(self) -> None:
        if time.monotonic() - self.renewed >= _lease_length().total_seconds() / 4:
            self.renew()

    def renew(self) -> None:
        self.renewed = time.monotonic()
        if not self.ids:
            return
        held = sa.and_(OutboxMessage.id.in_(self.ids), OutboxMessage.leased_by == self.holder,
                       OutboxMessage.status == MailStatus.SENDING)
        with unit_of_work():
            db.session.execute(
                sa.update(OutboxMessage).where(held)
                .values(lease_until=utcnow() + _lease_length())
                .execution_options(synchronize_session=False)
            )
            still = set(db.session.scalars(sa.select(OutboxMessage.id).where(held)))
        lost = self.ids - still
        if lost:
            log.warning("mail worker %s lost the lease of %d messages; it will not send them",
                        worker_name(), len(lost))
        self.ids = still
        beat()

    def holds(self, message_id: int) -> bool:
        return message_id in self.ids

    def release(self, message_id: int) -> None:
        self.ids.discard(message_id)


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
        # The timeout bounds each socket operation (connect, every command and reply),
        # not the whole exchange; the settings keep it below a quarter of the lease.
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
    claimed: int = 0
    server_error: str = ""  # set when the server itself failed: the pass stops there


MARK_SENT_EVERY = 10

# Errors that say the server (or the way to it) is in trouble, not this message: the
# batch stops and every message it still holds waits for the next attempt.
SERVER_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, smtplib.SMTPHeloError,
    smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused,
)


def _is_server_error(exc: BaseException) -> bool:
    # smtplib.SMTPException is itself an OSError: only socket errors (refused, timed
    # out, reset) and the errors above are the server's, not the message's.
    return isinstance(exc, SERVER_ERRORS) or (
        isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException))


def deliver_batch(sender: Sender | None = None, limit: int | None = None) -> BatchResult:
    """Claim due messages and deliver each on its own; record sent, retry later, or failed."""
    limit = limit or int(current_app.config["MAIL_BATCH_SIZE"])
    own_sender = sender is None
    sender = sender or Sender()
    holder = _new_holder()
    ids = claim_due(limit, holder=holder)
    result = BatchResult(claimed=len(ids))
    if not ids:
        return result
    lease = Lease(holder, ids)
    sent: list[int] = []
    try:
        prepared = _prepare(ids, result, lease)
        for index, (message_id, email) in enumerate(prepared):
            lease.renew_if_due()
            if not lease.holds(message_id):
                continue  # another worker has it now: sending it here would send it twice
            if _send_one(message_id, email, sender, result, mark=False):
                sent.append(message_id)  # still held (and renewed) until marked sent
            elif result.server_error:
                rest = [i for i, _ in prepared[index + 1:] if lease.holds(i)]
                _postpone(rest, result)
                break
            if len(sent) >= MARK_SENT_EVERY:
                _mark_sent(sent, lease)
    finally:
        _mark_sent(sent, lease)
        if own_sender:
            sender.close()
    if result.sent or result.failed or result.retried:
        log.info("mail batch: %d sent, %d to retry, %d failed", result.sent, result.retried,
                 result.failed)
    return result


def _mark_sent(ids: list[int], lease: Lease | None = None) -> None:
    if not ids:
        return
    with unit_of_work():
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids))
            .values(status=MailStatus.SENT, sent_at=utcnow(), attempts=OutboxMessage.attempts + 1,
                    lease_until=None, leased_by=None, last_error="")
            .execution_options(synchronize_session=False)
        )
    if lease is not None:
        for message_id in ids:
            lease.release(message_id)
    ids.clear()


def _deliver_one(message_id: int, sender: Sender, result: BatchResult) -> None:
    for prepared_id, email in _prepare([message_id], result):
        _send_one(prepared_id, email, sender, result)


def _prepare(message_ids: list[int], result: BatchResult,
             lease: Lease | None = None) -> list[tuple[int, Message]]:
    """Mint the links and build the emails of claimed messages, in one transaction.

    It commits before returning: every new link's hash is stored before its secret
    leaves.  Links of messages that are then not sent are never used.  A message that
    cannot be built is marked failed with its error; the others go on.
    """
    if not message_ids:
        return []
    prepared = []
    with unit_of_work():
        messages = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                           OutboxMessage.status == MailStatus.SENDING)
            .order_by(OutboxMessage.id)
        ).all()
        related = _load_related(messages)  # held: the session keeps only weak references
        sizes = round_sizes({i.round_id for i in related if isinstance(i, Invitation)})
        for m in messages:
            try:
                problem = address_problem(m.to_address)
                if problem is not None:
                    raise UndeliverableMessage(
                        f"the recipient's address cannot be used: {problem}")
                prepared.append((m.id, build_email(m, render(m, link_for_message(m), sizes))))
            except sa.exc.SQLAlchemyError:
                raise  # the database, not the message: the worker loop handles it
            except Exception as exc:  # this message only; the batch goes on
                _fail_for_good(m, exc, result)
                if lease is not None:
                    lease.release(m.id)
    del related
    return prepared


def _load_related(messages: Sequence[OutboxMessage]) -> list[object]:
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
    except Exception as exc:
        sender.close()
        permanent = _is_permanent(exc)
        if not permanent and _is_server_error(exc):
            result.server_error = describe(exc)
        with unit_of_work():
            message = db.session.get(OutboxMessage, message_id)
            if message is None:
                pass  # deleted meanwhile (with its study): nothing left to record
            elif permanent:
                _fail_for_good(message, exc, result)
            else:
                _record_failure(message, exc, result)
        return False
    if mark:
        _mark_sent([message_id])
    result.sent += 1
    return True


def _is_permanent(exc: Exception) -> bool:
    """Whether trying the same message again cannot help (5xx for the recipient, an
    address the server cannot carry, a message that cannot be encoded)."""
    if _is_server_error(exc):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    if isinstance(exc, smtplib.SMTPException):
        return isinstance(exc, smtplib.SMTPNotSupportedError)
    return True  # not an SMTP exchange problem: the message itself (e.g. UnicodeEncodeError)


def describe(exc: BaseException) -> str:
    """An error as stored on the outbox page: its type and message."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


def _record_failure(message: OutboxMessage, exc: Exception | str, result: BatchResult) -> None:
    """Count a failed attempt: retry later with backoff, or fail after the last attempt."""
    message.attempts += 1
    message.last_error = exc if isinstance(exc, str) else describe(exc)
    message.lease_until = None
    message.leased_by = None
    if message.attempts >= int(current_app.config["MAIL_MAX_ATTEMPTS"]):
        message.status = MailStatus.FAILED
        result.failed += 1
        log.warning("mail message %d (%s) failed after %d attempts: %s", message.id,
                    message.kind, message.attempts, scrub(message.last_error))
    else:
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (message.attempts - 1), BACKOFF_MAX_SECONDS)
        message.status = MailStatus.PENDING
        message.next_attempt_at = utcnow() + timedelta(seconds=delay)
        result.retried += 1
        log.warning("mail message %d (%s) attempt %d failed, next try in %d s: %s", message.id,
                    message.kind, message.attempts, delay, scrub(message.last_error))


def _fail_for_good(message: OutboxMessage, exc: Exception, result: BatchResult) -> None:
    message.attempts += 1
    message.last_error = describe(exc)
    message.status = MailStatus.FAILED
    message.lease_until = None
    message.leased_by = None
    result.failed += 1
    log.warning("mail message %d (%s) failed and will not be retried: %s", message.id,
                message.kind, scrub(message.last_error))


def _postpone(message_ids: list[int], result: BatchResult) -> None:
    """The server failed: the batch's untried messages wait for the next attempt too."""
    if not message_ids:
        return
    error = f"{result.server_error} (not tried: the server failed on the message before)"
    with unit_of_work():
        for message in db.session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.id.in_(message_ids))):
            _record_failure(message, error[:1000], result)


def resend(message: OutboxMessage) -> None:
    """Queue a failed or sent message again now (the caller commits)."""
    if not message.to_address:
        raise DomainError("outbox.recipient_erased", "the recipient's personal data was erased; "
                          "the message cannot be sent again")
    message.status = MailStatus.PENDING
    message.next_attempt_at = utcnow()
    message.lease_until = None
    message.leased_by = None
    message.attempts = 0


def beat(now: datetime | None = None) -> None:
    """Record that this worker is alive (``/healthz`` reports the newest heartbeat)."""
    now = now or utcnow()
    name = worker_name()
    try:
        with unit_of_work():
            updated = affected_rows(
                sa.update(WorkerHeartbeat).where(WorkerHeartbeat.worker == name)
                .values(last_seen_at=now).execution_options(synchronize_session=False)
            )
            if not updated:
                # Rows of workers gone for a week are no use to anyone.
                db.session.execute(sa.delete(WorkerHeartbeat).where(
                    WorkerHeartbeat.last_seen_at < now - timedelta(days=7)))
                db.session.add(WorkerHeartbeat(worker=name, host=socket.gethostname()[:255],
                                               pid=os.getpid(), started_at=now, last_seen_at=now))
    except sa.exc.IntegrityError:  # two threads of one process beat at once: one won
        pass


def backlog(study_id: int | None = None, with_sent: bool = False) -> dict[str, int]:
    """Messages by state: pending (first try), retrying (pending after a failed attempt),
    sending, failed (and sent, if asked: it counts the whole history)."""
    tried = OutboxMessage.attempts > 0
    query = sa.select(OutboxMessage.status, tried, sa.func.count()) \
        .group_by(OutboxMessage.status, tried)
    if not with_sent:
        query = query.where(OutboxMessage.status != MailStatus.SENT)
    if study_id is not None:
        query = query.where(OutboxMessage.study_id == study_id)
    counts = {"pending": 0, "retrying": 0, "sending": 0, "failed": 0}
    if with_sent:
        counts["sent"] = 0
    for status, was_tried, count in db.session.execute(query).all():
        if status is MailStatus.PENDING and was_tried:
            counts["retrying"] += count
        else:
            counts[status.value] += count
    return counts


def run_worker(once: bool, interval: float, jobs: Any = None,
               sleep: Any = time.sleep) -> bool:
    """Deliver due mail (and run periodic jobs) once, or forever every ``interval`` seconds.

    The loop survives every exception: it logs it (addresses scrubbed), backs off
    (doubling the pause up to ``WORKER_BACKOFF_MAX_SECONDS``) and goes on.  Returns
    whether the last pass went well (with ``once``).
    """
    failures = 0
    last_log = 0.0
    while True:
        ok = True
        try:
            server_error = _worker_pass(jobs)
            failures = failures + 1 if server_error else 0
            if time.monotonic() - last_log >= HEARTBEAT_LOG_SECONDS:
                last_log = time.monotonic()
                counts = backlog()
                log.info("mail worker %s alive: %d pending, %d retrying, %d failed",
                         worker_name(), counts["pending"], counts["retrying"], counts["failed"])
        except Exception as exc:
            ok = False
            failures += 1
            _reset_session()
            log.error("mail worker %s: the pass failed (%d in a row); trying again: %s",
                      worker_name(), failures,
                      scrub("".join(traceback.format_exception(exc)).rstrip()))
        if once:
            return ok
        pause = interval if not failures else \
            min(max(interval, 1.0) * 2 ** (failures - 1), WORKER_BACKOFF_MAX_SECONDS)
        sleep(pause)


def _worker_pass(jobs: Any) -> str:
    """One pass: heartbeat, periodic jobs, then batches with the jobs between them.

    Returns the server's error when the SMTP server failed (the pass stops there).
    """
    beat()
    if jobs is not None:
        jobs()
    if not smtp_configured():
        return ""
    while True:
        result = deliver_batch()
        if result.server_error:
            log.warning("mail worker %s: the SMTP server failed; backing off: %s",
                        worker_name(), scrub(result.server_error))
            return result.server_error
        if not result.claimed:
            return ""
        beat()
        if jobs is not None:
            jobs()  # deadlines are kept whatever the backlog


def _reset_session() -> None:
    try:
        db.session.rollback()
    except Exception as exc:  # a dead connection: the session is dropped below anyway
        log.debug("rollback after a failed pass failed too: %s", type(exc).__name__)
    db.session.remove()
