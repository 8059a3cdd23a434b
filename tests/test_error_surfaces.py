"""One error handler per surface: pages, the command line, and problem+json under /api/."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from delphi import create_app
from delphi.errors import PROBLEM_MIMETYPE, problem
from delphi.extensions import db
from delphi.models import AuditEvent, DomainError, Round

OWNER = "owner@example.org"


@pytest.fixture
def api_app(tmp_path) -> Flask:
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "PROPAGATE_EXCEPTIONS": False,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"})

    def refuse():
        raise DomainError("round.not_open", "Round {number} is not open.", number=2)

    def boom():
        raise RuntimeError("a bug")

    app.add_url_rule("/api/refuse", "api_refuse", refuse)
    app.add_url_rule("/refuse", "page_refuse", refuse)
    app.add_url_rule("/api/boom", "api_boom", boom)
    app.add_url_rule("/api/post", "api_post", lambda: "ok", methods=["POST"])
    return app


def test_a_refusal_under_api_is_problem_json_with_its_code_and_parameters(api_app):
    response = api_app.test_client().get("/api/refuse")
    assert response.status_code == 409
    assert response.mimetype == PROBLEM_MIMETYPE
    assert response.get_json() == {
        "type": "urn:delphi:error:round.not_open", "title": "Conflict", "status": 409,
        "detail": "Round 2 is not open.", "code": "round.not_open", "number": 2}


def test_the_same_refusal_on_a_page_is_the_409_page(api_app):
    response = api_app.test_client().get("/refuse")
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    assert "Round 2 is not open. Nothing was changed." in response.get_data(as_text=True)


@pytest.mark.parametrize(("path", "method", "status", "code"), [
    ("/api/nothing-here", "get", 404, "http.404"),
    ("/api/refuse", "post", 405, "http.405"),
    ("/api/boom", "get", 500, "http.500"),
])
def test_http_errors_under_api_are_problem_json(api_app, path, method, status, code):
    response = getattr(api_app.test_client(), method)(path)
    assert response.status_code == status
    assert response.mimetype == PROBLEM_MIMETYPE
    body = response.get_json()
    assert (body["status"], body["code"], body["type"]) == (status, code,
                                                            f"urn:delphi:error:{code}")
    assert body["title"] and body["detail"] and "Traceback" not in body["detail"]


def test_a_missing_csrf_token_under_api_is_problem_json(api_app):
    api_app.config["WTF_CSRF_ENABLED"] = True
    response = api_app.test_client().post("/api/post")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM_MIMETYPE
    assert response.get_json()["code"] == "http.csrf"


def test_problem_builds_the_standard_members_and_keeps_them(api_app):
    with api_app.test_request_context("/api/x"):
        response = problem(422, "survey.bad_field", "The title is empty.", field="title",
                           type="overridden?", title="overridden?")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM_MIMETYPE
    assert response.get_json() == {
        "type": "urn:delphi:error:survey.bad_field", "title": "Unprocessable Entity",
        "status": 422, "detail": "The title is empty.", "code": "survey.bad_field",
        "field": "title"}


def test_a_refused_command_says_why_exits_non_zero_and_saves_nothing(app, runner, factory):
    owner = factory.facilitator(OWNER)
    factory.study(owner=owner, slug="no-panel")
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    result = runner.invoke(args=["launch-round", "no-panel", "--as", OWNER])
    assert result.exit_code == 1
    assert "Error: the panel is empty: import the panellists first" in result.output
    assert "Traceback" not in result.output
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == audit_before


def test_a_command_refused_after_it_wrote_leaves_nothing_half_saved(app, runner, factory,
                                                                   monkeypatch):
    """The refusal comes after the round, its items and invitations were flushed."""
    from delphi import audit

    owner = factory.facilitator(OWNER)
    study = factory.study(owner=owner, slug="late-refusal")
    factory.panel(study)

    def refuse(*_args, **_kwargs):
        raise DomainError("round.test_refusal", "refused at the end")

    monkeypatch.setattr(audit, "record", refuse)
    result = runner.invoke(args=["launch-round", "late-refusal", "--as", OWNER])
    assert result.exit_code == 1
    assert "Error: refused at the end" in result.output
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0


def test_a_refused_console_button_flashes_the_message_and_changes_nothing(app, factory):
    from .conftest import csrf_token, login

    owner = factory.facilitator(OWNER)
    factory.study(owner=owner, slug="no-round")
    client = app.test_client()
    login(client, OWNER)
    token = csrf_token(client, "/studies/no-round/rounds/")
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    page = client.post("/studies/no-round/rounds/remind", data={"csrf_token": token},
                       follow_redirects=True)
    assert page.status_code == 200
    assert "no round is open" in page.get_data(as_text=True)
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == audit_before
