"""A facilitator can neither read nor change another facilitator's study."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from .conftest import csrf_token, login


def _facilitator_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        feature = rule.endpoint.split(".")[0]
        if feature in ("studies", "builder", "rounds", "decisions", "exports", "previews") \
                and "slug" in rule.arguments:
            yield rule


def _fill(rule, slug: str) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        if name == "slug":
            values[name] = slug
        elif name == "pseudonym":
            values[name] = "P0001"
        else:
            values[name] = 1 if "Integer" in converter else "x"
    return rule.build(values)[1]


def test_every_study_route_answers_404_for_another_facilitators_study(app, client, factory):
    mine = factory.study(owner=factory.facilitator("me@example.org"))
    theirs = factory.study(owner=factory.facilitator("them@example.org"))
    their_panel = factory.panel(theirs)
    from .flows import close, launch, link_for_panellist, open_link, vote

    launch(theirs)
    voter = app.test_client()
    open_link(voter, link_for_panellist(theirs, their_panel[0].id))
    vote(voter, {i.id: 8 for i in theirs.items},
         extra={f"comment-{theirs.items[0].id}": "A comment to moderate"})
    close(theirs)
    launch(theirs)  # round 2 open, round 1 results stored, outbox message 1 and rating 1 exist
    login(client, "me@example.org")
    token = csrf_token(client, f"/studies/{mine.slug}/panel")
    rules = list(_facilitator_rules(app))
    assert len(rules) >= 10
    for rule in rules:
        url = _fill(rule, theirs.slug)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code in (403, 404), (method, url, response.status_code)
            body = response.get_data(as_text=True)
            assert theirs.title not in body
            assert not re.search(r"expert\d+\.\d@example\.org", body)


@pytest.mark.parametrize("path", ["/", "/studies/whatever/", "/studies/whatever/panel",
                                  "/studies/whatever/rounds/", "/studies/whatever/outbox",
                                  "/studies/whatever/exports/", "/studies/whatever/audit",
                                  "/studies/whatever/rounds/1/results"])
def test_console_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
