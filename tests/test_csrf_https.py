"""Every console form works over HTTPS without a Referer; cross-site requests are refused."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .conftest import _csrf_from
from .factories import PASSWORD
from .flows import close, launch

HTTPS = "https://delphi.test"  # the test app's DELPHI_BASE_URL
CSRF_REFUSAL = "came from elsewhere"


def _get(client: FlaskClient, path: str, **kwargs):
    return client.get(path, base_url=HTTPS, **kwargs)


def _post(client: FlaskClient, path: str, data: dict | None = None, **kwargs):
    return client.post(path, base_url=HTTPS, data=data or {}, **kwargs)


def _login_https(client: FlaskClient, email: str):
    token = _csrf_from(_get(client, "/login").get_data(as_text=True))
    return _post(client, "/login", {"email": email, "password": PASSWORD, "csrf_token": token})


def _post_rules(app: Flask):
    """Every POST route of the console and of the login pages, logging out last."""
    rules = [rule for rule in app.url_map.iter_rules()
             if "POST" in rule.methods and not rule.endpoint.startswith("panel.")]
    return sorted(rules, key=lambda rule: (rule.endpoint.startswith("auth.logout"),
                                           rule.endpoint))


def _fill(rule, study) -> str:
    values = {}
    for name in rule.arguments:
        if name == "slug":
            values[name] = study.slug
        elif name == "pseudonym":
            values[name] = study.panellists[0].pseudonym
        elif name == "item_id":
            values[name] = study.items[0].id
        else:
            values[name] = 1
    return rule.build(values)[1]


@pytest.fixture
def refusals(monkeypatch):
    """Every CSRF refusal Flask-WTF makes, with its reason."""
    from flask_wtf.csrf import CSRFProtect

    seen: list[str] = []
    real = CSRFProtect._error_response

    def spy(self, reason):
        seen.append(reason)
        return real(self, reason)

    monkeypatch.setattr(CSRFProtect, "_error_response", spy)
    return seen


def test_every_console_form_can_be_sent_over_https_without_a_referer(app, factory, refusals):
    owner = factory.facilitator("maria@example.org")
    study = factory.study(owner=owner)
    factory.panel(study)
    launch(study)
    close(study)
    client = app.test_client()
    response = _login_https(client, owner.email)
    assert response.status_code == 302, refusals
    token = _csrf_from(_get(client, f"/studies/{study.slug}/panel").get_data(as_text=True))
    rules = _post_rules(app)
    assert len(rules) >= 15
    for rule in rules:
        if rule.endpoint == "auth.login":
            continue  # sent above, with its own form
        url = _fill(rule, study)
        response = _post(client, url, {"csrf_token": token})
        body = response.get_data(as_text=True)
        assert not refusals, (url, refusals)
        assert CSRF_REFUSAL not in body, (url, response.status_code)
        if rule.endpoint == "auth.logout":
            _login_https(client, owner.email)  # logout-everywhere comes next
            token = _csrf_from(_get(client, "/").get_data(as_text=True))


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "http://delphi.test"},  # same host, downgraded scheme
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
])
def test_a_form_sent_from_another_site_is_refused_and_changes_nothing(app, factory, headers):
    owner = factory.facilitator()
    client = app.test_client()
    _login_https(client, owner.email)
    token = _csrf_from(_get(client, "/").get_data(as_text=True))
    response = _post(client, "/logout", {"csrf_token": token}, headers=headers)
    assert response.status_code == 400
    assert CSRF_REFUSAL in response.get_data(as_text=True)
    assert _get(client, "/").status_code == 200  # still logged in


@pytest.mark.parametrize("headers", [
    {"Origin": HTTPS, "Sec-Fetch-Site": "same-origin"},
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # what no-referrer pages send
    {"Sec-Fetch-Site": "none"},
    {},  # an old browser or a script: the CSRF token alone decides
])
def test_a_form_from_our_own_pages_is_accepted(app, factory, headers):
    owner = factory.facilitator()
    client = app.test_client()
    _login_https(client, owner.email)
    token = _csrf_from(_get(client, "/").get_data(as_text=True))
    response = _post(client, "/logout", {"csrf_token": token}, headers=headers)
    assert response.status_code == 302
    assert _get(client, "/").status_code == 302  # logged out


def test_the_base_url_origin_is_ours_even_when_the_host_header_differs(app, factory):
    owner = factory.facilitator()
    client = app.test_client()
    inner = "https://10.0.0.5:8443"  # a proxy that passes its upstream's Host on
    page = client.get("/login", base_url=inner).get_data(as_text=True)
    client.post("/login", base_url=inner, data={
        "email": owner.email, "password": PASSWORD, "csrf_token": _csrf_from(page)})
    token = _csrf_from(client.get("/", base_url=inner).get_data(as_text=True))
    response = client.post("/logout", base_url=inner, data={"csrf_token": token},
                           headers={"Origin": HTTPS, "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 302
    assert client.get("/", base_url=inner).status_code == 302  # logged out


def test_a_cross_site_post_without_a_token_is_refused_too(app, factory):
    owner = factory.facilitator()
    client = app.test_client()
    _login_https(client, owner.email)
    response = _post(client, "/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 400
    assert _get(client, "/").status_code == 200
