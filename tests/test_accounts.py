"""Accounts: change and reset a password, the second factor, site admins (the reset and
welcome emails through a real SMTP server)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from delphi import mail
from delphi.extensions import db
from delphi.models import AuditEvent, Facilitator, PasswordReset, utcnow
from delphi.passwords import common_passwords, password_problem

from .conftest import _csrf_from, csrf_token, login
from .factories import PASSWORD

NEW_PASSWORD = "violet tractor on the moon"


def _actions(**where) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all())


def _account(email: str) -> Facilitator:
    db.session.expire_all()
    return db.session.scalar(sa.select(Facilitator).where(Facilitator.email == email))


# -- the password rules ---------------------------------------------------------------

def test_the_shipped_list_holds_the_most_common_passwords():
    common = common_passwords()
    assert len(common) >= 10_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= common
    assert password_problem("1qaz2wsx3edc").code == "password.common"
    assert password_problem("Password1234".upper()).code == "password.common" \
        or "password1234" not in common
    assert password_problem("eleven char").code == "password.too_short"
    assert password_problem("x" * 1001).code == "password.too_long"
    assert password_problem(NEW_PASSWORD) is None


# -- changing the password -------------------------------------------------------------

def _change(client, current: str, new: str, confirm: str | None = None):
    token = csrf_token(client, "/account/")
    return client.post("/account/password", data={
        "csrf_token": token, "current": current, "password": new,
        "confirm": new if confirm is None else confirm})


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(app, client,
                                                                             factory):
    factory.facilitator("kim@example.org")
    login(client, "kim@example.org")
    elsewhere = app.test_client()
    login(elsewhere, "kim@example.org")
    assert elsewhere.get("/").status_code == 200

    wrong = _change(client, "not my password", NEW_PASSWORD)
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(
        as_text=True)
    for new, problem in (("short one", "at least 12 characters"),
                         ("qwertyuiop123", "most common passwords"),
                         ("<script>alert(1)</script>", None)):
        response = _change(client, PASSWORD, new, confirm=new + "x")
        assert response.status_code == 400
        assert "The two passwords are not the same." in response.get_data(as_text=True)
        if problem:
            response = _change(client, PASSWORD, new)
            assert response.status_code == 400 and problem in response.get_data(as_text=True)
    assert _account("kim@example.org").check_password(PASSWORD)

    done = _change(client, PASSWORD, NEW_PASSWORD)
    assert done.status_code == 302
    assert client.get("/").status_code == 200  # this browser goes on
    assert elsewhere.get("/").status_code == 302  # the other session has ended
    assert _account("kim@example.org").check_password(NEW_PASSWORD)
    assert "facilitator.password_changed" in _actions()
    assert "facilitator.password_change_failed" in _actions()


def test_guessing_the_current_password_is_throttled(client, factory):
    factory.facilitator("kim@example.org")
    login(client, "kim@example.org")
    for _ in range(5):
        assert _change(client, "guess guess guess", NEW_PASSWORD).status_code == 400
    assert _change(client, PASSWORD, NEW_PASSWORD).status_code == 429


# -- resetting it by email ---------------------------------------------------------------

def _ask_reset(client, email: str):
    page = client.get("/reset")
    return client.post("/reset", data={"csrf_token": _csrf_from(page.get_data(as_text=True)),
                                       "email": email})


def _reset_link(smtp, address: str) -> str:
    found = re.search(r"https?://\S+/reset/[A-Za-z0-9_\-]+", smtp.text(smtp.to(address)[-1]))
    assert found
    return found.group(0).replace("https://delphi.test", "")


def _statements(app, action) -> list[str]:
    """The SQL statements (without values) a request runs."""
    seen: list[str] = []

    def note(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(re.sub(r"\s+", " ", statement))
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    return seen


@pytest.mark.smtp
def test_a_reset_answers_the_same_for_any_address_and_the_link_works_once(app, client,
                                                                        factory, smtp):
    factory.facilitator("kim@example.org")
    other = factory.facilitator("lee@example.org")
    known = _statements(app, lambda: _ask_reset(client, "Kim@example.org"))
    unknown = _statements(app, lambda: _ask_reset(client, "nobody@example.org"))
    # The same work: the same statements, in the same order (only values differ).
    assert known == unknown
    a = _ask_reset(client, "kim@example.org")
    text_a = client.get(a.headers["Location"]).get_data(as_text=True)
    b = _ask_reset(client, "nobody@example.org")
    text_b = client.get(b.headers["Location"]).get_data(as_text=True)
    assert (a.status_code, a.headers["Location"]) == (b.status_code, b.headers["Location"])
    assert "If there is an account with that address" in text_a and text_a == text_b

    assert mail.deliver_batch().sent == 4
    assert "There is no delphi account with this address" in smtp.text(
        smtp.to("nobody@example.org")[0])
    assert "/reset/" not in smtp.text(smtp.to("nobody@example.org")[0])
    link = _reset_link(smtp, "kim@example.org")
    logged_in = app.test_client()
    login(logged_in, "kim@example.org")

    page = client.get(link)
    assert page.status_code == 200 and "kim@example.org" in page.get_data(as_text=True)
    token = _csrf_from(page.get_data(as_text=True))
    refused = client.post(link, data={"csrf_token": token, "password": "1qaz2wsx3edc",
                                      "confirm": "1qaz2wsx3edc"})
    assert refused.status_code == 400
    assert "most common passwords" in refused.get_data(as_text=True)
    assert _account("kim@example.org").check_password(PASSWORD)
    done = client.post(link, data={"csrf_token": token, "password": NEW_PASSWORD,
                                   "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert _account("kim@example.org").check_password(NEW_PASSWORD)
    assert logged_in.get("/").status_code == 302  # every session has ended
    assert client.get(link).status_code == 404  # good once
    assert login(app.test_client(), "kim@example.org", NEW_PASSWORD).status_code == 302
    assert _account("lee@example.org").password_hash == other.password_hash
    assert "facilitator.password_reset" in _actions()


@pytest.mark.smtp
def test_a_reset_link_lasts_thirty_minutes(app, client, factory, smtp):
    factory.facilitator("kim@example.org")
    _ask_reset(client, "kim@example.org")
    mail.deliver_batch()
    link = _reset_link(smtp, "kim@example.org")
    reset = db.session.scalar(sa.select(PasswordReset))
    assert timedelta(minutes=29) < reset.expires_at - reset.created_at <= timedelta(minutes=30)
    reset.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    page = client.get(link)
    assert page.status_code == 404 and "Ask for a new link" in page.get_data(as_text=True)


def test_reset_requests_are_throttled_per_address_typed(client, factory):
    factory.facilitator("kim@example.org")
    for _ in range(3):
        assert _ask_reset(client, "kim@example.org").status_code == 302
    refused = _ask_reset(client, "kim@example.org")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # The same for an address with no account: the throttle tells nothing either.
    for _ in range(3):
        assert _ask_reset(client, "nobody@example.org").status_code == 302
    assert _ask_reset(client, "nobody@example.org").status_code == 429


def test_a_reset_request_refuses_bad_input_without_a_traceback(client):
    assert _ask_reset(client, "").status_code == 400
    assert _ask_reset(client, "a" * 300).status_code == 400
    assert _ask_reset(client, "x\x00@example.org").status_code == 400
    page = _ask_reset(client, "<script>alert(1)</script>")
    assert page.status_code == 302


# -- the second factor -------------------------------------------------------------------

def _enrol(client) -> tuple[str, list[str]]:
    token = csrf_token(client, "/account/two-factor")
    client.post("/account/two-factor/start", data={"csrf_token": token})
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    wrong = client.post("/account/two-factor/confirm",
                        data={"csrf_token": token, "code": "000000"}, follow_redirects=True)
    assert "The code is not right" in wrong.get_data(as_text=True)
    done = client.post("/account/two-factor/confirm",
                       data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>",
                       done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def _second_step(client, code: str):
    token = csrf_token(client, "/login/second-factor")
    return client.post("/login/second-factor", data={"csrf_token": token, "code": code})


def test_a_second_factor_is_asked_at_login_and_each_code_works_once(app, client, factory):
    factory.facilitator("kim@example.org")
    login(client, "kim@example.org")
    elsewhere = app.test_client()
    login(elsewhere, "kim@example.org")
    secret, codes = _enrol(client)
    assert elsewhere.get("/").status_code == 302  # other sessions ended
    assert client.get("/").status_code == 200
    assert "facilitator.second_factor_on" in _actions()

    browser = app.test_client()
    first = login(browser, "kim@example.org")
    assert first.headers["Location"].endswith("/login/second-factor")
    assert browser.get("/").status_code == 302  # not logged in yet
    assert _second_step(browser, "123456").status_code == 400
    code = pyotp.TOTP(secret).now()
    # The code may have been used by the enrolment a moment ago: wait for a fresh one.
    if _account("kim@example.org").totp_last_step >= int(time.time() // 30):
        time.sleep(30 - time.time() % 30 + 0.5)
        code = pyotp.TOTP(secret).now()
    assert _second_step(browser, code).status_code == 302
    assert browser.get("/").status_code == 200

    again = app.test_client()
    login(again, "kim@example.org")
    assert _second_step(again, code).status_code == 400  # a code is good once
    assert _second_step(again, codes[0].upper()).status_code == 302  # recovery code
    third = app.test_client()
    login(third, "kim@example.org")
    assert _second_step(third, codes[0]).status_code == 400  # used
    assert "facilitator.second_factor_failed" in _actions()


def test_wrong_codes_are_throttled(app, client, factory):
    factory.facilitator("kim@example.org")
    login(client, "kim@example.org")
    _enrol(client)
    browser = app.test_client()
    login(browser, "kim@example.org")
    for _ in range(5):
        assert _second_step(browser, "000000").status_code == 400
    assert _second_step(browser, "000000").status_code == 429


def test_the_second_factor_step_needs_the_password_first(client):
    response = client.get("/login/second-factor")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_turning_the_second_factor_off_needs_the_password(app, client, factory):
    factory.facilitator("kim@example.org")
    login(client, "kim@example.org")
    _enrol(client)
    token = csrf_token(client, "/account/two-factor")
    client.post("/account/two-factor/off", data={"csrf_token": token, "current": "wrong one"})
    assert _account("kim@example.org").has_second_factor
    client.post("/account/two-factor/off", data={"csrf_token": token, "current": PASSWORD})
    assert not _account("kim@example.org").has_second_factor
    assert client.get("/").status_code == 200
    assert login(app.test_client(), "kim@example.org").headers["Location"].endswith("/")
    assert "facilitator.second_factor_off" in _actions()


def test_site_admins_must_enrol_when_the_server_requires_it(app, client, factory):
    factory.facilitator("admin@example.org", is_admin=True)
    factory.facilitator("plain@example.org")
    app.config["REQUIRE_2FA"] = True
    try:
        login(client, "admin@example.org")
        response = client.get("/")
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/account/two-factor")
        assert client.get("/admin/accounts").status_code == 302
        _enrol(client)
        assert client.get("/admin/accounts").status_code == 200
        token = csrf_token(client, "/account/two-factor")
        client.post("/account/two-factor/off", data={"csrf_token": token, "current": PASSWORD})
        assert _account("admin@example.org").has_second_factor  # must keep it
        plain = app.test_client()
        login(plain, "plain@example.org")
        assert plain.get("/").status_code == 200  # not an admin: optional
    finally:
        app.config["REQUIRE_2FA"] = False


# -- site admins ----------------------------------------------------------------------

@pytest.mark.smtp
def test_an_admin_creates_disables_and_enables_accounts(app, client, factory, smtp):
    factory.facilitator("admin@example.org", is_admin=True)
    factory.facilitator("kim@example.org")
    login(client, "admin@example.org")
    token = csrf_token(client, "/admin/accounts")
    made = client.post("/admin/accounts", data={"csrf_token": token,
                                                "email": "New@example.org", "name": "Nia"})
    assert made.status_code == 302
    assert "new@example.org" in client.get("/admin/accounts").get_data(as_text=True)
    mail.deliver_batch()
    welcome = smtp.to("new@example.org")[0]
    assert "choose a password" in welcome["Subject"]
    link = _reset_link(smtp, "new@example.org")
    page = app.test_client().get(link)
    assert page.status_code == 200

    kim = app.test_client()
    login(kim, "kim@example.org")
    kim_id = _account("kim@example.org").id
    client.post(f"/admin/accounts/{kim_id}/disable", data={"csrf_token": token})
    assert not _account("kim@example.org").is_enabled
    assert kim.get("/").status_code == 302  # the session has ended
    assert login(app.test_client(), "kim@example.org").status_code == 200  # refused
    client.post(f"/admin/accounts/{kim_id}/enable", data={"csrf_token": token})
    assert login(app.test_client(), "kim@example.org").status_code == 302
    assert {"facilitator.disabled", "facilitator.enabled"} <= set(_actions())
    admin_id = _account("admin@example.org").id
    client.post(f"/admin/accounts/{admin_id}/disable", data={"csrf_token": token})
    assert _account("admin@example.org").is_enabled  # not oneself


def test_make_admin_from_the_command_line(runner, factory):
    factory.facilitator("kim@example.org")
    factory.facilitator("lee@example.org")
    result = runner.invoke(args=["make-admin", "kim@example.org"])
    assert result.exit_code == 0, result.output
    assert _account("kim@example.org").is_admin
    result = runner.invoke(args=["make-admin", "lee@example.org"])
    assert result.exit_code != 0 and "--as" in result.output  # once an admin exists
    result = runner.invoke(args=["make-admin", "lee@example.org", "--as", "kim@example.org"])
    assert result.exit_code == 0 and _account("lee@example.org").is_admin
    result = runner.invoke(args=["make-admin", "nobody@example.org", "--as", "kim@example.org"])
    assert result.exit_code != 0 and "no facilitator" in result.output


def test_spent_resets_and_invitations_are_deleted_thirty_days_after_they_expire(app, factory):
    """An invitation keeps the invitee's address: it must not be kept for ever
    (docs/personal-data.md). The worker's pass and ``purge-expired`` delete it, and spent
    resets, 30 days after the link expired; younger ones stay for the team page."""
    from delphi.cli import periodic_jobs
    from delphi.models import TeamInvitation
    from delphi.team import operations as team

    owner = factory.facilitator("owner@example.org")
    study = factory.study(owner)
    old = team.invite(study, "old@example.org", "viewer", owner)
    recent = team.invite(study, "recent@example.org", "viewer", owner)
    now = utcnow()
    old.expires_at = now - timedelta(days=31)
    recent.expires_at = now - timedelta(days=29)
    for days in (31, 29):
        db.session.add(PasswordReset(facilitator_id=owner.id,
                                     expires_at=now - timedelta(days=days)))
    db.session.commit()
    periodic_jobs()
    db.session.expire_all()
    assert db.session.scalars(sa.select(TeamInvitation.email)).all() == ["recent@example.org"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordReset)) == 1

    db.session.execute(sa.update(TeamInvitation).values(expires_at=now - timedelta(days=40)))
    db.session.execute(sa.update(PasswordReset).values(expires_at=now - timedelta(days=40)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge-expired", "--as", "owner@example.org"])
    assert result.exit_code == 0, result.output
    assert "1 password resets and 1 team invitations deleted" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamInvitation)) == 0
