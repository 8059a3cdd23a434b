"""Ids beyond the database's integer range, in paths and forms: a clean answer, never a 500."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from delphi.limits import BoundedIntegerConverter

from .conftest import csrf_token, login
from .flows import close, launch, link_for_panellist, open_link, page_fields

HUGE = (2**31, 2**63, 10**30)


@pytest.fixture
def console(client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    factory.panel(study, per_group=1)
    launch(study)
    close(study)
    login(client, "lead@example.org")
    return study, csrf_token(client, f"/studies/{study.slug}/rounds/1/results")


def test_every_route_with_an_id_answers_404_beyond_the_integer_range(app, client, console):
    study, token = console
    walked = 0
    for rule in app.url_map.iter_rules():
        ids = [name for name, conv in rule._converters.items()
               if isinstance(conv, BoundedIntegerConverter)]
        if not ids:
            continue
        for value in HUGE + (0,):
            values = {name: 1 for name in rule.arguments} | {"slug": study.slug}
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<{name}>", str(values[name]))
            for name in ids:
                path = path.replace(f"<int:{name}>", str(value))
            if "GET" in rule.methods:
                response = client.get(path)
            elif "POST" in rule.methods:
                response = client.post(path, data={"csrf_token": token, "reason": "r"})
            else:  # the API's PUT, PATCH and DELETE routes
                method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
                response = client.open(path, method=method)
            assert response.status_code == 404, (path, response.status_code)
            walked += 1
    assert walked >= 4 * 7


def test_ids_beyond_the_range_in_forms_are_refused_cleanly(client, console):
    study, token = console
    for value in HUGE:
        response = client.post(f"/studies/{study.slug}/decisions/merge", data=MultiDict([
            ("csrf_token", token), ("items", str(value)), ("items", str(value + 1)),
            ("key", "m"), ("text", "t"), ("reason", "r")]))
        assert response.status_code == 404
        response = client.post(f"/studies/{study.slug}/decisions/add", data={
            "csrf_token": token, "section": str(value), "key": "n", "text": "t", "reason": "r"})
        assert response.status_code == 302
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Choose a section." in page
        response = client.post(f"/studies/{study.slug}/decisions/add", data={
            "csrf_token": token, "section": str(study.sections[0].id), "key": "n",
            "text": "t", "reason": "r", "suggestion": str(value)})
        assert response.status_code == 404


def test_a_huge_number_as_a_rating_is_a_message(client, factory):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    open_link(client, link_for_panellist(study, panel[0].id))
    data = page_fields(client) | {"action": "save",
                                  f"rating-{study.items[0].id}": "9" * 5000}
    response = client.post("/vote", data=data)
    assert response.status_code == 400
    assert "is not a point of the scale" in response.get_data(as_text=True)
