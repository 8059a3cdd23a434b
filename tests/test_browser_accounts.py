"""Team invitations, password reset and the second factor in a real browser, with the
emails delivered through a real SMTP server; screenshots of each new page at phone
(390 px) and desktop (1280 px) widths."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from delphi import mail
from delphi.extensions import db
from delphi.models import Facilitator, StudyMembership

from .browser import shot
from .factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.smtp]
NEW_PASSWORD = "violet tractor on the moon"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _both(page, name: str, element: str | None = None) -> None:
    page.set_viewport_size(PHONE)
    shot(page, f"{name}-phone", element)
    page.set_viewport_size(DESKTOP)
    shot(page, f"{name}-desktop", element)


def _login(page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.get_by_role("button", name="Log in").click()


def _link(smtp, address: str, path: str, base: str) -> str:
    text = smtp.text(smtp.to(address)[-1])
    found = re.search(rf"https?://\S+/{path}/[A-Za-z0-9_\-]+", text)
    assert found, text
    return found.group(0).replace("https://delphi.test", base)


def test_a_colleague_accepts_an_invitation_and_sets_a_password(app, browser, live_server,
                                                               factory, smtp):
    owner = factory.facilitator("owner@example.org", name="Olu Owner")
    study = factory.study(owner=owner)
    base = live_server.url
    page = browser.new_context(viewport=PHONE).new_page()
    _login(page, base, owner.email)
    page.wait_for_url(base + "/")
    page.goto(f"{base}/studies/{study.slug}/team/")
    page.fill("#email", "nia@example.org")
    page.select_option("#role", "editor")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_url(f"{base}/studies/{study.slug}/team/")
    assert "An invitation is on its way to nia@example.org" in page.content()
    _both(page, "team-page")

    assert mail.deliver_batch().sent == 1
    guest = browser.new_context(viewport=PHONE).new_page()
    guest.goto(_link(smtp, "nia@example.org", "join", base))
    assert study.title in guest.content() and "editor" in guest.content()
    _both(guest, "team-join")
    guest.fill("#name", "Nia")
    guest.fill("#password", NEW_PASSWORD)
    guest.fill("#confirm", NEW_PASSWORD)
    guest.get_by_role("button", name="Create my account and join").click()
    guest.wait_for_url(f"{base}/studies/{study.slug}/")
    assert f"Welcome to the team of {study.title}" in guest.content()
    db.session.commit()
    role = db.session.scalar(sa.select(StudyMembership.role).join(Facilitator).where(
        Facilitator.email == "nia@example.org"))
    assert role == "editor"


def test_a_facilitator_resets_a_forgotten_password_from_the_email(app, browser, live_server,
                                                                  factory, smtp):
    factory.facilitator("kim@example.org")
    base = live_server.url
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(base + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url(base + "/reset")
    _both(page, "reset-request")
    page.fill("#email", "kim@example.org")
    page.get_by_role("button", name="Send me a link").click()
    page.wait_for_url(base + "/login")
    assert "If there is an account with that address" in page.content()

    assert mail.deliver_batch().sent == 1
    page.goto(_link(smtp, "kim@example.org", "reset", base))
    _both(page, "reset-new-password")
    page.fill("#password", "short")
    page.fill("#confirm", "short")
    page.get_by_role("button", name="Set the new password").click()
    assert "at least 12 characters" in page.content()
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.wait_for_url(base + "/login")
    _login(page, base, "kim@example.org", NEW_PASSWORD)
    page.wait_for_url(base + "/")


def test_a_facilitator_enrols_a_second_factor_and_logs_in_with_it(app, browser, live_server,
                                                                  factory):
    factory.facilitator("kim@example.org", is_admin=True)
    base = live_server.url
    page = browser.new_context(viewport=PHONE).new_page()
    _login(page, base, "kim@example.org")
    page.wait_for_url(base + "/")
    page.get_by_role("link", name="Account", exact=True).click()
    page.wait_for_url(base + "/account/")
    _both(page, "account-page")
    page.get_by_role("link", name="Set up a second factor").click()
    _both(page, "two-factor-start")
    page.get_by_role("button", name="Set up a second factor").click()
    page.wait_for_url(base + "/account/two-factor")
    assert page.locator(".qr svg").count() == 1
    secret = page.locator("#totp-secret").inner_text().strip()
    _both(page, "two-factor-enrol")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn the second factor on").click()
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    _both(page, "two-factor-recovery-codes")
    page.get_by_role("button", name="Log out").click()

    _login(page, base, "kim@example.org")
    page.wait_for_url(base + "/login/second-factor")
    _both(page, "two-factor-login")
    # The next time step's code: the one shown now was used by the enrolment.
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.wait_for_url(base + "/admin/accounts")
    _both(page, "admin-accounts")
