"""Who may open what: every role of a study's team on every study route of the console and
of the API (allowed, or 403), and anyone outside the team gets 404. The routes come from
the app's URL map, so a new route is walked (and must name its permission) without anyone
adding it here."""

from __future__ import annotations

import functools
import re

import pytest
import sqlalchemy as sa
from flask import Flask

from delphi.console import permission_for
from delphi.extensions import db
from delphi.models import OutboxMessage, Rating, StudyMembership
from delphi.roles import ROLE_PERMISSIONS, Permission, Role, allows
from delphi.studies import operations as ops
from delphi.team import operations as team_ops

from .conftest import csrf_token, login

METHODS = ("GET", "POST")


def _study_rules(app: Flask):
    """Every route of a study: its URL names the study by slug."""
    rules = [r for r in app.url_map.iter_rules()
             if "slug" in r.arguments and not r.endpoint.startswith("api.")]
    # Leaving the team goes last: after it, the study is no longer this member's.
    return sorted(rules, key=lambda r: (r.endpoint == "team.leave", r.rule))


def _fill(rule, values: dict[str, object]) -> str:
    args = {}
    for name in rule.arguments:
        key = f"{rule.endpoint}:{name}"
        args[name] = values.get(key, values.get(name, "x"))
    return rule.build(args)[1]


def _walk_study(factory):
    """A study with a panel, round 1 closed and round 2 open, an outbox message, a team
    with one member of each role, and a pending invitation."""
    from flask import current_app

    from .flows import close, launch, link_for_panellist, open_link, vote

    owner = factory.facilitator("owner@example.org")
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    launch(study)
    voter = current_app.test_client()
    open_link(voter, link_for_panellist(study, panel[0].id))
    vote(voter, {i.id: 8 for i in study.items},
         extra={f"comment-{study.items[0].id}": "A comment to moderate"})
    close(study)
    launch(study)
    members = {Role.OWNER: owner}
    for role in (Role.EDITOR, Role.VIEWER, Role.STATISTICIAN):
        members[role] = factory.facilitator(f"{role.value}@example.org")
        ops.add_facilitator_to_study(study, members[role], "test", role=role.value)
    invitation = team_ops.invite(study, "new@example.org", "viewer", owner)
    db.session.commit()
    owner_seat = db.session.scalar(sa.select(StudyMembership.id).where(
        StudyMembership.study_id == study.id, StudyMembership.facilitator_id == owner.id))
    section = study.sections[0]
    values = {
        "slug": study.slug, "pseudonym": study.panellists[0].pseudonym,
        "item_id": study.items[0].id, "number": 1, "what": "ratings", "fmt": "csv",
        "message_id": db.session.scalar(sa.select(sa.func.min(OutboxMessage.id))
                                        .where(OutboxMessage.study_id == study.id)),
        "member_id": owner_seat, "invitation_id": invitation.id,
        # No decision or suggestion exists yet: the view runs and answers 404 for these.
        "decision_id": 10**6, "suggestion_id": 10**6, "hook_id": 10**6, "kind": "invitation",
        "rating_id": db.session.scalar(sa.select(sa.func.min(Rating.id)).where(
            Rating.comment != "")),
        "builder.group:key": study.groups[0].key, "builder.delete_group:key": "nope",
        "key": section.key,
        "builder.statement:key": study.items[0].key,
        "builder.move_statement:key": study.items[0].key,
        "builder.delete_statement:key": "nope",
        "builder.delete_section:key": "nope",
    }
    return study, members, values


