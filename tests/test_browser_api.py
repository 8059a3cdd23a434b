"""The API tokens page, a study's Webhooks page and the API reference in a real browser,
at a phone's and a desktop's width."""

from __future__ import annotations

import pytest

from delphi import webhooks

from .api_support import Api, make_token
from .browser import shot
from .factories import PASSWORD

pytestmark = pytest.mark.browser

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def test_tokens_webhooks_and_the_reference_in_a_browser(app, client, browser, live_server,
                                                        factory):
    app.config["WEBHOOK_PRIVATE_ADDRESSES"] = True  # an unreachable local address
    owner = factory.facilitator("maria@example.org")
    factory.study(owner=owner, slug="alpha")
    factory.panel(factory.study(owner=owner, slug="beta"), per_group=2)
    api = Api(client, make_token(owner))
    api.post("/studies/beta/webhooks", json={"url": "http://127.0.0.1:9/unreachable",
                                             "events": ["panellist.withdrew"]})
    api.post("/studies/beta/panel/P0001/withdraw", json={"reason": "moved"})
    webhooks.deliver_due()
    base = live_server.url
    for size, viewport in SIZES.items():
        page = browser.new_page(viewport=viewport)
        page.goto(base + "/login")
        page.fill("#email", owner.email)
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(base + "/")
        page.get_by_role("link", name="API tokens").click()
        page.fill("#name", f"R on my {size}")
        page.select_option("#scopes", "read write")
        page.get_by_role("button", name="Create token").click()
        secret = page.input_value("#token-secret")
        assert secret.startswith("dlp_")
        shot(page, f"api-tokens-created-{size}")
        assert Api(client, secret).get("/me").status_code == 200
        page.get_by_role("button", name=f"Revoke R on my {size}").click()
        assert page.get_by_text("is revoked").count() == 1
        assert Api(client, secret).get("/me").status_code == 401
        page.goto(base + "/studies/beta/webhooks")
        assert page.get_by_text("panellist.withdrew").count() >= 1
        shot(page, f"study-webhooks-{size}")
        page.goto(base + "/api/v1/docs")
        shot(page, f"api-reference-{size}")
        page.close()
    app.config["WEBHOOK_PRIVATE_ADDRESSES"] = False
