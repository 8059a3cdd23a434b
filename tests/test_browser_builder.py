"""The study builder in a real browser: a blank study gets a section and a statement, all
with the keyboard, and the rule sentence follows the settings as they are typed."""

from __future__ import annotations

import re

import pytest

from delphi.extensions import db
from delphi.studies import operations as ops

from .browser import shot
from .factories import PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _only_item_id() -> int:
    db.session.rollback()
    return ops.find_study("car-t-outcomes").items[0].id


def test_a_facilitator_builds_a_study_with_the_keyboard(app, browser, live_server, factory):
    owner = factory.facilitator("maria@example.org")
    base = live_server.url
    page = browser.new_page(viewport=DESKTOP)
    page.goto(base + "/login")
    page.fill("#email", owner.email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    page.get_by_role("button", name="New study").click()

    page.focus("#blank-slug")
    page.keyboard.type("car-t-outcomes")
    page.keyboard.press("Tab")
    page.keyboard.type("CAR-T outcomes in children")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studies/car-t-outcomes/build$"))
    assert "was created as a draft" in page.content()

    # the rule sentence follows the form as the facilitator types (builder.js)
    page.select_option("#primary_rule", "percent")
    page.fill("#threshold", "")
    page.focus("#threshold")
    page.keyboard.type("82")
    # the server's sentence for the typed values arrives a moment later
    from playwright.sync_api import expect

    expect(page.locator("#rule-sentence")).to_contain_text("Percent agreement 82%")
    page.locator("#rule-sentence").scroll_into_view_if_needed()
    shot(page, "builder-settings-rule-desktop")

    page.get_by_role("link", name="Sections and statements").click()
    page.focus("#title")
    page.keyboard.type("Outcomes that matter")
    page.keyboard.press("Tab")
    page.keyboard.type("What a family notices.")
    page.keyboard.press("Tab")  # the optional key
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "The section “Outcomes that matter” was added." in page.content()

    page.get_by_role("button", name="Add a statement to Outcomes that matter").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/statements/new$"))
    page.focus("#text")
    page.keyboard.type("Time to return to school is reported.")
    page.keyboard.press("Tab")
    page.keyboard.type("When the child is back at school.")
    page.keyboard.press("Tab")
    page.keyboard.type("Parents rank it highly (Core outcome set 2020).")
    page.keyboard.press("Tab")
    page.keyboard.type("Core outcome set. Trials 2020 | 10.1186/s13063-020-04000-0")
    page.keyboard.press("Tab")  # the key field: left empty, generated
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/build/statements#item-section-1-01$"))
    assert "The statement section-1-01 was added." in page.content()
    assert page.get_by_role("button", name="Delete section-1-01").is_visible()
    link = page.locator("#item-section-1-01 a", has_text="doi:10.1186/s13063-020-04000-0")
    assert link.get_attribute("href") == "https://doi.org/10.1186/s13063-020-04000-0"
    shot(page, "builder-statements-desktop")
    page.set_viewport_size(PHONE)
    page.goto(base + "/studies/car-t-outcomes/build/statements")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "builder-statements-phone")
    page.get_by_role("link", name="View as a panellist").click()
    assert "Preview of round 1" in page.content()
    page.locator("#item-" + str(_only_item_id())).scroll_into_view_if_needed()
    shot(page, "builder-preview-phone")

    db.session.rollback()  # end the test's own read transaction to see the server's writes
    study = ops.find_study("car-t-outcomes")
    assert [s.title for s in study.sections] == ["Outcomes that matter"]
    assert [(i.key, i.text) for i in study.items] == [
        ("section-1-01", "Time to return to school is reported.")]
    page.close()
