"""Deadlines, schedules, email texts, between rounds and the final meeting in a real
browser, without JavaScript-only paths; screenshots of each new page at 390 and 1280 px."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import MeetingOutcome, OutboxMessage, RoundState, Suggestion

from .browser import shot
from .flows import close
from .test_browser_console import DESKTOP, PHONE, _login, _votes

pytestmark = pytest.mark.browser


def _both(browser, base, email, url, name, element=None):
    """Screenshots of ``url`` at phone and desktop widths; no sideways scroll on a phone."""
    for size, tag in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page = browser.new_page(viewport=size)
        _login(page, base, email)
        assert page.goto(url).status == 200
        if tag == "phone":
            scroll, client = page.evaluate(
                "() => [document.documentElement.scrollWidth, "
                "document.documentElement.clientWidth]")
            assert scroll <= client, f"{name} scrolls sideways on a phone"
        shot(page, f"{name}-{tag}", element)
        page.close()


def test_a_facilitator_keeps_the_schedule_texts_decisions_and_meeting(app, browser,
                                                                        live_server, factory):
    owner = factory.facilitator("maria@example.org", name="Maria")
    study = factory.study(owner=owner)
    panel = factory.panel(study, per_group=3)
    base = live_server.url
    url = f"{base}/studies/{study.slug}"
    page = browser.new_page(viewport=DESKTOP)
    _login(page, base, owner.email)

    # the schedule: a time zone and two reminders
    page.goto(url + "/schedule")
    page.fill("#time_zone", "Europe/London")
    page.fill("#reminder_days", "7, 2")
    page.check("#suggestions_every_round")
    page.get_by_role("button", name="Save the schedule").click()
    assert "The schedule is saved" in page.content()
    _both(browser, base, owner.email, url + "/schedule", "console-schedule")

    # the reminder text: a typo is named, the preview fills it, then it is saved
    page.goto(url + "/emails")
    form = page.locator("#reminder form")
    form.locator("textarea").fill("Dear {nmae},\n\nround {round} closes {deadline}.\n\n{link}")
    form.get_by_role("button", name="Save").click()
    assert "{nmae} is not a placeholder" in page.content()
    form = page.locator("#reminder form")
    form.locator("textarea").fill("Dear {name},\n\nround {round} closes {deadline}.\n\n{link}")
    form.get_by_role("button", name="Preview").click()
    assert "Dear Dr Jane Example," in page.locator("#reminder .email-preview").inner_text()
    shot(page, "console-emails-preview-desktop", "#reminder")
    page.locator("#reminder form").get_by_role("button", name="Save").click()
    assert "The reminder message is saved" in page.content()
    page.locator("#reminder form").get_by_role("button", name="Send a test to me").click()
    assert "maria@example.org is in the outbox" in page.content()
    _both(browser, base, owner.email, url + "/emails", "console-emails")

    # launch with a deadline in London time, then extend it
    page.goto(url + "/rounds/")
    page.fill("#closes_at", "2099-07-01T17:00")
    page.get_by_role("button", name="Launch round 1").click()
    assert "1 July 2099 at 17:00 Europe/London (UTC+01:00)" in page.content()
    page.get_by_role("button", name="Yes, launch round 1").click()
    assert "Round 1 is open" in page.content()
    page.locator("#deadline summary").click()
    page.fill("#deadline input[name=closes_at]", "2099-07-08T17:00")
    page.get_by_role("button", name="Save the deadline").click()
    assert "8 July 2099 at 17:00 Europe/London" in page.content()
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "extension")) == len(panel)
    db.session.commit()  # end the test's read before the browser writes again
    page.locator("#deadline summary").click()
    _both(browser, base, owner.email, url + "/rounds/", "console-rounds-deadline")

    # everyone votes, a suggestion of three lines; closed by mistake, then reopened
    db.session.commit()
    _votes(app, study, panel, lambda n, k: 8 if k % 2 else 5 + n % 4)
    db.session.add(Suggestion(round_id=study.current_round.id, panellist_id=panel[1].id,
                              text="Add school attendance\nAdd sleep\nAdd pain"))
    db.session.commit()
    page.goto(url + "/rounds/")
    page.get_by_role("button", name="Close round 1 now").click()
    page.get_by_role("button", name="Yes, close round 1 now").click()
    assert "Round 1 is closed" in page.content()
    _both(browser, base, owner.email, url + "/rounds/", "console-rounds-reopen", "#reopen")
    page.check("#reopen input[name=confirm]")
    page.get_by_role("button", name="Reopen round 1").click()
    assert "Round 1 is open again" in page.content()
    db.session.commit()
    assert study.current_round.state is RoundState.OPEN
    db.session.commit()
    page.get_by_role("button", name="Close round 1 now").click()
    page.get_by_role("button", name="Yes, close round 1 now").click()

    # between rounds: a reword undone, the suggestion split and one dismissed
    page.goto(url + "/rounds/1/results")
    first = study.items[0]
    card = page.locator(f"#result-{first.id}")
    card.locator("summary", has_text="Decide").click()
    reword = card.locator("form", has=page.get_by_role("button", name="Reword"))
    reword.locator("textarea[name=text]").fill(first.text + ", clearer")
    reword.locator("textarea[name=plain_text]").fill("In plain words")
    reword.locator("textarea[name=reason]").fill("Vague")
    reword.get_by_role("button", name="Reword").click()
    assert "replaces" in page.content()
    page.locator("#decisions-made").get_by_role("button", name="Undo").click()
    assert "The reword decision is undone" in page.content()
    page.locator("#between-rounds details", has_text="Add school attendance").first \
        .locator("summary").click()
    page.get_by_role("button", name="Split into one suggestion per line").click()
    assert "now 3 suggestions" in page.content()
    pain = page.locator("#between-rounds details", has_text="Add pain").first
    pain.locator("summary").click()
    pain.locator("textarea[name=reason]").last.fill("Covered elsewhere")
    pain.get_by_role("button", name="Dismiss").click()
    assert "set aside" in page.content()
    _both(browser, base, owner.email, url + "/rounds/1/results", "console-between-rounds",
          "#between-rounds")

    # round 2 asks to confirm the undecided statements, and collects suggestions too
    page.goto(url + "/rounds/")
    page.get_by_role("button", name="Launch round 2").click()
    assert "have no decision yet" in page.content()
    _both(browser, base, owner.email, url + "/rounds/launch", "console-launch-undecided")
    page.check("input[name=undecided_confirmed]")
    page.get_by_role("button", name="Yes, launch round 2").click()
    assert "Round 2 is open" in page.content()
    db.session.commit()
    assert study.current_round.allow_suggestions
    db.session.commit()

    # the final meeting after the last round
    close(study)
    page.goto(url + "/meeting")
    item = study.items[0]
    block = page.locator(f"#item-{item.id}")
    block.locator("input[name$=votes_for]").fill("12")
    block.locator("input[name$=votes_against]").fill("1")
    block.locator("input[name$=votes_abstain]").fill("0")
    block.get_by_role("button", name=re.compile("Save the outcome")).click()
    assert "is recorded" in page.content()
    db.session.commit()
    assert db.session.scalar(sa.select(MeetingOutcome.votes_for)) == 12
    _both(browser, base, owner.email, url + "/meeting", "console-meeting")
