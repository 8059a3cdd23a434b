"""Issue #10's whole journey in a real browser, with no command line at all.

Maria, a facilitator (her account is a site admin's to make, in the browser:
test_browser_accounts.py), creates the IMPACT study from the template and a blank study
from scratch, edits both, uploads a panel and adds one person, runs two rounds with a
late joiner, an extended deadline, a moderated comment and an undone decision, finishes
the study and exports it. The panellists answer through the personal links the outbox
shows (no SMTP server here), in their own HTTP sessions: their pages have their own
browser tests (test_browser.py). Nothing here calls a command or a use case directly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import (
    AuditEvent,
    Invitation,
    ItemStatus,
    OutboxMessage,
    Panellist,
    Rating,
    Round,
    Study,
    StudyState,
)

from .browser import shot
from .flows import open_link, vote
from .test_browser_console import DESKTOP, PHONE, _login

pytestmark = pytest.mark.browser

PANEL_CSV = """name,email,group,country
Amara Okafor,amara@example.org,paed-rheum,UK
Bruno Tanaka,bruno@example.org,paed-rheum,Germany
Chiara Rossi,chiara@example.org,cell-therapy,Italy
Dmitri Ivanov,dmitri@example.org,nephrology,Estonia
Élodie Martin,elodie@example.org,patient-parent,France
Farah Haddad,farah@example.org,immunology,Lebanon
"""
IDENTIFYING = "Dr Jane Roe at St Elsewhere disagrees with this cut-off"
REDACTED = "A colleague at another centre disagrees with this cut-off"


def _fresh() -> None:
    """End the test's own read transaction, to see what the server wrote."""
    db.session.rollback()


def _study(slug: str) -> Study:
    _fresh()
    return db.session.scalar(sa.select(Study).where(Study.slug == slug))


def _links_from_the_outbox(page, base: str, slug: str, count: int) -> dict[str, str]:
    """The personal links of the newest ``count`` invitations (the outbox lists the
    newest first), as its "Show with link" gives them: email address -> link."""
    links = {}
    for n in range(count):
        page.goto(f"{base}/studies/{slug}/outbox")
        row = page.locator("tr", has_text="invitation").nth(n)
        address = row.locator("td").nth(1).inner_text()
        row.get_by_role("button", name="Show with link").click()
        links[address] = page.locator("a.panel-link").get_attribute("href")
    return links


