"""Real-browser tests: a panellist votes through the page, on a phone and a desktop."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import Rating, Response, ResponseState

from .browser import shot
from .flows import close, launch, link_for_panellist, path_of
from .test_feedback import _round_one

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}


def test_a_panellist_votes_by_keyboard_and_touch_saves_and_submits(app, browser,
                                                                   live_server, factory):
    study = factory.study(impact=True)
    panel = factory.panel(study, per_group=1)
    launch(study)
    link = link_for_panellist(study, panel[0].id)
    items = study.items
    page = browser.new_page(viewport=PHONE)
    page.goto(live_server.url + path_of(link))
    assert page.url == live_server.url + "/vote"  # the secret is gone from the address bar
    shot(page, "vote-round1-phone")
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
    page.get_by_role("button", name="Save for later").click()
    assert "Saved: 3 of" in page.content()
    page.reload()
    assert page.locator(f'input[name="rating-{items[0].id}"][value="8"]').is_checked()
    assert page.input_value(f"#comment-{items[2].id}") == "Depends on the child's age"
    page.get_by_role("button", name="Submit my answers").click()
    page.wait_for_url("**/vote/receipt")
    assert "Thank you" in page.content()
    shot(page, "receipt-phone")
    db.session.commit()  # end the test's own read snapshot to see what the server wrote
    response = db.session.scalar(sa.select(Response))
    assert response.state is ResponseState.SUBMITTED
    values = dict(db.session.execute(sa.select(Rating.item_id, Rating.value)).all())
    assert values[items[0].id] == 8 and values[items[2].id] == 6
    desktop = browser.new_page(viewport=DESKTOP)
    desktop.goto(live_server.url + path_of(link_for_panellist(study, panel[1].id)))
    shot(desktop, "vote-round1-desktop")


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
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = browser.new_page(viewport=viewport)
        page.goto(live_server.url + path_of(link_for_panellist(study, panel[0].id)))
        page.locator("details.groups summary").first.click()
        page.locator("details.comments summary").first.click()
        assert page.locator("svg.histogram").count() >= 3
        assert "Your rating:" in page.content()
        shot(page, f"vote-round2-feedback-{name}")
        # moving the rating into another band asks for a reason
        item = study.items[1]
        reason = page.locator(f"#item-{item.id} .reason")
        page.locator(f'#item-{item.id} input[value="8"]').check()
        assert "reason-asked" in (reason.get_attribute("class") or "")
    close(study)
