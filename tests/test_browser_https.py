"""The console behind an HTTPS proxy in a real browser: login and forms work without Referer."""

from __future__ import annotations

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from .browser import LiveServer
from .factories import PASSWORD
from .flows import launch

pytestmark = pytest.mark.browser


def test_a_facilitator_logs_in_and_sends_forms_behind_an_https_proxy(app, browser, factory,
                                                                      monkeypatch):
    owner = factory.facilitator("maria@example.org")
    study = factory.study(owner=owner)
    factory.panel(study)
    launch(study)
    # As behind the documented nginx: ProxyFix trusts X-Forwarded-Proto, so every
    # request is seen as HTTPS (request.is_secure), as gunicorn's default
    # forwarded_allow_ips would also make it.
    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1, x_proto=1))
    with LiveServer(app) as server:
        context = browser.new_context(extra_http_headers={"X-Forwarded-Proto": "https"})
        page = context.new_page()
        posts = []
        page.on("request", lambda r: r.method == "POST" and posts.append(r.all_headers()))
        page.goto(server.url + "/login")
        page.fill("#email", owner.email)
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(server.url + "/")
        assert "A small study" in page.content()

        page.goto(server.url + f"/studies/{study.slug}/outbox")
        page.get_by_role("button", name="Show with link").first.click()
        assert "/p/" in page.locator("a.panel-link").get_attribute("href")

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(server.url + "/login")
        assert "You are logged out." in page.content()
        context.close()
    # What the browser sent: no Referer (our pages say no-referrer), Origin "null" for
    # the same reason, and Sec-Fetch-Site, which the server checks instead.
    assert len(posts) >= 3
    for headers in posts:
        assert "referer" not in headers
        assert headers.get("sec-fetch-site") == "same-origin"
        assert headers.get("origin") in (None, "null", server.url)
