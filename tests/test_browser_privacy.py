"""A panellist's personal data in a real browser: the Panel page, a copy of their data,
and erasure after a confirmation; screenshots at phone and desktop widths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from delphi.extensions import db
from delphi.models import Panellist

from .browser import shot
from .factories import PASSWORD

pytestmark = pytest.mark.browser


def test_a_facilitator_exports_then_erases_one_panellist(app, browser, live_server, factory):
    owner = factory.facilitator("maria@example.org")
    study = factory.study(owner=owner)
    panel = factory.panel(study, per_group=2)
    person_id, name, email = panel[0].id, panel[0].name, panel[0].email
    base = live_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#email", owner.email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")

    page.goto(f"{base}/studies/{study.slug}/panel")
    page.get_by_role("link", name="Personal data of P0001").scroll_into_view_if_needed()
    shot(page, "privacy-panel-phone")
    page.get_by_role("link", name="Personal data of P0001").click()
    page.wait_for_url(re.compile(r"/panel/P0001/$"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download their data (JSON)").click()
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert data["identity"]["email"] == email and data["consent"] == []
    assert download.value.suggested_filename == f"{study.slug}-P0001-personal-data.json"

    page.get_by_role("button", name="Erase P0001…").click()  # a link styled as a button
    page.wait_for_url(re.compile(r"/panel/P0001/erase$"))
    assert name in page.content()
    shot(page, "privacy-erase-confirm-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, "privacy-erase-confirm-desktop")
    page.get_by_role("button", name="Yes, erase P0001 for good").click()
    page.wait_for_url(re.compile(r"/panel/P0001/$"))
    assert "The personal data of P0001 is erased" in page.content()
    shot(page, "privacy-erased-desktop")
    page.goto(f"{base}/studies/{study.slug}/panel")
    html = page.content()
    assert name not in html and email not in html and "Erased on" in html
    db.session.commit()  # end the test's snapshot: read what the server wrote
    assert db.session.get(Panellist, person_id).erased_at is not None
    context.close()