def _answers(app, link: str, rating, comment: str | None = None) -> None:
    """A panellist opens their link and submits a rating for every statement."""
    client = app.test_client()
    open_link(client, link)
    html = client.get("/vote").get_data(as_text=True)  # the statements: its radio groups
    ids = sorted({int(i) for i in re.findall(r'name="rating-(\d+)"', html)})
    assert ids, "the voting page shows no statement"
    extra = {f"comment-{ids[-1]}": comment} if comment else None  # a statement that goes on
    response = vote(client, {item_id: rating(k) for k, item_id in enumerate(ids)}, extra=extra)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_a_facilitator_runs_a_whole_study_in_the_browser(app, browser, live_server, factory):
    maria = factory.facilitator("maria@example.org", name="Maria Rossi")
    base = live_server.url
    page = browser.new_page(viewport=DESKTOP)
    _login(page, base, maria.email)

    # 1. the IMPACT study from the template, edited
    page.get_by_role("button", name="New study").click()
    page.fill("#template-slug", "impact-2027")
    page.get_by_role("button", name="Create from the template").click()
    page.wait_for_url(re.compile(r"/studies/impact-2027/build$"))
    assert "was created as a draft" in page.content()
    page.fill("#short_name", "IMPACT 2027")
    page.fill("#sender_name", "The IMPACT steering committee")
    page.get_by_role("button", name="Save the settings").click()
    assert "The study’s settings were saved." in page.content()
    page.get_by_role("link", name="Sections and statements").click()
    page.get_by_role("link", name="Edit success-01", exact=True).click()
    page.fill("#plain_text", "The child's disease is quiet without any medicine.")
    page.get_by_role("button", name="Save the statement").click()
    assert "The statement success-01 was saved." in page.content()

    # 2. a blank study built from scratch
    page.goto(base + "/")
    page.get_by_role("button", name="New study").click()
    page.fill("#blank-slug", "parents-view")
    page.fill("#blank-title", "What parents want measured")
    page.get_by_role("button", name="Create a blank study").click()
    page.wait_for_url(re.compile(r"/studies/parents-view/build$"))
    page.get_by_role("link", name="Sections and statements").click()
    page.fill("#title", "Daily life")
    page.get_by_role("button", name="Add the section").click()
    assert "The section “Daily life” was added." in page.content()
    page.get_by_role("button", name="Add a statement to Daily life").click()
    page.fill("#text", "Days of school missed are reported.")
    page.fill("#rationale", "Parents name school as what they notice first.")
    page.get_by_role("button", name="Add the statement").click()
    page.wait_for_url(re.compile(r"/build/statements"))
    assert "was added" in page.content(), page.locator("main").inner_text()[:800]
    page.get_by_role("link", name="Edit section Daily life").click()
    page.fill("#title", "Daily life at home and school")
    page.get_by_role("button", name="Save the section").click()
    assert "The section was saved." in page.content()
    shot(page, "journey-blank-study-desktop")
    blank = _study("parents-view")
    assert [s.title for s in blank.sections] == ["Daily life at home and school"]
    assert [i.text for i in blank.items] == ["Days of school missed are reported."]

    # 3. the panel: a file uploaded, then one person added by hand
    slug = "impact-2027"
    page.goto(f"{base}/studies/{slug}/panel")
    csv_file = Path(app.instance_path) / "panel.csv"
    csv_file.parent.mkdir(parents=True, exist_ok=True)
    csv_file.write_text(PANEL_CSV, encoding="utf-8")
    page.set_input_files("#file", str(csv_file))
    page.get_by_role("button", name="Upload").click()
    assert "6 panellists" in page.content(), page.locator("main").inner_text()[:1500]
    page.get_by_role("button", name="Add one panellist").click()  # a link styled as one
    page.fill("#name", "Grace Mensah")
    page.fill("#email", "grace@example.org")
    page.select_option("#group", "patient-parent")
    page.get_by_role("button", name="Add the panellist").click()
    assert "P0007 (Grace Mensah) was added to the panel." in page.content()

    # 4. round 1 with a deadline; a late joiner invited at once; the deadline extended
    page.goto(f"{base}/studies/{slug}/rounds/")
    page.fill("#closes_at", "2099-03-01T17:00")
    page.get_by_role("button", name="Launch round 1").click()
    page.get_by_role("button", name="Yes, launch round 1").click()
    assert "Round 1 is open" in page.content()
    page.goto(f"{base}/studies/{slug}/panel/add")
    page.fill("#name", "Hiro Sato")
    page.fill("#email", "hiro@example.org")
    page.select_option("#group", "cell-therapy")
    page.check("#invite")
    page.get_by_role("button", name="Add the panellist").click()
    assert "Their invitation to round 1 is in the outbox." in page.content()
    page.goto(f"{base}/studies/{slug}/rounds/")
    page.locator("#deadline summary").click()
    page.fill("#deadline input[name=closes_at]", "2099-03-08T17:00")
    page.get_by_role("button", name="Save the deadline").click()
    assert "8 March 2099 at 17:00" in page.content()
    _fresh()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "extension")) == 8  # all eight have not submitted yet

    # everyone answers through the link in their invitation; one comment names a colleague
    links = _links_from_the_outbox(page, base, slug, 8)
    assert len(links) == 8 and "hiro@example.org" in links  # the late joiner is invited
    for n, (address, link) in enumerate(sorted(links.items())):
        _answers(app, link, lambda k, n=n: 8 if k % 3 else 3 + n % 5,
                 IDENTIFYING if address == "amara@example.org" else None)
    page.goto(f"{base}/studies/{slug}/rounds/")
    assert "8 of 8" in page.content()  # the late joiner counts in the progress
    page.get_by_role("button", name="Close round 1 now").click()
    page.get_by_role("button", name="Yes, close round 1 now").click()
    assert "Round 1 is closed" in page.content()

    # 5. the identifying comment is redacted before anyone sees it
    page.goto(f"{base}/studies/{slug}/rounds/1/comments")
    page.get_by_role("link", name=re.compile("Moderate comment 1")).click()
    page.fill("#redacted", REDACTED)
    page.fill("#reason", "names a colleague and a hospital")
    page.get_by_role("button", name="Save the moderation").click()
    assert "redacted" in page.content()

    # 6. decisions: a reword undone, a drop kept
    study = _study(slug)
    items = {i.label: i for i in study.items}
    page.goto(f"{base}/studies/{slug}/rounds/1/results")
    card = page.locator(f"#result-{items['success-02'].id}")
    card.locator("summary", has_text="Decide").click()
    reword = card.locator("form", has=page.get_by_role("button", name="Reword"))
    reword.locator("textarea[name=text]").fill(items["success-02"].text + " (over 2 years)")
    reword.locator("textarea[name=reason]").fill("Comments asked for an age limit")
    reword.get_by_role("button", name="Reword").click()
    assert "success-02.v2 replaces success-02" in page.content()
    page.locator("#decisions-made").get_by_role("button", name="Undo").click()
    assert "The reword decision is undone" in page.content()
    card = page.locator(f"#result-{items['success-01'].id}")
    card.locator("summary", has_text="Decide").click()
    card.locator("form", has=page.get_by_role("button", name="Drop from later rounds")) \
        .locator("textarea[name=reason]").fill("Consensus in at round 1")
    card.get_by_role("button", name="Drop from later rounds").click()
    assert "success-01 is dropped" in page.content()

    # 7. round 2: launched, answered (the feedback shows the redacted comment), closed
    page.goto(f"{base}/studies/{slug}/rounds/")
    page.get_by_role("button", name="Launch round 2").click()
    page.check("input[name=undecided_confirmed]")
    page.get_by_role("button", name="Yes, launch round 2").click()
    assert "Round 2 is open" in page.content()
    round_two = _links_from_the_outbox(page, base, slug, 8)
    assert len(round_two) == 8
    client = app.test_client()
    open_link(client, round_two["bruno@example.org"])
    feedback = client.get("/vote").get_data(as_text=True)
    assert "Round 2" in feedback
    assert REDACTED in feedback and IDENTIFYING not in feedback
    for n, link in enumerate(sorted(round_two.values())):
        _answers(app, link, lambda k, n=n: 8 if k % 4 else 7)
    page.goto(f"{base}/studies/{slug}/rounds/")
    page.get_by_role("button", name="Close round 2 now").click()
    page.get_by_role("button", name="Yes, close round 2 now").click()
    assert "Round 2 is closed" in page.content()

    # 8. finish (the thank-you goes with it) and export
    page.goto(f"{base}/studies/{slug}/finish")
    assert page.locator("input[name=thank_you]").is_checked()
    page.get_by_role("button", name="Yes, finish the study").click()
    assert "The study is finished" in page.content()
    page.goto(f"{base}/studies/{slug}/exports/")
    with page.expect_download() as download:
        page.locator("a[download]", has_text="CSV").first.click()
    statements = Path(download.value.path()).read_text(encoding="utf-8")
    assert "success-01" in statements and "dropped" in statements
    page.get_by_role("link", name="View the report").click()
    report = page.content()
    assert "Participant flow per round and stakeholder group" in report
    shot(page, "journey-report-desktop")
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/studies/{slug}/")
    shot(page, "journey-study-finished-phone")

    # what the server holds, read back
    study = _study(slug)
    assert study.state is StudyState.FINISHED
    assert {p.name for p in study.panellists} >= {"Grace Mensah", "Hiro Sato", "Élodie Martin"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round).where(
        Round.study_id == study.id)) == 2
    assert {i.label: i.status for i in study.items}["success-01"] is ItemStatus.DROPPED
    assert "success-02.v2" not in {i.label for i in study.items}  # the reword was undone
    moderated = db.session.scalar(sa.select(Rating).where(Rating.comment == IDENTIFYING))
    assert moderated.moderation == "redacted"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "thankyou")) == 8
    actors = set(db.session.scalars(sa.select(AuditEvent.actor).where(
        AuditEvent.study_id == study.id)))
    assert not any(a.startswith("cli") for a in actors), actors
    late = db.session.scalar(sa.select(Panellist).where(Panellist.email == "hiro@example.org"))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation).where(
        Invitation.panellist_id == late.id)) == 2  # invited to round 1 late, then to round 2
