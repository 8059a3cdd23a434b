"""Real-browser tests: a panellist votes through the page, on a phone and a desktop."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from delphi.extensions import db
from delphi.models import Rating, Response, ResponseState

from .browser import shot
from .flows import close, launch, link_for_panellist, path_of
from .test_feedback import _round_one

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def stored_ratings() -> dict[int, tuple[int | None, bool]]:
    db.session.commit()  # end the test's own read snapshot to see what the server wrote
    return {r.item_id: (r.value, r.is_uts) for r in db.session.scalars(sa.select(Rating))}


def test_a_panellist_votes_by_keyboard_and_touch_saves_and_submits(app, browser,
                                                                   live_server, factory):
    study = factory.study(impact=True)
    panel = factory.panel(study, per_group=1)
    launch(study)
    link = link_for_panellist(study, panel[0].id)
    items = study.items
    total = len(items)
    page = browser.new_page(viewport=PHONE)
    page.goto(live_server.url + path_of(link))
    assert page.url == live_server.url + "/vote"  # the secret is gone from the address bar
    assert page.locator("#progress-text").inner_text() == f"0 of {total} answered"
    shot(page, "vote-round1-phone")
    # autosave: a choice reaches the database with no button pressed, and the bar says so
    page.locator(f'#item-{items[3].id} input[value="4"]').check()
    expect(page.locator("#autosave-status")).to_have_text(re.compile(r"^Saved at "),
                                                           timeout=10_000)
    assert stored_ratings() == {items[3].id: (4, False)}
    assert db.session.scalar(sa.select(Response)).state is ResponseState.DRAFT
    assert page.locator("#progress-text").inner_text() == f"1 of {total} answered"
    # keyboard: focus the first statement's first choice and move with the arrow keys
    first = page.locator(f'input[name="rating-{items[0].id}"]').first
    first.focus()
    page.keyboard.press("Space")
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    assert page.locator(f'input[name="rating-{items[0].id}"][value="8"]').is_checked()
    # touch-sized targets: tap a label
    page.locator(f'#item-{items[1].id} label.point', has_text="Unable to score").click()
    page.locator(f"#item-{items[2].id} details.comment summary").click()
    page.fill(f"#comment-{items[2].id}", "Depends on the child's age")
    page.locator(f'#item-{items[2].id} input[value="6"]').check()
    assert page.locator("#progress-text").inner_text() == f"4 of {total} answered"
    section = items[0].section_id
    in_section = sum(1 for i in items if i.section_id == section)
    assert page.locator(f'.section-count[data-section="{section}"]').inner_text() \
        == f"4 of {in_section} answered"
    page.get_by_role("button", name="Save for later").click()
    # back at the first blank statement, with the progress in the sticky bar
    page.wait_for_url(f"**/vote#item-{items[4].id}")
    assert "Saved: 4 of" in page.content()
    assert page.locator(f"#item-{items[4].id}").is_visible()
    assert page.locator("#progress-text").inner_text() == f"4 of {total} answered"
    shot(page, "vote-progress-phone")
    page.reload()
    assert page.locator(f'input[name="rating-{items[0].id}"][value="8"]').is_checked()
    assert page.input_value(f"#comment-{items[2].id}") == "Depends on the child's age"
    page.get_by_role("button", name="Submit my answers").click()
    # part-answered: how many and which, before anything is submitted
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    missing = total - 4
    assert dialog.get_by_role("heading", level=2).inner_text() \
        == f"{missing} statements not answered yet (4 of {total} answered)"
    assert dialog.locator("ul.unanswered a").count() == missing
    assert dialog.locator("ul.unanswered a").first.get_attribute("href") \
        == f"#item-{items[4].id}"
    shot(page, "confirm-dialog-phone")
    dialog.get_by_role("button", name="Go back to answer them").click()
    expect(dialog).to_be_hidden()
    assert page.url.split("#")[0].endswith("/vote")  # no request was sent
    assert db.session.scalar(sa.select(Response)).state is ResponseState.DRAFT
    page.get_by_role("button", name="Submit my answers").click()
    dialog.get_by_role("button", name="Submit anyway").click()
    page.wait_for_url("**/vote/receipt")
    assert "Thank you" in page.content()
    shot(page, "receipt-phone")
    db.session.commit()
    response = db.session.scalar(sa.select(Response))
    assert response.state is ResponseState.SUBMITTED
    values = dict(db.session.execute(sa.select(Rating.item_id, Rating.value)).all())
    assert values[items[0].id] == 8 and values[items[2].id] == 6
    desktop = browser.new_page(viewport=DESKTOP)
    desktop.goto(live_server.url + path_of(link_for_panellist(study, panel[1].id)))
    shot(desktop, "vote-round1-desktop")
    desktop.locator(f'#item-{items[0].id} input[value="7"]').check()
    desktop.locator(f"#item-{items[1].id}").scroll_into_view_if_needed()
    shot(desktop, "vote-progress-desktop")
    desktop.get_by_role("button", name="Submit my answers").click()
    expect(desktop.get_by_role("dialog")).to_be_visible()
    shot(desktop, "confirm-dialog-desktop")


def test_without_javascript_a_part_answered_submit_asks_on_its_own_page(
        app, browser, live_server, factory):
    study = factory.study(impact=True)
    panel = factory.panel(study, per_group=1)
    launch(study)
    items = study.items
    for n, (name, viewport) in enumerate((("phone", PHONE), ("desktop", DESKTOP))):
        db.session.commit()  # end the test's read snapshot: the server wrote since
        context = browser.new_context(viewport=viewport, java_script_enabled=False)
        page = context.new_page()
        page.goto(live_server.url + path_of(link_for_panellist(study, panel[n].id)))
        page.locator(f'#item-{items[0].id} label.point', has_text="7").click()
        page.locator(f'#item-{items[1].id} label.point', has_text="Unable to score").click()
        page.get_by_role("button", name="Submit my answers").click()
        page.wait_for_url("**/vote/confirm")
        missing = len(items) - 2
        assert page.get_by_role("heading", level=1).inner_text() \
            == f"{missing} statements not answered yet"
        assert f"2 of {len(items)}" in page.content()
        links = page.locator("ul.unanswered a")
        assert links.count() == missing
        assert links.first.get_attribute("href") == f"/vote#item-{items[2].id}"
        back = page.get_by_role("button", name="Go back to answer them")
        assert back.get_attribute("href") == f"/vote#item-{items[2].id}"
        shot(page, f"confirm-submit-{name}")
        page.get_by_role("button", name="Submit anyway").click()
        page.wait_for_url("**/vote/receipt")
        context.close()
    db.session.commit()
    states = db.session.scalars(sa.select(Response.state)).all()
    assert states == [ResponseState.SUBMITTED, ResponseState.SUBMITTED]
    assert stored_ratings()[items[1].id] == (None, True)


def test_typed_answers_survive_a_closed_tab_without_saving(app, browser, live_server, factory):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(live_server.url + path_of(link_for_panellist(study, panel[0].id)))
    item = study.items[0]
    page.route("**/vote", lambda route: route.abort() if route.request.method == "POST"
               else route.continue_())  # the network drops: autosave cannot reach us
    page.locator(f'#item-{item.id} input[value="7"]').check()
    page.wait_for_timeout(300)
    page.close()  # the tab closes
    again = context.new_page()
    again.goto(live_server.url + path_of(link_for_panellist(study, panel[0].id)))
    assert again.locator(f'#item-{item.id} input[value="7"]').is_checked()
    assert "Restored 1 answer" in again.locator("#autosave-status").inner_text()


def test_round_two_feedback_on_a_phone_and_a_desktop(app, browser, live_server, factory):
    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    launch(study)
    for name, viewport, value in (("phone", PHONE, "8"), ("desktop", DESKTOP, "9")):
        db.session.commit()  # end the test's read snapshot: the server wrote since
        page = browser.new_page(viewport=viewport)
        page.goto(live_server.url + path_of(link_for_panellist(study, panel[0].id)))
        page.locator("details.groups summary").first.click()
        page.locator("details.comments summary").first.click()
        assert page.locator("svg.histogram").count() >= 3
        assert "Your rating:" in page.content()
        # the own rating (8) is outlined on the histogram stored for everyone, by CSS
        own_bar = page.locator(f"#item-{study.items[0].id} .feedback > svg .p8")
        assert own_bar.evaluate("e => getComputedStyle(e).strokeWidth") == "2.5px"
        other_bar = page.locator(f"#item-{study.items[0].id} .feedback > svg .p7")
        assert other_bar.evaluate("e => getComputedStyle(e).strokeWidth") != "2.5px"
        shot(page, f"vote-round2-feedback-{name}", f"#item-{study.items[0].id}")
        # moving the rating into another band asks for a reason
        item = study.items[1]
        reason = page.locator(f"#item-{item.id} .reason")
        page.locator(f'#item-{item.id} input[value="{value}"]').check()
        assert "reason-asked" in (reason.get_attribute("class") or "")
        # the autosave of that choice lands before the round closes below
        expect(page.locator("#autosave-status")).to_have_text(re.compile(r"^Saved at "),
                                                               timeout=10_000)
    db.session.commit()  # end the test's read snapshot before writing
    close(study)


def test_answers_kept_on_the_device_expire_after_a_day_and_end_with_a_submit(
        app, browser, live_server, factory):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    items = study.items
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(live_server.url + path_of(link_for_panellist(study, panel[0].id)))
    key = page.locator("#vote-form").get_attribute("data-storage-key")
    keep = ("([k, name, age]) => localStorage.setItem(k, JSON.stringify("
            "{saved: Date.now() - age, data: {[name]: '7'}}))")
    day = 24 * 3600 * 1000
    # copies older than a day, of this sheet and of another one, are dropped unread
    page.evaluate(keep, [key, f"rating-{items[0].id}", day + 60_000])
    page.evaluate(keep, ["delphi-vote-999-999", f"rating-{items[0].id}", 2 * day])
    page.reload()
    assert not page.locator(f'#item-{items[0].id} input[value="7"]').is_checked()
    assert "Restored" not in page.locator("#autosave-status").inner_text()
    assert page.evaluate("Object.keys(localStorage)") == []
    # a copy younger than a day comes back
    page.evaluate(keep, [key, f"rating-{items[0].id}", day - 60_000])
    page.reload()
    assert page.locator(f'#item-{items[0].id} input[value="7"]').is_checked()
    assert "Restored 1 answer" in page.locator("#autosave-status").inner_text()
    # pressing Submit clears this device's copy, even if the request never arrives
    page.route("**/vote", lambda route: route.abort() if route.request.method == "POST"
               else route.continue_())
    page.locator(f'#item-{items[1].id} input[value="3"]').check()
    assert page.evaluate("(k) => localStorage.getItem(k)", key) is not None
    page.get_by_role("button", name="Submit my answers").click()
    page.get_by_role("dialog").get_by_role("button", name="Submit anyway").click()
    page.wait_for_timeout(300)
    again = context.new_page()
    again.goto(live_server.url + "/vote")
    assert again.evaluate("(k) => localStorage.getItem(k)", key) is None
    assert not again.locator(f'#item-{items[1].id} input[value="3"]').is_checked()


# Where the focused element is, against the viewport and the sticky bar, in one call.
FOCUS_BOX = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) { return null; }
  const seen = window.focusSeen || (window.focusSeen = new Set());
  const again = seen.has(el);
  seen.add(el);
  const r = el.getBoundingClientRect();
  const bar = document.querySelector("#vote-form .actions");
  const b = bar ? bar.getBoundingClientRect() : null;
  const tag = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.name ? "[name=" + el.name + "]" : "") +
    (el.value && el.type === "radio" ? "=" + el.value : "");
  return {tag: tag, again: again, top: r.top, bottom: r.bottom, left: r.left, right: r.right,
          width: r.width, height: r.height, vw: innerWidth, vh: innerHeight,
          inBar: !!(bar && bar.contains(el)), barTop: b ? b.top : innerHeight,
          barBottom: b ? b.bottom : innerHeight};
}"""