def _record_calls(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap every view so the test knows which ones ran (the role check comes first)."""
    called: list[str] = []
    for endpoint, view in list(app.view_functions.items()):
        def wrapper(*args, _view=view, _endpoint=endpoint, **kwargs):
            called.append(_endpoint)
            return _view(*args, **kwargs)
        monkeypatch.setitem(app.view_functions, endpoint,
                            functools.update_wrapper(wrapper, view))
    return called


def test_every_study_route_names_the_permission_it_needs(app):
    rules = _study_rules(app)
    assert len(rules) >= 50
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods & set(METHODS)):
            assert permission_for(view, method) is not None, (rule.endpoint, method)


def test_the_role_table_is_what_the_docs_say():
    assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(Permission)
    assert Permission.MANAGE_TEAM not in ROLE_PERMISSIONS[Role.EDITOR]
    assert all(not allows(Role.VIEWER, p) for p in (
        Permission.EDIT_DEFINITION, Permission.MANAGE_PANEL, Permission.RUN_ROUNDS,
        Permission.DECIDE, Permission.MANAGE_TEAM, Permission.ARCHIVE_STUDY,
        Permission.CONFIGURE_EXPORTS))
    assert {p for p in Permission if allows(Role.STATISTICIAN, p)} == {
        Permission.VIEW_RESULTS, Permission.EXPORT, Permission.CONFIGURE_EXPORTS,
        Permission.VIEW_TEAM}
    assert not allows("member", Permission.VIEW_STUDY) and not allows(None, Permission.EXPORT)


@pytest.mark.parametrize("role", [*Role, None], ids=[*(r.value for r in Role), "outsider"])
def test_every_role_on_every_study_route(app, client, factory, monkeypatch, role):
    study, members, values = _walk_study(factory)
    if role is None:
        factory.facilitator("outsider@example.org")
        factory.study(owner=db.session.scalar(sa.select(type(members[Role.OWNER])).where(
            type(members[Role.OWNER]).email == "outsider@example.org")))
        email = "outsider@example.org"
    else:
        email = members[role].email
    assert login(client, email).status_code == 302
    token = csrf_token(client, "/account/")
    called = _record_calls(app, monkeypatch)
    walked = 0
    for rule in _study_rules(app):
        view = app.view_functions[rule.endpoint]
        url = _fill(rule, values)
        for method in sorted(rule.methods & set(METHODS)):
            called.clear()
            response = client.open(url, method=method, data={"csrf_token": token})
            status = response.status_code
            walked += 1
            where = (role, method, url, status)
            if role is None:
                assert status == 404, where
                body = response.get_data(as_text=True)
                assert study.title not in body, where
                assert not re.search(r"expert\d+\.\d@example\.org", body), where
            elif allows(role, permission_for(view, method)):
                assert rule.endpoint in called, where  # the view ran
                assert status < 500 and status != 403, where
            else:
                assert status == 403, where
                assert rule.endpoint not in called, where
    assert walked >= 60


@pytest.mark.parametrize("path", ["/", "/studies/whatever/", "/studies/whatever/panel",
                                  "/studies/whatever/rounds/", "/studies/whatever/outbox",
                                  "/studies/whatever/exports/", "/studies/whatever/audit",
                                  "/studies/whatever/rounds/1/results",
                                  "/studies/whatever/team/", "/account/", "/admin/accounts"])
def test_console_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_only_site_admins_open_the_accounts_page(client, factory):
    factory.facilitator("plain@example.org")
    factory.facilitator("admin@example.org", is_admin=True)
    login(client, "plain@example.org")
    token = csrf_token(client, "/account/")
    assert client.get("/admin/accounts").status_code == 403
    for path in ("/admin/accounts", "/admin/accounts/1/disable", "/admin/accounts/1/enable"):
        assert client.post(path, data={"csrf_token": token, "email": "x@example.org"}
                           ).status_code == 403, path
    client.post("/logout", data={"csrf_token": token})
    login(client, "admin@example.org")
    assert client.get("/admin/accounts").status_code == 200


def _fill_slug(rule, slug: str) -> str:
    values: dict[str, object] = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        if name == "slug":
            values[name] = slug
        elif name == "pseudonym":
            values[name] = "P0001"
        else:
            values[name] = 1 if "Integer" in converter else "x"
    return rule.build(values)[1]


def test_every_api_route_answers_404_for_another_facilitators_study(app, client, factory):
    """The API's object-level walk: a token reaches only its facilitator's studies."""
    from .api_support import Api, make_token
    from .flows import close, launch

    me = factory.facilitator("me@example.org")
    factory.study(owner=me)
    theirs = factory.study(owner=factory.facilitator("them@example.org"))
    factory.panel(theirs)
    launch(theirs)
    close(theirs)
    launch(theirs)
    api = Api(client, make_token(me))
    rules = [r for r in app.url_map.iter_rules()
             if r.endpoint.startswith("api.") and "slug" in r.arguments]
    assert len(rules) >= 15
    for rule in rules:
        url = _fill_slug(rule, theirs.slug).removeprefix("/api/v1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = api.call(method, url, json={})
            # 404, never 403: a 403 would tell that the study exists.
            assert response.status_code == 404, (method, url, response.status_code)
            assert response.headers["Content-Type"] == "application/problem+json"
            body = response.get_data(as_text=True)
            assert theirs.title not in body
            assert not re.search(r"expert\d+\.\d@example\.org", body)
    listed = api.get("/studies").get_json()["studies"]
    assert theirs.slug not in {s["slug"] for s in listed}


API_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _api_study_rules(app: Flask):
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint.startswith("api.") and "slug" in r.arguments),
                  key=lambda r: r.rule)


def test_every_api_study_route_names_the_permission_it_needs(app):
    rules = _api_study_rules(app)
    assert len(rules) >= 20
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods & API_METHODS):
            assert permission_for(view, method) is not None, (rule.endpoint, method)


@pytest.mark.parametrize("role", [*Role, None], ids=[*(r.value for r in Role), "outsider"])
def test_every_role_and_token_scope_on_every_api_route(app, client, factory, monkeypatch, role):
    """Each API route against ROLE_PERMISSIONS, with a read and a read-write token: the view
    runs where the role has the route's permission and the token the scope it needs
    (``read`` only for GETs needing a view or export permission), else 403 before the view
    (``auth.scope_missing`` first, then ``auth.role``); an outsider gets 404 everywhere."""
    from delphi.api import auth as api_auth

    from .api_support import Api, make_token

    study, members, values = _walk_study(factory)
    api_auth.windows.reset()
    if role is None:
        member = factory.facilitator("outsider@example.org")
        factory.study(owner=member)
    else:
        member = members[role]
    apis = {"read write": Api(client, make_token(member)),
            "read": Api(client, make_token(member, scopes="read"))}
    called = _record_calls(app, monkeypatch)
    walked = 0
    for rule in _api_study_rules(app):
        view = app.view_functions[rule.endpoint]
        url = _fill(rule, values).removeprefix("/api/v1")
        for method in sorted(rule.methods & API_METHODS):
            needed = permission_for(view, method)
            assert needed is not None, (rule.endpoint, method)
            for scopes, api in apis.items():
                called.clear()
                response = api.call(method, url, json={})
                status = response.status_code
                code = (response.get_json(silent=True) or {}).get("code")
                walked += 1
                where = (role, scopes, method, url, status, code)
                if role is None:
                    assert status == 404 and code == "study.not_found", where
                    assert study.title not in response.get_data(as_text=True), where
                elif api_auth.scope_for(method, needed) not in scopes.split():
                    assert status == 403 and code == "auth.scope_missing", where
                    assert rule.endpoint not in called, where
                elif allows(role, needed):
                    assert rule.endpoint in called, where  # the view ran
                    assert status < 500 and status != 403, where
                else:
                    assert status == 403 and code == "auth.role", where
                    assert rule.endpoint not in called, where
    assert walked >= 50
    api_auth.windows.reset()


def test_the_api_docs_give_each_routes_permission_and_scope(app):
    """docs/api.md's roles table has a row for every API study route, with its permission,
    the token scope and the roles it allows, as the code has them."""
    from pathlib import Path

    from delphi.api.auth import scope_for

    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    for rule in _api_study_rules(app):
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
        for method in sorted(rule.methods & API_METHODS):
            needed = permission_for(app.view_functions[rule.endpoint], method)
            assert needed is not None
            cells = " | ".join("yes" if allows(r, needed) else "–" for r in Role)
            row = (f"| `{method} {path}` | `{needed.value}` | {scope_for(method, needed)} | "
                   f"{cells} |")
            assert row in text, row
