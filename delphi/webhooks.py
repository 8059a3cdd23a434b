"""Webhooks: register URLs per study; events become deliveries in the same transaction as
the change (an outbox), and the worker (``delphi send-mail``) posts them, signed.

Each POST carries ``X-Delphi-Event``, ``X-Delphi-Delivery`` and
``X-Delphi-Signature: sha256=<hex HMAC-SHA256 of the body with the webhook's secret>``.
A delivery that fails (no answer, or not 2xx) is tried again after 1, 5, 30, 120 and 720
minutes, then marked failed; every attempt is in the delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from . import audit
from .extensions import db
from .models import DomainError, Study, utcnow
from .models.webhooks import WEBHOOK_EVENTS, Webhook, WebhookDelivery
from .uow import unit_of_work

log = logging.getLogger("delphi.webhooks")

BACKOFF_MINUTES = (1, 5, 30, 120, 720)
MAX_ATTEMPTS = len(BACKOFF_MINUTES) + 1
TIMEOUT_SECONDS = 10
BATCH = 50
MAX_HOOKS_PER_STUDY = 10


def add_webhook(study: Study, url: str, events: Sequence[str],
                actor: audit.Actor) -> tuple[Webhook, str]:
    """Register ``url`` for ``events``; return it and its signing secret (shown once)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500 or \
            any(ord(c) < 33 or ord(c) > 126 or c in '<>"{}|\\^`' for c in url):
        raise DomainError("webhook.url_invalid", "The webhook URL must be an http or https "
                          "address of at most 500 characters (non-ASCII characters "
                          "percent-encoded).")
    if _private_literal(parts.hostname) and not _private_allowed():
        raise DomainError("webhook.url_private", "The webhook URL points into a private "
                          "network; set DELPHI_WEBHOOK_PRIVATE_ADDRESSES to allow that.")
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if not events or unknown:
        raise DomainError("webhook.events_invalid", "Choose events among {events}.",
                          events=", ".join(WEBHOOK_EVENTS))
    live = [h for h in study_webhooks(study)]
    if len(live) >= MAX_HOOKS_PER_STUDY:
        raise DomainError("webhook.too_many", "A study has at most {limit} webhooks.",
                          limit=MAX_HOOKS_PER_STUDY)
    secret = secrets.token_hex(32)
    hook = Webhook(study_id=study.id, url=url, events=" ".join(sorted(set(events))),
                   secret=secret, created_by=audit.actor_label(actor))
    db.session.add(hook)
    db.session.flush()
    audit.record(actor, "webhook.added", study, webhook=hook.id, url=url, events=hook.events)
    return hook, secret


def study_webhooks(study: Study) -> list[Webhook]:
    return list(db.session.scalars(sa.select(Webhook).where(
        Webhook.study_id == study.id, Webhook.deleted_at.is_(None)).order_by(Webhook.id)))


def find_webhook(study: Study, hook_id: int) -> Webhook | None:
    hook = db.session.get(Webhook, hook_id)
    return hook if hook is not None and hook.study_id == study.id and \
        hook.deleted_at is None else None


def remove_webhook(study: Study, hook: Webhook, actor: audit.Actor) -> None:
    """Stop sending to a webhook; its pending deliveries are dropped, its log kept."""
    hook.deleted_at = utcnow()
    db.session.execute(sa.update(WebhookDelivery).where(
        WebhookDelivery.webhook_id == hook.id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error="webhook removed", next_attempt_at=None))
    db.session.flush()
    audit.record(actor, "webhook.removed", study, webhook=hook.id, url=hook.url)


def emit(study: Study, event: str, data: dict[str, Any]) -> int:
    """Queue ``event`` for every webhook of the study that listens to it (flushes only:
    the deliveries commit, or roll back, with the change that caused them)."""
    assert event in WEBHOOK_EVENTS, event
    count = 0
    for hook in study_webhooks(study):
        if event in hook.event_list:
            db.session.add(WebhookDelivery(
                webhook_id=hook.id, event=event, next_attempt_at=utcnow(),
                payload={"event": event, "study": study.slug, "occurred_at":
                         utcnow().isoformat(), "data": data}))
            count += 1
    if count:
        db.session.flush()
    return count


def _private_allowed() -> bool:
    return bool(current_app.config.get("WEBHOOK_PRIVATE_ADDRESSES"))


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


def _private_literal(host: str | None) -> bool:
    try:
        return host is not None and _is_private(host)
    except ValueError:
        return False  # a name, not an address


def _resolves_privately(host: str) -> bool:
    """Whether a webhook's host is (or resolves to) a loopback, private, link-local or
    otherwise internal address: a study's team may not make the server call into its own
    network (cloud metadata, admin ports) unless the deployment allows it."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable: the POST fails on its own and is retried
    return any(_is_private(str(info[4][0])) for info in infos)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_due(now: datetime | None = None, opener: Any = None) -> int:
    """Post every due delivery once; return how many were sent. Each delivery is its own
    transaction, so one slow or failing receiver does not hold back the others."""
    now = now or utcnow()
    with unit_of_work(write=False):
        due = list(db.session.scalars(
            sa.select(WebhookDelivery.id).where(WebhookDelivery.status == "pending",
                                                WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(BATCH)))
    sent = 0
    for delivery_id in due:
        sent += _deliver_one(delivery_id, now, opener or urllib.request.urlopen)
    return sent


def _deliver_one(delivery_id: int, now: datetime, opener: Any) -> int:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return 0
    hook = delivery.webhook
    body = json.dumps({"id": delivery.id, **delivery.payload}, ensure_ascii=False,
                      sort_keys=True).encode()
    request = urllib.request.Request(hook.url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json", "User-Agent": "delphi-webhooks/1",
        "X-Delphi-Event": delivery.event, "X-Delphi-Delivery": str(delivery.id),
        "X-Delphi-Signature": signature(hook.secret, body)})
    status, error = None, ""
    host = urlsplit(hook.url).hostname or ""
    try:
        if not _private_allowed() and _resolves_privately(host):
            raise ValueError("the address is in a private network")
        with opener(request, timeout=TIMEOUT_SECONDS) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))[:300] or type(exc).__name__
    ok = status is not None and 200 <= status < 300
    with unit_of_work():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:  # its study was deleted while the POST was out: nothing to log
            log.info("webhook delivery %s was deleted during its attempt", delivery_id)
            return int(ok)
        delivery.attempts += 1
        delivery.last_status = status
        delivery.last_error = "" if ok else error[:300]
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "sent", now, None
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.next_attempt_at = now + timedelta(
                minutes=BACKOFF_MINUTES[delivery.attempts - 1])
    if not ok:
        log.warning("webhook %s delivery %s failed (attempt %s): %s", hook.id, delivery_id,
                    delivery.attempts, error)
    return int(ok)
