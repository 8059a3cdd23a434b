"""``GET /healthz`` for the reverse proxy and monitoring.

It answers JSON: whether the database answers, the outbox backlog (counts only) and
the age of the newest mail-worker heartbeat.  200 when healthy; 503 when the database
is unreachable, or when a mail worker is expected (``DELPHI_HEALTH_WORKER_MAX_AGE`` >
0) and none has written a heartbeat within that many seconds.  It reads three
aggregates, writes nothing, needs no login and shows no personal data.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify

from . import mail
from .extensions import db
from .models import MailStatus, OutboxMessage, WorkerHeartbeat, utcnow

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    now = utcnow()
    body: dict[str, Any] = {"status": "ok", "database": "ok", "problems": []}
    try:
        counts = mail.backlog()
        oldest_due = db.session.scalar(
            sa.select(sa.func.min(OutboxMessage.next_attempt_at))
            .where(OutboxMessage.status == MailStatus.PENDING,
                   OutboxMessage.next_attempt_at <= now))
        newest_beat = db.session.scalar(sa.select(sa.func.max(WorkerHeartbeat.last_seen_at)))
        db.session.rollback()  # read only: end the transaction, change nothing
    except sa.exc.SQLAlchemyError as exc:
        try:
            db.session.rollback()
        except sa.exc.SQLAlchemyError:
            pass
        current_app.logger.warning("/healthz: the database is unreachable: %s",
                                   type(exc).__name__)
        return _answer({"status": "unhealthy", "database": "unreachable",
                        "problems": ["the database is unreachable"]}, 503)
    body["outbox"] = counts | {
        "oldest_due_seconds": _seconds(now, oldest_due),
    }
    max_age = int(current_app.config["HEALTH_WORKER_MAX_AGE"])
    age = _seconds(now, newest_beat)
    body["mail_worker"] = {"expected": max_age > 0, "max_age_seconds": max_age,
                           "last_heartbeat_seconds": age}
    if max_age > 0 and (age is None or age > max_age):
        body["status"] = "unhealthy"
        body["problems"].append("no mail worker heartbeat within "
                                f"{max_age} seconds" if age is not None
                                else "no mail worker has ever written a heartbeat")
    return _answer(body, 200 if body["status"] == "ok" else 503)


def _seconds(now: Any, then: Any) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def _answer(body: dict[str, Any], status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
