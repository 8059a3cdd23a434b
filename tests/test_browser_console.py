"""The facilitator console in a real browser: the IMPACT study through two rounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import ItemStatus, Suggestion

from .browser import shot
from .factories import PASSWORD
from .flows import close, launch, link_for_panellist, open_link, vote

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _login(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")


def _votes(app, study, panel, round_values):
    """Most of the panel votes through the HTTP client (the browser test of voting is
    test_browser.py); the console is what this test drives."""
    items = [i for i in study.current_round.items]
    for n, panellist in enumerate(panel):
        client = app.test_client()
        open_link(client, link_for_panellist(study, panellist.id))
        ratings = {item.id: round_values(n, k) for k, item in enumerate(items)}
        extra = {}
        if n == 0 and study.current_round.allow_suggestions:
            extra["suggestion"] = "Report the time to B-cell recovery in every child"
        if n < 3:
            extra[f"comment-{items[0].id}"] = f"Comment {n}: cut-offs need paediatric data"
        assert vote(client, ratings, extra=extra).status_code == 302


def test_a_facilitator_runs_two_rounds_in_the_console(app, browser, live_server, factory):
    owner = factory.facilitator("maria@example.org")
    study = factory.study(owner=owner, impact=True)
    panel = factory.panel(study, per_group=3)
    base = live_server.url
    page = browser.new_page(viewport=DESKTOP)
    _login(page, base, owner.email)
    shot(page, "console-studies-desktop")
    page.get_by_role("link", name=re.compile("IMPACT")).click()
    shot(page, "console-study-desktop")

    # launch round 1 with a deadline
    page.get_by_role("link", name=re.compile(r"^Rounds")).click()
    shot(page, "console-rounds-before-launch-desktop")
    page.fill("#closes_at", "2099-01-15T17:00")
    page.get_by_role("button", name="Launch round 1").click()
    assert "will be sent to 15 panellists" in page.content()  # it asks first
    assert "15 January 2099 at 17:00 UTC" in page.content()
    shot(page, "console-launch-confirm-desktop")
    page.get_by_role("button", name="Yes, launch round 1").click()
    assert "Round 1 is open" in page.content()
    db.session.commit()

    # the outbox shows each invitation with a working link (no SMTP here)
    page.get_by_role("link", name="Outbox").click()
    shot(page, "console-outbox-desktop")
    page.get_by_role("button", name="Show with link").first.click()
    link = page.locator("a.panel-link").get_attribute("href")
    assert "/p/" in link
    shot(page, "console-message-desktop")

    _votes(app, study, panel, lambda n, k: (8 if n % 5 else 3) if k % 3 == 0 else 5 + n % 4)
    page.goto(base + f"/studies/{study.slug}/rounds/")
    shot(page, "console-rounds-progress-desktop")
    page.get_by_role("button", name="Close round 1 now").click()
    assert "of 15 panellists have submitted" in page.content()
    page.get_by_role("button", name="Yes, close round 1 now").click()
    assert "Round 1 is closed" in page.content()

    # results: filter, then decide
    page.get_by_role("link", name="Results").click()
    shot(page, "console-results-desktop")
    page.select_option("select[name=show]", "no_consensus")
    page.get_by_role("button", name="Apply").click()
    assert "show=no_consensus" in page.url
    page.goto(base + f"/studies/{study.slug}/rounds/1/results")
    items = {i.label: i for i in study.items}
    first, second = items["success-01"], items["success-02"]

    card = page.locator(f"#result-{first.id}")
    card.locator("summary", has_text="Decide").click()
    card.locator("form", has=page.get_by_role("button", name="Drop from later rounds")) \
        .locator("textarea[name=reason]").fill("Consensus in at round 1")
    card.get_by_role("button", name="Drop from later rounds").click()
    assert "success-01 is dropped" in page.content()

    card = page.locator(f"#result-{second.id}")
    card.locator("summary", has_text="Decide").click()
    reword = card.locator("form", has=page.get_by_role("button", name="Reword"))
    reword.locator("textarea[name=text]").fill(second.text + " (for children over 2 years)")
    reword.locator("textarea[name=reason]").fill("Panel comments asked for an age limit")
    reword.get_by_role("button", name="Reword").click()
    assert "success-02.v2 replaces success-02" in page.content()

    page.locator("#between-rounds summary").first.click()
    suggestion = page.locator("#between-rounds form", has=page.get_by_role(
        "button", name="Add as a new statement")).first
    suggestion.locator("input[name=key]").fill("predictors-10")
    suggestion.get_by_role("button", name="Add as a new statement").click()
    assert "predictors-10 is added" in page.content()
    shot(page, "console-results-decided-desktop")

    page.get_by_role("button", name="Preview round 2").click()
    assert "Preview: round 2" in page.content()
    shot(page, "console-preview-desktop")

    # launch round 2, vote, close
    page.goto(base + f"/studies/{study.slug}/rounds/")
    page.get_by_role("button", name="Launch round 2").click()
    assert '"consensus out"' in page.content() or "no decision yet" in page.content()
    if page.locator("input[name=undecided_confirmed]").count():
        page.locator("input[name=undecided_confirmed]").check()  # read the list: confirmed
    page.get_by_role("button", name="Yes, launch round 2").click()
    assert "Round 2 is open" in page.content()
    db.session.commit()
    labels = [i.label for i in study.current_round.items]
    assert "success-01" not in labels and "success-02.v2" in labels and "predictors-10" in labels
    _votes(app, study, panel, lambda n, k: 8 if k % 2 else 7)
    page.goto(base + f"/studies/{study.slug}/rounds/")
    page.get_by_role("button", name="Close round 2 now").click()
    page.get_by_role("button", name="Yes, close round 2 now").click()
    assert "Round 2 is closed" in page.content()
    page.get_by_role("link", name="Results").first.click()
    shot(page, "console-results-round2-desktop")
    page.get_by_role("link", name="Audit log").click()
    assert "item.reword" in page.content()
    shot(page, "console-audit-desktop")

    # export: the report in the browser, and a statements file downloaded
    page.get_by_role("link", name="Exports").click()
    shot(page, "console-exports-desktop")
    with page.expect_download() as download:
        page.locator("a[download]", has_text="CSV").first.click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "success-02" in csv_text and "superseded" in csv_text
    page.get_by_role("link", name="View the report").click()
    report = page.content()
    assert "Participant flow" in report or "participant flow" in report.lower()
    assert "Consensus" in report and "ACCORD" in report
    shot(page, "report-desktop")

    db.session.commit()
    assert db.session.scalar(sa.select(Suggestion.resulting_item_id)) is not None
    assert items["success-01"].status is ItemStatus.DROPPED


# What overflows the page sideways, for the failure message: the widest offenders.
_OVERFLOWING = """() => {
  const limit = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > limit + 1
                 && !e.closest('.table-scroll, .overflow-auto'))
    .slice(0, 5)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
              + ' ' + Math.round(e.getBoundingClientRect().right));
}"""


def _two_rounds_with_data(app, factory):
    """The IMPACT study after two rounds, decisions and suggestions, through operations
    and the HTTP client (the browser only looks)."""
    from delphi.decisions import operations as decision_ops
    from delphi.models import DropOutcome

    owner = factory.facilitator("maria@example.org")
    study = factory.study(owner=owner, impact=True)
    panel = factory.panel(study, per_group=2)
    launch(study)
    _votes(app, study, panel, lambda n, k: (8 if n % 5 else 3) if k % 3 == 0 else 5 + n % 4)
    close(study)
    items = {i.label: i for i in study.items}
    decision_ops.drop(study, items["success-01"], DropOutcome.CONSENSUS_IN, "in", owner)
    decision_ops.reword(study, items["success-02"], items["success-02"].text + " (over 2)",
                        "Panel comments asked for an age limit", owner)
    db.session.commit()
    launch(study)
    _votes(app, study, panel, lambda n, k: 8 if k % 2 else 7)
    close(study)
    return owner, study


def test_no_console_page_scrolls_sideways_on_a_phone(app, browser, live_server, factory):
    owner, study = _two_rounds_with_data(app, factory)
    base = live_server.url
    phone = browser.new_page(viewport=PHONE)
    phone.goto(base + "/login")
    assert phone.evaluate(_WIDTHS)[0] <= PHONE["width"]
    _login(phone, base, owner.email)
    study_url = f"{base}/studies/{study.slug}"
    pages = {
        "studies": f"{base}/", "study": f"{study_url}/", "panel": f"{study_url}/panel",
        "rounds": f"{study_url}/rounds/", "outbox": f"{study_url}/outbox",
        "results-1": f"{study_url}/rounds/1/results", "results": f"{study_url}/rounds/2/results",
        "preview": f"{study_url}/next-round/preview",
        "launch-confirm": f"{study_url}/rounds/launch",
        "finish-confirm": f"{study_url}/finish", "audit": f"{study_url}/audit",
        "exports": f"{study_url}/exports/", "report": f"{study_url}/exports/report",
        "schedule": f"{study_url}/schedule", "emails": f"{study_url}/emails",
        "meeting": f"{study_url}/meeting",
    }
    spilled = {}
    for name, url in pages.items():
        assert phone.goto(url).status == 200, name
        scroll, client = phone.evaluate(_WIDTHS)
        if scroll > client:
            spilled[name] = (scroll - client, phone.evaluate(_OVERFLOWING))
        if name in ("rounds", "outbox", "results", "panel", "audit", "report"):
            shot(phone, f"console-{name}-phone")
    phone.goto(pages["outbox"])  # a message shown with its personal link
    phone.get_by_role("button", name="Show with link").first.click()
    assert "/p/" in phone.locator("a.panel-link").get_attribute("href")
    scroll, client = phone.evaluate(_WIDTHS)
    if scroll > client:
        spilled["message"] = (scroll - client, phone.evaluate(_OVERFLOWING))
    assert not spilled, "pages wider than the phone (px too wide, widest elements):\n" + \
        "\n".join(f"{name}: {extra}" for name, extra in spilled.items())
    # a wide table scrolls in its own box, which a keyboard can reach and a screen reader names
    phone.goto(pages["outbox"])
    box = phone.locator(".table-scroll").first
    assert box.get_attribute("tabindex") == "0" and box.get_attribute("role") == "region"
    assert box.get_attribute("aria-label") or box.get_attribute("aria-labelledby")
    desktop = browser.new_page(viewport=DESKTOP)
    _login(desktop, base, owner.email)
    for name in ("outbox", "results", "panel"):
        desktop.goto(pages[name])
        shot(desktop, f"console-{name}-wide")


_WIDTHS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"

