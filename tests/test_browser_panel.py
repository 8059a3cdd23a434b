"""Consent, withdrawal, one panellist's edit and comment moderation in a real browser, without
JavaScript doing any of it; screenshots at phone and desktop widths."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import ConsentRecord, Panellist, Rating
from delphi.studies import operations as study_ops
from delphi.surveys import parse_survey

from .browser import shot
from .factories import PASSWORD, SMALL_SURVEY
from .flows import BASE, close, launch, link_for_panellist

pytestmark = pytest.mark.browser

CONSENT = """consent:
  information_sheet: "Why this study\\n\\nWe ask experts in paediatric CAR-T care to rate statements
    in two or three rounds. Taking part is voluntary.\\n\\nYour answers are seen by the panel
    only as totals and comments without names."
  statement: "I have read the information above and agree to take part in this study."
"""


def _both_widths(page, name: str, element: str | None = None) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, f"{name}-phone", element)
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, f"{name}-desktop", element)


def _local(link: str, base: str) -> str:
    return base + link[len(BASE):]


def test_a_panellist_consents_then_withdraws(app, browser, live_server, factory):
    study = study_ops.import_survey(parse_survey(
        SMALL_SURVEY.format(slug="browser-consent") + CONSENT, "s.yaml"), "test")
    db.session.commit()
    panel = factory.panel(study, per_group=2)
    launch(study)
    person_id = panel[0].id
    link = link_for_panellist(study, person_id)
    base = live_server.url
    context = browser.new_context(java_script_enabled=False,
                                  viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(_local(link, base))
    page.wait_for_url(re.compile(r"/consent$"))
    assert "Taking part is voluntary." in page.content()
    _both_widths(page, "consent")
    page.get_by_role("button", name="I consent").click()
    page.wait_for_url(re.compile(r"/vote"))
    page.get_by_role("link", name="Withdraw from the study").click()
    page.wait_for_url(re.compile(r"/withdraw$"))
    assert "are kept" in page.content()
    _both_widths(page, "withdraw")
    page.get_by_role("button", name="Yes, withdraw me from the study").click()
    page.wait_for_url(re.compile(r"/withdrawn$"))
    assert "You have withdrawn from the study" in page.content()
    shot(page, "withdrawn-desktop")
    db.session.commit()  # read what the server wrote
    person = db.session.get(Panellist, person_id)
    assert person.withdrawal_kind == "self"
    assert [r.decision for r in db.session.scalars(sa.select(ConsentRecord))] == ["consented"]
    context.close()


def _log_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")


def test_a_facilitator_fixes_an_address_and_moderates_a_comment(app, browser, live_server,
                                                                factory):
    owner = factory.facilitator("maria@example.org")
    study = factory.study(owner=owner)
    panel = factory.panel(study, per_group=2)
    launch(study)
    from .flows import open_link, vote

    voter = app.test_client()
    open_link(voter, link_for_panellist(study, panel[0].id))
    vote(voter, {i.id: 8 for i in study.items},
         extra={f"comment-{study.items[0].id}": "Dr Jane Roe at St Elsewhere disagrees"})
    close(study)
    launch(study)
    rating_id = db.session.scalar(sa.select(Rating.id).where(Rating.comment != ""))
    base = live_server.url
    context = browser.new_context(java_script_enabled=False,
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, base, owner.email)

    page.goto(f"{base}/studies/{study.slug}/panel")
    page.get_by_role("link", name="Edit P0002").click()
    page.wait_for_url(re.compile(r"/panel/P0002/edit$"))
    page.fill("#email", "not an address")
    page.get_by_role("button", name="Save P0002").click()
    assert "Nothing was saved" in page.content() and "not a valid email address" in page.content()
    _both_widths(page, "panellist-edit")
    page.fill("#email", "fixed@example.org")
    page.check("#resend")
    page.get_by_role("button", name="Save P0002").click()
    page.wait_for_url(re.compile(r"/panel/P0002/$"))
    assert "A new link to round 2 is in the outbox" in page.content()

    page.goto(f"{base}/studies/{study.slug}/rounds/1/comments")
    page.get_by_role("link", name=re.compile("Moderate comment 1")).click()
    page.wait_for_url(re.compile(rf"/comments/{rating_id}$"))
    _both_widths(page, "moderation")
    page.fill("#redacted", "A colleague at another centre disagrees")
    page.fill("#reason", "names a colleague and a hospital")
    page.get_by_role("button", name="Save the moderation").click()
    page.wait_for_url(re.compile(r"/rounds/1/comments$"))
    assert "redacted" in page.content()
    shot(page, "moderation-list-desktop")
    db.session.commit()
    assert db.session.get(Rating, rating_id).moderation == "redacted"
    assert db.session.get(Panellist, panel[1].id).email == "fixed@example.org"
    context.close()


def test_a_panellist_declares_interests_by_keyboard_before_rating(app, browser, live_server,
                                                                  factory):
    """A study that asks for declarations: the first visit lands on the declaration page
    (no JavaScript), the keyboard alone answers it, and the questionnaire follows."""
    from delphi.models import ConflictDeclaration

    study = factory.study(slug="browser-declares")
    study.asks_conflict_declarations = True
    db.session.commit()
    panel = factory.panel(study, per_group=1)
    launch(study)
    link = link_for_panellist(study, panel[0].id)
    base = live_server.url
    context = browser.new_context(java_script_enabled=False,
                                  viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(_local(link, base))
    page.wait_for_url(re.compile(r"/declaration$"))
    assert "Declaration of interests" in page.content()
    _both_widths(page, "declaration")
    page.get_by_role("button", name="Save my declaration").click()  # nothing chosen
    assert "Choose one of the two answers." in page.content()
    page.get_by_label("I declare:").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("Speaker fees from a CAR-T manufacturer in 2025")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/vote"))
    assert study.items[0].text in page.content()
    db.session.commit()  # read what the server wrote
    declared = db.session.scalar(sa.select(ConflictDeclaration))
    assert declared.has_conflicts and declared.details.startswith("Speaker fees")
    context.close()