def hidden_focus_stops(page, limit: int = 2000) -> tuple[int, list[str]]:
    """Tab through every stop of the page; the stops not fully visible (off screen or
    under the sticky bar), and how many stops there were."""
    page.locator("body").focus()
    stops, hidden = 0, []
    for _ in range(limit):
        page.keyboard.press("Tab")
        box = page.evaluate(FOCUS_BOX)
        if box is None or box["again"]:
            break
        stops += 1
        if box["width"] == 0 and box["height"] == 0:
            hidden.append(f"{box['tag']} has no box")
            continue
        # Under the bar: overlapping it. Below its bottom (after the form, where the bar
        # has come to rest) is in view as long as it is on screen.
        under_bar = not box["inBar"] and box["bottom"] > box["barTop"] + 0.5 \
            and box["top"] < box["barBottom"] - 0.5
        if under_bar or box["top"] < -0.5 or box["bottom"] > box["vh"] + 0.5 \
                or box["left"] < -0.5 \
                or box["right"] > box["vw"] + 0.5:
            hidden.append(f"{box['tag']}: top {box['top']:.0f}, bottom {box['bottom']:.0f}, "
                          f"bar at {box['barTop']:.0f}")
    return stops, hidden


def test_no_focused_control_hides_under_the_sticky_bar(app, browser, live_server, factory):
    """WCAG 2.2 success criterion 2.4.11: every Tab stop is fully visible, at 390 and
    1280 px, on a small study and on the whole IMPACT round-1 page."""
    small = factory.study()
    panel = factory.panel(small, per_group=1)
    launch(small)
    impact = factory.study(impact=True)
    impact_panel = factory.panel(impact, per_group=1)
    launch(impact)
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = browser.new_page(viewport=viewport)
        page.goto(live_server.url + path_of(link_for_panellist(small, panel[0].id)))
        stops, hidden = hidden_focus_stops(page)
        assert stops >= 10 and hidden == [], (name, hidden)
        # vote.js keeps the padding at the bar's real height (the CSP allows CSSOM styles)
        bar = page.evaluate("document.querySelector('#vote-form .actions').offsetHeight")
        assert page.evaluate("getComputedStyle(document.documentElement)"
                             ".getPropertyValue('--sticky-bar')").strip() == f"{bar}px"
        page.close()
    page = browser.new_page(viewport=DESKTOP)
    page.goto(live_server.url + path_of(link_for_panellist(impact, impact_panel[0].id)))
    stops, hidden = hidden_focus_stops(page)
    assert stops >= 3 * len(impact.items) and hidden == [], hidden
    shot(page, "vote-focus-desktop")
