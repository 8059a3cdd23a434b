"""/healthz for the proxy and monitoring: database, outbox backlog, mail-worker heartbeat."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from delphi import mail
from delphi.extensions import db
from delphi.models import AuditEvent, WorkerHeartbeat, utcnow

from .flows import launch


def _beat(ago: timedelta) -> None:
    mail.beat(utcnow() - ago)


def test_healthy_with_a_fresh_heartbeat_and_the_backlog_counted(app, client, factory):
    study = factory.study()
    panel = factory.panel(study, per_group=2)
    launch(study)
    _beat(timedelta(seconds=10))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["problems"] == []
    assert body["outbox"]["pending"] == 4 and body["outbox"]["failed"] == 0
    assert 0 <= body["outbox"]["oldest_due_seconds"] < 60
    assert 9 <= body["mail_worker"]["last_heartbeat_seconds"] < 60
    text = response.get_data(as_text=True)
    assert "@" not in text  # no address, no name, no slug: counts only
    assert not any(p.name in text for p in panel) and study.slug not in text


def test_a_silent_mail_worker_makes_it_unhealthy_past_the_threshold(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "HEALTH_WORKER_MAX_AGE", 120)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["problems"] == ["no mail worker has ever written a heartbeat"]
    _beat(timedelta(seconds=200))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "no mail worker heartbeat within 120 seconds" in response.get_json()["problems"]
    _beat(timedelta(seconds=0))
    assert client.get("/healthz").status_code == 200


def test_without_an_expected_worker_the_heartbeat_is_only_reported(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "HEALTH_WORKER_MAX_AGE", 0)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["mail_worker"] == {
        "expected": False, "max_age_seconds": 0, "last_heartbeat_seconds": None}


def test_an_unreachable_database_answers_503_not_a_500_page(app, client, monkeypatch):
    def down(*_args: object, **_kwargs: object) -> dict:
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(mail, "backlog", down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unhealthy", "database": "unreachable",
                                   "problems": ["the database is unreachable"]}


def test_healthz_changes_nothing_and_needs_no_login(app, client):
    _beat(timedelta(seconds=30))
    before = db.session.scalar(sa.select(WorkerHeartbeat.last_seen_at))
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    db.session.expire_all()
    assert db.session.scalar(sa.select(WorkerHeartbeat.last_seen_at)) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
    assert client.post("/healthz").status_code == 405
