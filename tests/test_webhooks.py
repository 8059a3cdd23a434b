"""Webhooks: registered through the API, queued with the change (an outbox), posted signed
by the worker to a real local HTTP server, retried with backoff, logged in the console."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from delphi import webhooks
from delphi.extensions import db
from delphi.models import AuditEvent, Webhook, WebhookDelivery, utcnow
from delphi.uow import unit_of_work

from .api_support import Api, make_token, submit_ratings
from .conftest import login
from .flows import launch


class Receiver:
    """A local HTTP server that records each POST and answers with ``statuses`` in turn."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def setup(app, client, factory, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_PRIVATE_ADDRESSES", True)  # the receiver is local
    owner = factory.facilitator("owner@example.org")
    study = factory.study(owner=owner, slug="alpha")
    factory.panel(study, per_group=2)
    return study, Api(client, make_token(owner))


def _register(api: Api, url: str, events=("round.closed", "panellist.withdrew",
                                          "study.finished")):
    made = api.post("/studies/alpha/webhooks", json={"url": url, "events": list(events)})
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def test_a_closed_round_is_posted_signed_to_the_webhook(setup, receiver):
    study, api = setup
    hook = _register(api, receiver.url)
    assert len(hook["secret"]) == 64
    assert "secret" not in json.dumps(api.get("/studies/alpha/webhooks").get_json()).replace(
        '"secret": null', "")
    launch(study)
    submit_ratings(study, [7, 8])
    assert api.post("/studies/alpha/rounds/current/close").status_code == 200
    assert receiver.received == []  # queued with the change, sent by the worker
    assert webhooks.deliver_due() == 1
    [got] = receiver.received
    expected = "sha256=" + hmac.new(hook["secret"].encode(), got["body"],
                                    hashlib.sha256).hexdigest()
    assert got["headers"]["X-Delphi-Signature"] == expected
    assert got["headers"]["X-Delphi-Event"] == "round.closed"
    body = json.loads(got["body"])
    assert body["event"] == "round.closed" and body["study"] == "alpha"
    assert body["data"] == {"round": 1, "responded": 4}
    log = api.get(f"/studies/alpha/webhooks/{hook['id']}/deliveries").get_json()["deliveries"]
    assert log[0]["status"] == "sent" and log[0]["last_status"] == 204
    assert webhooks.deliver_due() == 0  # sent once only


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(setup, receiver):
    study, api = setup
    _register(api, receiver.url, ["panellist.withdrew"])
    receiver.statuses = [500] * 10
    api.post("/studies/alpha/panel/P0001/withdraw", json={"reason": "ill"})
    now = utcnow()
    assert webhooks.deliver_due(now) == 0
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.next_attempt_at - now == timedelta(minutes=1)
    assert webhooks.deliver_due(now + timedelta(seconds=30)) == 0
    assert len(receiver.received) == 1  # not due yet
    moment = now
    for minutes in webhooks.BACKOFF_MINUTES:
        moment += timedelta(minutes=minutes)
        webhooks.deliver_due(moment)
    db.session.refresh(delivery)
    assert delivery.status == "failed" and delivery.attempts == webhooks.MAX_ATTEMPTS
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS
    assert json.loads(receiver.received[0]["body"])["data"] == {"panellist": "P0001"}


def test_an_unreachable_receiver_is_logged_and_retried(setup, receiver):
    study, api = setup
    url = receiver.url
    receiver.stop()
    _register(api, url, ["panellist.withdrew"])
    api.post("/studies/alpha/panel/P0002/withdraw", json={})
    webhooks.deliver_due()
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status is None and delivery.last_error
    receiver.server = type("Stopped", (), {"shutdown": lambda s: None,
                                           "server_close": lambda s: None})()


