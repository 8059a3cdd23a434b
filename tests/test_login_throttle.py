"""Login throttling: atomic counts, a slowed-down account that is never locked out, and
failed and refused logins in the audit log and the server log (no email, no password)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from delphi import security
from delphi.extensions import db
from delphi.models import AuditEvent, utcnow

from .conftest import login

WRONG = "hunter2-is-not-it"
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
OFFICE = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, moved on by hand."""
    start = utcnow()
    state = {"now": start}
    monkeypatch.setattr(security, "utcnow", lambda: state["now"])

    def advance(seconds: float) -> None:
        state["now"] += timedelta(seconds=seconds)

    return advance


def _client(app: Flask, environ: dict[str, str]):
    client = app.test_client()
    client.environ_base.update(environ)
    return client


def _events(action: str) -> list[AuditEvent]:
    db.session.commit()  # end this session's snapshot: see what the requests wrote
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def _run_together(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as exc:  # reported by the assertions below
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_counts_never_let_more_than_the_limit_through(app):
    """Twenty attempts at once, each in its own session: exactly five are allowed."""

    def attempt(_n: int) -> security.Claim:
        with app.app_context():
            from delphi.extensions import write_transaction

            with write_transaction():
                claim = security.count_attempt("test", "key", 5, 900)
                db.session.commit()
            return claim

    claims = _run_together(20, attempt)
    assert not [c for c in claims if isinstance(c, Exception)], claims
    assert sorted(c.count for c in claims) == list(range(1, 21))  # no count lost or shared
    assert sum(c.allowed for c in claims) == 5


def test_concurrent_wrong_passwords_are_never_evaluated_past_the_limit(app, factory):
    owner = factory.facilitator()
    clients = [_client(app, ATTACKER) for _ in range(8)]
    for client in clients:
        client.get("/login")  # a session and its CSRF token, before the race
    email = owner.email  # read here: the threads have no application context
    responses = _run_together(8, lambda n: login(clients[n], email, WRONG))
    assert not [r for r in responses if isinstance(r, Exception)], responses
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 5 + [429] * 3, codes
    assert len(_events("facilitator.login_failed")) == 5


def test_the_facilitator_logs_in_from_elsewhere_while_an_attacker_hammers(app, factory, clock):
    owner = factory.facilitator()
    attacker, office = _client(app, ATTACKER), _client(app, OFFICE)
    codes = [login(attacker, owner.email, WRONG).status_code for _ in range(12)]
    assert codes == [200] * 5 + [429] * 7  # five guesses, then that address is refused

    # The account is slowed down, not locked: the office waits at most the delay.
    early = login(office, owner.email)
    assert early.status_code == 429
    wait = int(early.headers["Retry-After"])
    assert 0 < wait <= app.config["LOGIN_DELAY_SECONDS"]
    assert f"Try again in {wait} seconds" in early.get_data(as_text=True)
    for _ in range(8):  # impatient retries during the delay cost the office nothing
        assert login(office, owner.email).status_code == 429
    clock(wait)
    assert login(attacker, owner.email, WRONG).status_code == 429  # still refused there
    assert login(office, owner.email).status_code == 302
    assert office.get("/").status_code == 200


def test_a_browser_that_logged_in_before_skips_the_account_delay(app, factory):
    owner = factory.facilitator()
    office = _client(app, OFFICE)
    assert login(office, owner.email).status_code == 302  # sets the known-device cookie
    office.post("/logout", data={"csrf_token": _token(office)})
    attacker = _client(app, ATTACKER)
    for _ in range(8):
        login(attacker, owner.email, WRONG)
    stranger = _client(app, {"REMOTE_ADDR": "192.0.2.9"})  # a browser never used before
    assert login(stranger, owner.email).status_code == 429
    forged = _client(app, {"REMOTE_ADDR": "192.0.2.10"})
    forged.set_cookie("delphi_device", "eyJmIjoxLCJlIjoxfQ.forged.signature")
    assert login(forged, owner.email).status_code == 429
    assert login(office, owner.email).status_code == 302  # no wait at all


def test_logout_everywhere_forgets_the_known_devices(app, factory):
    owner = factory.facilitator()
    office = _client(app, OFFICE)
    login(office, owner.email)
    office.post("/logout-everywhere", data={"csrf_token": _token(office)})
    attacker = _client(app, ATTACKER)
    for _ in range(5):
        login(attacker, owner.email, WRONG)
    assert login(office, owner.email).status_code == 429  # a stranger again, for now


def test_the_delay_doubles_after_each_failure_up_to_the_cap(app, clock):
    allowed, waits = 0, []
    while len(waits) < 5:
        claim = security.claim_slot("test", "account", 2, 10, 25, 900)
        if claim.allowed:
            allowed += 1
            continue
        waits.append(claim.retry_after)
        clock(claim.retry_after)
    # two free attempts, then one per 10 s, 20 s, then the cap of 25 s
    assert waits == [10, 20, 25, 25, 25]
    assert allowed == 6  # no attempt is allowed twice in one slot


def test_counts_start_again_when_the_window_runs_out(app, clock):
    for _ in range(3):
        security.count_attempt("test", "key", 2, 60)
    assert not security.count_attempt("test", "key", 2, 60).allowed
    clock(61)
    assert security.count_attempt("test", "key", 2, 60) == security.Claim(True, 1)


def test_a_success_clears_the_account_and_costs_the_address_nothing(app, factory):
    app.config["LOGIN_MAX_FAILURES"] = 2  # the address allows 8 attempts in all
    owner = factory.facilitator()
    client = _client(app, OFFICE)
    for _ in range(9):
        assert login(client, owner.email).status_code == 302
        client.post("/logout", data={"csrf_token": _token(client)})
    login(client, owner.email, WRONG)
    assert login(client, owner.email).status_code == 302  # one failure is forgotten


def _token(client) -> str:
    from .conftest import csrf_token

    return csrf_token(client, "/")


def test_failed_and_refused_logins_are_recorded_without_email_or_password(app, factory,
                                                                          caplog):
    owner = factory.facilitator("maria.rossi@example.org", name="Maria Rossi")
    caplog.clear()
    caplog.set_level("INFO")
    client = _client(app, ATTACKER)
    login(client, "nobody@example.org", WRONG)
    for _ in range(6):
        login(client, owner.email, WRONG)

    failed = _events("facilitator.login_failed")
    assert len(failed) == 6
    assert failed[0].detail["reason"] == "unknown account"
    assert len(failed[0].detail["account"]) == 16  # a keyed hash, not the email
    assert failed[1].detail == {"facilitator_id": owner.id, "address": "203.0.113.66",
                                "reason": "wrong password"}
    throttled = _events("facilitator.login_throttled")
    assert len(throttled) == 1
    assert throttled[0].detail["facilitator_id"] == owner.id
    assert throttled[0].detail["throttle"] == "login-account-address"

    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith(f"login failed: facilitator_id={owner.id} address=203.0.113.66")
               for line in lines), lines
    assert any(line.startswith("login failed: account=") and "unknown account" in line
               for line in lines), lines
    assert any(line.startswith(f"login throttled: facilitator_id={owner.id}")
               for line in lines), lines
    recorded = "\n".join(lines) + "\n".join(f"{e.actor} {e.detail}" for e in failed + throttled)
    for secret in (WRONG, owner.email, "nobody@example.org", "Maria", "Rossi"):
        assert secret not in recorded


def test_a_flood_of_refused_logins_leaves_a_few_audit_rows(app, factory):
    owner = factory.facilitator()
    client = _client(app, ATTACKER)
    for _ in range(45):
        login(client, owner.email, WRONG)
    throttled = [(e.detail["throttle"], e.detail["refused_in_window"])
                 for e in _events("facilitator.login_throttled")]
    # 5 guesses; 15 refused for the account from this address; then 25 for the address:
    # an audit row at the 1st, 2nd, 4th, 8th, 16th ... refusal of each
    assert throttled == [("login-account-address", n) for n in (1, 2, 4, 8)] + \
        [("login-address", n) for n in (1, 2, 4, 8, 16)]