def test_a_delivery_deleted_while_its_post_is_out_is_not_recorded(setup, receiver):
    study, api = setup
    _register(api, receiver.url, ["panellist.withdrew"])
    api.post("/studies/alpha/panel/P0001/withdraw", json={})

    class Answer:
        status = 204

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    def opener(request, timeout):
        with unit_of_work():  # as deleting the study does, by its foreign keys' cascade
            db.session.execute(sa.delete(Webhook))
        return Answer()

    assert webhooks.deliver_due(opener=opener) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0


def test_the_worker_pass_delivers_webhooks(app, setup, receiver):
    from delphi.cli import periodic_jobs

    study, api = setup
    _register(api, receiver.url, ["panellist.withdrew"])
    api.post("/studies/alpha/panel/P0003/withdraw", json={})
    periodic_jobs(purge=False)
    assert len(receiver.received) == 1


def test_a_refused_change_queues_nothing_and_a_removed_webhook_gets_nothing(setup, receiver):
    study, api = setup
    hook = _register(api, receiver.url, ["panellist.withdrew"])
    api.post("/studies/alpha/panel/P0001/withdraw", json={})
    assert api.post("/studies/alpha/panel/P0001/withdraw", json={}).status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1
    assert api.call("DELETE", f"/studies/alpha/webhooks/{hook['id']}").status_code == 204
    assert db.session.scalar(sa.select(WebhookDelivery.status)) == "failed"
    api.post("/studies/alpha/panel/P0002/withdraw", json={})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1
    assert webhooks.deliver_due() == 0 and receiver.received == []
    assert api.call("DELETE", f"/studies/alpha/webhooks/{hook['id']}").status_code == 404
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"webhook.added", "webhook.removed"} <= actions


@pytest.mark.parametrize("body", [
    {"url": "ftp://example.org/x", "events": ["round.closed"]},
    {"url": "http://", "events": ["round.closed"]},
    {"url": "not a url at all", "events": ["round.closed"]},
    {"url": "https://example.org/" + "x" * 500, "events": ["round.closed"]},
    {"url": "https://example.org/\x00", "events": ["round.closed"]},
    {"url": "https://example.org/<script>", "events": ["round.closed"]},
    {"url": "https://example.org/", "events": []},
    {"url": "https://example.org/", "events": ["round.opened"]},
    {"url": "https://example.org/"},
])
def test_a_bad_webhook_is_refused_and_nothing_added(setup, body):
    study, api = setup
    response = api.post("/studies/alpha/webhooks", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert api.get("/studies/alpha/webhooks").get_json()["webhooks"] == []


def test_the_console_shows_the_delivery_log(client, setup, receiver):
    study, api = setup
    _register(api, receiver.url, ["panellist.withdrew"])
    receiver.statuses = [503]
    api.post("/studies/alpha/panel/P0001/withdraw", json={})
    webhooks.deliver_due()
    login(client, "owner@example.org")
    page = client.get("/studies/alpha/webhooks")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert receiver.url in html and "panellist.withdrew" in html and "503" in html


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://169.254.169.254/latest",
                                 "http://10.0.0.5/", "http://[::1]/", "http://0.0.0.0/"])
def test_private_addresses_are_refused_unless_allowed(app, setup, url, monkeypatch):
    study, api = setup
    monkeypatch.setitem(app.config, "WEBHOOK_PRIVATE_ADDRESSES", False)
    response = api.post("/studies/alpha/webhooks", json={"url": url, "events": ["round.closed"]})
    assert response.status_code == 422
    assert response.get_json()["code"] == "webhook.url_private"


def test_a_host_that_resolves_privately_is_not_called(app, setup, receiver, monkeypatch):
    study, api = setup
    _register(api, receiver.url.replace("127.0.0.1", "localhost"), ["panellist.withdrew"])
    monkeypatch.setitem(app.config, "WEBHOOK_PRIVATE_ADDRESSES", False)
    api.post("/studies/alpha/panel/P0001/withdraw", json={})
    assert webhooks.deliver_due() == 0
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert receiver.received == [] and "private network" in delivery.last_error
