"""The JSON API: tokens, problem documents, paging, ETags and every resource."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from delphi.api import auth as api_auth
from delphi.extensions import db
from delphi.models import ApiToken, AuditEvent, Item, Panellist, RoundResult, Study, utcnow

from .api_support import Api, make_token, submit_ratings
from .conftest import login
from .flows import close, launch

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _fresh_rate_windows():
    api_auth.windows.reset()
    yield
    api_auth.windows.reset()


@pytest.fixture
def owner(factory):
    return factory.facilitator("owner@example.org", name="Olive Owner")


@pytest.fixture
def study(factory, owner):
    study = factory.study(owner=owner, slug="alpha")
    factory.panel(study, per_group=3)
    return study


@pytest.fixture
def api(client, owner):
    return Api(client, make_token(owner))


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(True))
    assert response.headers["Content-Type"] == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["detail"]
    if code:
        assert body["code"] == code, body
    return body


def audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


# -- tokens ---------------------------------------------------------------------------------

def test_a_token_is_stored_only_as_its_hash_and_names_its_facilitator(api, owner):
    row = db.session.scalar(sa.select(ApiToken))
    assert api.secret.startswith("dlp_") and len(api.secret) > 40
    assert row.secret_hash == ApiToken.hash(api.secret) and api.secret not in row.secret_hash
    assert api.secret[:10] == row.prefix
    me = api.get("/me")
    assert me.status_code == 200
    assert me.get_json()["email"] == "owner@example.org"
    assert me.get_json()["scopes"] == ["read", "write"]
    db.session.refresh(row)
    assert row.last_used_at is not None


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic abc",
                                    "Bearer dlp_" + "x" * 43])
def test_a_call_without_a_good_token_is_401(client, study, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/studies", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_expired_and_disabled_tokens_stop_working(client, owner, study):
    secret = make_token(owner)
    api = Api(client, secret)
    assert api.get("/studies").status_code == 200
    token = db.session.scalar(sa.select(ApiToken))
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_problem(api.get("/studies"), 401, "auth.token_invalid")
    token.expires_at = utcnow() + timedelta(days=1)
    owner.is_enabled = False
    db.session.commit()
    assert_problem(api.get("/studies"), 401, "auth.token_invalid")
    owner.is_enabled = True
    token.revoked_at = utcnow()
    db.session.commit()
    assert_problem(api.get("/studies"), 401, "auth.token_invalid")


def test_a_console_session_cookie_does_not_authenticate_the_api(client, owner, study):
    assert login(client, "owner@example.org").status_code == 302
    assert client.get("/").status_code == 200  # logged in to the console
    assert_problem(client.get("/api/v1/studies"), 401, "auth.token_missing")
    assert_problem(client.post("/api/v1/studies/alpha/rounds", json={}), 401)
    assert study.rounds == []


def test_writes_need_no_csrf_token_but_the_write_scope(client, owner, study):
    reader = Api(client, make_token(owner, scopes="read"))
    before = audit_count()
    assert reader.get("/studies/alpha").status_code == 200
    assert_problem(reader.post("/studies/alpha/rounds", json={}), 403, "auth.scope_missing")
    assert_problem(reader.post("/studies", json={"yaml": "slug: x"}), 403, "auth.scope_missing")
    assert audit_count() == before and study.rounds == []
    writer = Api(client, make_token(owner))
    assert writer.post("/studies/alpha/rounds", json={}).status_code == 201


def test_each_token_is_rate_limited(app, api, study):
    app.config["RATE_LIMIT_API"] = "3 per minute"
    try:
        for _ in range(3):
            assert api.get("/me").status_code == 200
        refused = api.get("/me")
        assert_problem(refused, 429, "auth.rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
    finally:
        app.config["RATE_LIMIT_API"] = "120 per minute"


def test_tokens_are_created_shown_once_and_revoked_in_the_console(client, owner):
    from .conftest import csrf_token

    login(client, "owner@example.org")
    page = client.get("/account/api-tokens/")
    assert page.status_code == 200 and "You have no API tokens" in page.get_data(True)
    token = csrf_token(client, "/account/api-tokens/")
    made = client.post("/account/api-tokens/", data={"csrf_token": token, "name": "R laptop",
                                                     "scopes": "read", "days": "30"})
    html = made.get_data(as_text=True)
    assert made.status_code == 200
    secret = html.split('id="token-secret" type="text" readonly value="')[1].split('"')[0]
    assert Api(client, secret).get("/me").get_json()["token_name"] == "R laptop"
    again = client.get("/account/api-tokens/").get_data(as_text=True)
    assert secret not in again and secret[:10] in again
    row = db.session.scalar(sa.select(ApiToken))
    client.post(f"/account/api-tokens/{row.id}/revoke", data={"csrf_token": token})
    assert_problem(Api(client, secret).get("/me"), 401)
    assert db.session.scalar(sa.select(AuditEvent.action).where(
        AuditEvent.action == "api_token.revoked")) == "api_token.revoked"


@pytest.mark.parametrize("name", ["", "x" * 81, "bad\x00name", "<script>\nalert(1)"])
def test_the_console_refuses_a_bad_token_name_and_creates_nothing(client, owner, name):
    from .conftest import csrf_token

    login(client, "owner@example.org")
    token = csrf_token(client, "/account/api-tokens/")
    response = client.post("/account/api-tokens/", data={"csrf_token": token, "name": name,
                                                         "scopes": "read", "days": "30"})
    assert response.status_code == 400
    if "\x00" not in name:  # a NUL is refused before any form, as everywhere
        assert 'class="field-error"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_another_facilitators_token_cannot_be_revoked_from_the_console(client, owner, factory):
    from .conftest import csrf_token

    other = factory.facilitator("other@example.org")
    make_token(other)
    theirs = db.session.scalar(sa.select(ApiToken))
    login(client, "owner@example.org")
    token = csrf_token(client, "/account/api-tokens/")
    assert client.post(f"/account/api-tokens/{theirs.id}/revoke",
                       data={"csrf_token": token}).status_code == 404
    db.session.refresh(theirs)
    assert theirs.revoked_at is None


def test_the_cli_creates_lists_and_revokes_tokens(app, owner):
    runner = app.test_cli_runner(mix_stderr=False) if "mix_stderr" in \
        CliRunner.__init__.__code__.co_varnames else app.test_cli_runner()
    made = runner.invoke(args=["api-token", "create", "--name", "cron", "--scope", "write",
                               "--days", "7", "--as", "owner@example.org"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    row = db.session.scalar(sa.select(ApiToken))
    assert row.secret_hash == ApiToken.hash(secret) and row.scopes == "read write"
    listed = runner.invoke(args=["api-token", "list", "--as", "owner@example.org"])
    assert "cron" in listed.output and secret not in listed.output
    assert runner.invoke(args=["api-token", "create", "--name", "x", "--days", "999",
                               "--as", "owner@example.org"]).exit_code != 0
    assert runner.invoke(args=["api-token", "revoke", str(row.id)]).exit_code != 0  # no --as
    revoked = runner.invoke(args=["api-token", "revoke", str(row.id), "--as",
                                  "owner@example.org"])
    assert revoked.exit_code == 0, revoked.output
    db.session.refresh(row)
    assert row.revoked_at is not None


# -- errors, paging, ETags ------------------------------------------------------------------

def test_unknown_routes_and_methods_are_problem_documents(api, study):
    assert_problem(api.get("/nothing"), 404, "http.404")
    assert_problem(api.call("DELETE", "/studies"), 405, "http.405")


def test_panel_pages_follow_the_cursor_to_the_end(api, study):
    seen, cursor, pages = [], None, 0
    while True:
        response = api.get("/studies/alpha/panel", query_string={
            "limit": 4, **({"cursor": cursor} if cursor else {})})
        body = response.get_json()
        seen += [p["pseudonym"] for p in body["panellists"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert pages == 2 and seen == [f"P{n:04d}" for n in range(1, 7)]


@pytest.mark.parametrize("query", [{"cursor": "garbage!"}, {"cursor": "aWQ6LTE"},
                                   {"limit": 0}, {"limit": 201}, {"limit": "x"}])
def test_bad_paging_input_is_a_problem(api, study, query):
    response = api.get("/studies/alpha/panel", query_string=query)
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)


def test_reads_carry_an_etag_and_answer_304_when_unchanged(api, study):
    first = api.get("/studies/alpha")
    etag = first.headers["ETag"]
    assert etag and first.headers["Cache-Control"].startswith("private")
    again = api.get("/studies/alpha", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    api.post("/studies/alpha/panel", json={"name": "New One", "email": "new@example.org",
                                           "group": "clin"})
    changed = api.get("/studies/alpha", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


# -- studies --------------------------------------------------------------------------------

SURVEY_YAML = """
slug: beta
title: Beta study
groups: [{key: g, name: Group}]
sections:
  - key: s
    title: Section
    items: [{key: s-01, text: A statement, rationale: Why (Source 2020).}]
"""


def test_studies_are_listed_read_and_created_from_json_or_yaml(api, study):
    listed = api.get("/studies").get_json()
    assert [s["slug"] for s in listed["studies"]] == ["alpha"] and listed["next"] is None
    made = api.post("/studies", json={"yaml": SURVEY_YAML})
    assert made.status_code == 201, made.get_json()
    assert made.headers["Location"].endswith("/api/v1/studies/beta")
    doc = api.get("/studies/beta").get_json()
    assert doc["state"] == "draft" and doc["role"] == "owner"
    assert doc["definition"]["sections"][0]["items"][0]["text"] == "A statement"
    doc["definition"]["slug"] = "gamma"
    doc["definition"]["title"] = "Gamma"
    assert api.post("/studies", json={"definition": doc["definition"]}).status_code == 201
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "study.imported")
                              .order_by(AuditEvent.id.desc()))
    assert event.actor == "facilitator:owner@example.org"


@pytest.mark.parametrize("body, code", [
    ({}, "survey.one_of"),
    ({"yaml": SURVEY_YAML, "definition": {}}, "survey.one_of"),
    ({"yaml": "slug: [unclosed"}, "survey.invalid"),
    ({"yaml": SURVEY_YAML.replace("Beta study", "")}, "survey.invalid"),
    ({"yaml": SURVEY_YAML.replace("Beta study", "x" * 400)}, "survey.invalid"),
    ({"yaml": SURVEY_YAML.replace("Beta study", "a\x00b")}, "request.nul"),
    ({"yaml": SURVEY_YAML.replace("beta", "<script>")}, "survey.invalid"),
    ({"definition": {"slug": "x"}}, "survey.invalid"),
    ({"definition": {}}, "survey.invalid"),
    ({"yaml": "{}"}, "survey.invalid"),
    ({"yaml": SURVEY_YAML, "extra": 1}, "request.invalid"),
    ({"definition": "not an object"}, "request.invalid"),
])
def test_a_bad_definition_is_a_422_problem_and_creates_nothing(api, study, body, code):
    before = audit_count()
    body_ = assert_problem(api.post("/studies", json=body), 422, code)
    if code != "survey.one_of":
        assert body_["errors"], body_
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Study)) == 1
    assert audit_count() == before


def test_a_body_that_is_not_json_is_a_problem(api, study):
    response = api.post("/studies", data="slug: beta", content_type="application/yaml")
    assert_problem(response, 415, "request.media_type")
    response = api.post("/studies", data="{not json", content_type="application/json")
    assert_problem(response, 400, "request.json_invalid")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Study)) == 1


def test_a_slug_taken_is_a_409(api, study):
    taken = SURVEY_YAML.replace("slug: beta", "slug: alpha")
    assert_problem(api.post("/studies", json={"yaml": taken}), 409, "study.slug_taken")


def test_a_draft_definition_is_updated_and_a_running_one_refused(api, study):
    doc = api.get("/studies/alpha").get_json()["definition"]
    doc["title"] = "Alpha, edited"
    updated = api.put("/studies/alpha/definition", json={"definition": doc})
    assert updated.status_code == 200 and updated.get_json()["title"] == "Alpha, edited"
    doc["slug"] = "other"
    assert_problem(api.put("/studies/alpha/definition", json={"definition": doc}), 409,
                   "study.slug_fixed")
    doc["slug"] = "alpha"
    launch(study)
    doc["title"] = "Too late"
    assert_problem(api.put("/studies/alpha/definition", json={"definition": doc}), 409,
                   "study.has_rounds")
    db.session.refresh(study)
    assert study.title == "Alpha, edited"


# -- panel ----------------------------------------------------------------------------------

def test_panellists_are_added_corrected_and_withdrawn(api, study):
    made = api.post("/studies/alpha/panel", json={"name": "Nia Nurse", "email": "NIA@example.org",
                                                  "group": "parent",
                                                  "attributes": {"country": "NZ"}})
    assert made.status_code == 201, made.get_json()
    person = made.get_json()
    assert person["pseudonym"] == "P0007" and person["email"] == "nia@example.org"
    assert person["attributes"] == {"country": "NZ"}
    fixed = api.patch("/studies/alpha/panel/P0007", json={"name": "Nia Nurse-Smith"})
    assert fixed.get_json()["name"] == "Nia Nurse-Smith"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "panellist.edited"))
    assert event.detail["before"] == {"name": "Nia Nurse"}
    out = api.post("/studies/alpha/panel/P0007/withdraw", json={"reason": "moved abroad"})
    assert out.status_code == 200 and out.get_json()["active"] is False
    assert_problem(api.post("/studies/alpha/panel/P0007/withdraw", json={}), 409)
    assert_problem(api.get("/studies/alpha/panel/P9999"), 404, "panel.not_found")


@pytest.mark.parametrize("body", [
    {"name": "", "email": "a@example.org", "group": "clin"},
    {"name": "x" * 201, "email": "a@example.org", "group": "clin"},
    {"name": "A\x00B", "email": "a@example.org", "group": "clin"},
    {"name": "A", "email": "not-an-address", "group": "clin"},
    {"name": "A", "email": "a@example.org", "group": "nobody"},
    {"name": "A", "email": "expert1.0@example.org", "group": "clin"},
    {"name": "A", "email": "a@example.org"},
    {"name": "<script>", "email": "a@example.org", "group": "clin", "extra": "x"},
])
def test_a_bad_panellist_is_refused_and_nothing_added(api, study, body):
    before = audit_count()
    response = api.post("/studies/alpha/panel", json=body)
    assert response.status_code == 422
    assert assert_problem(response, 422)["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Panellist)) == 6
    assert audit_count() == before


@pytest.mark.parametrize("body", [{"email": "expert1.0@example.org"}, {"name": ""},
                                  {"name": "a\x00"}, {"email": "x" * 300}, {"pseudonym": "P1"}])
def test_a_bad_correction_changes_nothing(api, study, body):
    response = api.patch("/studies/alpha/panel/P0002", json=body)
    assert response.status_code in (409, 422)
    assert_problem(response, response.status_code)
    assert db.session.scalar(sa.select(Panellist.name).where(Panellist.pseudonym == "P0002")) \
        .startswith("Expert")


def test_the_panel_file_is_imported_all_or_none_with_errors_per_line(api, study):
    bad = "name,email,group\nAda,ada@example.org,clin\nBob,not-an-email,clin\n,c@example.org,x\n"
    body = assert_problem(api.post("/studies/alpha/panel-import", json={"csv": bad}), 422,
                          "panel.rows_invalid")
    assert [e["where"] for e in body["errors"]] == ["line 3", "line 4"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Panellist)) == 6
    good = "name,email,group\nAda,ada@example.org,clin\nBea,bea@example.org,parent\n"
    made = api.post("/studies/alpha/panel-import", json={"csv": good})
    assert made.status_code == 201 and made.get_json()["added"] == ["P0007", "P0008"]


# -- rounds, results, decisions -----------------------------------------------------------

def test_a_round_is_launched_extended_reminded_and_closed(api, study):
    closes = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    launched = api.post("/studies/alpha/rounds", json={"closes_at": closes.isoformat()})
    assert launched.status_code == 201, launched.get_json()
    body = launched.get_json()
    assert body["number"] == 1 and body["state"] == "open" and body["invited"] == 6
    assert {g["group"]: g["invited"] for g in body["progress"]} == {"clin": 3, "parent": 3}
    assert_problem(api.post("/studies/alpha/rounds", json={}), 409)
    later = closes + timedelta(days=3)
    extended = api.post("/studies/alpha/rounds/current/extend",
                        json={"closes_at": later.isoformat()})
    assert extended.status_code == 200
    assert datetime.fromisoformat(extended.get_json()["closes_at"]) == later
    assert_problem(api.post("/studies/alpha/rounds/current/extend",
                            json={"closes_at": "2001-01-01T00:00:00+00:00"}), 409,
                   "round.deadline_past")
    assert_problem(api.post("/studies/alpha/rounds/current/extend",
                            json={"closes_at": "2031-01-01T00:00:00"}), 422)  # no zone
    assert api.post("/studies/alpha/rounds/current/remind").get_json() == {"reminders": 6}
    submit_ratings(study, [8, 9, 7])
    progress = api.get("/studies/alpha/rounds/1").get_json()
    assert progress["submitted"] == 6
    assert_problem(api.get("/studies/alpha/rounds/1/results"), 409, "results.not_ready")
    closed = api.post("/studies/alpha/rounds/current/close")
    assert closed.status_code == 200 and closed.get_json()["state"] == "closed"
    assert_problem(api.post("/studies/alpha/rounds/current/close"), 409)
    assert_problem(api.post("/studies/alpha/rounds/current/remind"), 409)
    assert_problem(api.get("/studies/alpha/rounds/9"), 404, "round.not_found")
    actors = set(db.session.scalars(sa.select(AuditEvent.actor).where(
        AuditEvent.action.in_(["round.launched", "round.deadline_changed", "round.reminded",
                               "round.closed"]))))
    assert actors == {"facilitator:owner@example.org"}


def test_results_are_the_stored_analysis_and_match_delphi_analyze(app, api, study, tmp_path):
    launch(study)
    submit_ratings(study, [8, 9, 7, 2])
    close(study)
    body = api.get("/studies/alpha/rounds/1/results").get_json()
    stored = db.session.scalar(sa.select(RoundResult.data))
    assert body["analysis"] == json.loads(json.dumps(stored))
    ratings = api.get("/studies/alpha/exports/ratings/csv")
    assert ratings.status_code == 200 and ratings.headers["Content-Type"].startswith("text/csv")
    path = tmp_path / "ratings.csv"
    path.write_bytes(ratings.data)
    from delphi.analyze_cli import analyze_command

    result = CliRunner().invoke(analyze_command, [str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    mine = json.loads(result.output)
    api_rows = {(r["item"], r.get("group")): r for r in body["analysis"]["items"]
                if r["round"] == 1}
    cli_rows = {(r["item"], r.get("group")): r for r in mine["items"] if r["round"] == 1}
    pooled = [k for k in api_rows if k[1] in (None, "all", "")]
    assert pooled
    for key in pooled:
        assert api_rows[key]["median"] == cli_rows[key]["median"], key


def test_decisions_are_recorded_and_listed(api, study):
    launch(study)
    submit_ratings(study, [8, 9, 7])
    close(study)
    carried = api.post("/studies/alpha/decisions", json={
        "kind": "carry", "items": ["a-01"], "reason": "Close to consensus"})
    assert carried.status_code == 201, carried.get_json()
    dropped = api.post("/studies/alpha/decisions", json={
        "kind": "drop", "items": ["a-02"], "reason": "Agreed", "outcome": "consensus_in"})
    assert dropped.status_code == 201
    reworded = api.post("/studies/alpha/decisions", json={
        "kind": "reword", "items": ["b-01"], "reason": "Clearer", "text": "Third, clearer"})
    assert reworded.status_code == 201 and reworded.get_json()["kind"] == "reword"
    listed = api.get("/studies/alpha/decisions").get_json()["decisions"]
    assert [d["kind"] for d in listed] == ["carry", "drop", "reword"]
    assert listed[1]["outcome"] == "consensus_in" and listed[0]["items"] == ["a-01"]


@pytest.mark.parametrize("body, status", [
    ({"kind": "drop", "items": ["a-01"], "reason": "x"}, 422),  # no outcome
    ({"kind": "carry", "items": ["zz-99"], "reason": "x"}, 422),
    ({"kind": "carry", "items": [], "reason": "x"}, 422),
    ({"kind": "carry", "items": ["a-01"], "reason": ""}, 422),
    ({"kind": "merge", "items": ["a-01"], "reason": "x"}, 422),
    ({"kind": "reword", "items": ["a-01", "a-02"], "reason": "x", "text": "y"}, 422),
    ({"kind": "reword", "items": ["a-01"], "reason": "x", "text": "First statement"}, 409),
])
def test_a_refused_decision_changes_nothing(api, study, body, status):
    launch(study)
    submit_ratings(study, [8])
    close(study)
    before = audit_count()
    assert_problem(api.post("/studies/alpha/decisions", json=body), status)
    assert api.get("/studies/alpha/decisions").get_json()["decisions"] == []
    assert audit_count() == before


def _after_round_one(study):
    launch(study)
    submit_ratings(study, [8, 9, 7])
    close(study)


def _items() -> dict[str, Item]:
    return {i.label: i for i in db.session.scalars(sa.select(Item))}


def test_a_reword_takes_the_consoles_plain_language_and_rationale(api, study):
    _after_round_one(study)
    made = api.post("/studies/alpha/decisions", json={
        "kind": "reword", "items": ["a-01"], "text": "First, clearer", "reason": "Clearer",
        "plain_text": "First, simply", "rationale": "New evidence"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["new"] == ["a-01.v2"] and made.get_json()["items"] == ["a-01"]
    new = _items()["a-01.v2"]
    assert (new.text, new.plain_text, new.rationale) == ("First, clearer", "First, simply",
                                                         "New evidence")
    again = api.post("/studies/alpha/decisions", json={   # the label the API answers with
        "kind": "reword", "items": ["a-01.v2"], "text": "x", "reason": "y"})
    assert_problem(again, 409, "decision.item_not_rated")


def test_a_split_makes_one_statement_per_text(api, study):
    _after_round_one(study)
    made = api.post("/studies/alpha/decisions", json={
        "kind": "split", "items": ["b-01"], "texts": ["Third, part one", "Third, part two"],
        "plain_texts": ["Part one, simply", "Part two, simply"], "rationale": "Two ideas",
        "reason": "It asked two things"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["kind"] == "split" and body["new"] == ["b-01-a", "b-01-b"]
    items = _items()
    assert items["b-01"].status.value == "superseded"
    assert items["b-01-b"].plain_text == "Part two, simply"
    assert items["b-01-a"].rationale == "Two ideas"


def test_a_merge_replaces_several_statements_by_one(api, study):
    _after_round_one(study)
    made = api.post("/studies/alpha/decisions", json={
        "kind": "merge", "items": ["a-01", "a-02"], "key": "a-12", "text": "First and second",
        "plain_text": "Both, simply", "reason": "They overlap"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["items"] == ["a-01", "a-02"] and made.get_json()["new"] == ["a-12"]
    items = _items()
    assert items["a-12"].plain_text == "Both, simply"
    assert {items["a-01"].status.value, items["a-02"].status.value} == {"superseded"}


def test_a_new_statement_is_added_to_a_section(api, study):
    _after_round_one(study)
    made = api.post("/studies/alpha/decisions", json={
        "kind": "add", "section": "b", "key": "b-02", "text": "A new statement",
        "plain_text": "New, simply", "rationale": "The committee's", "reason": "Missing"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["items"] == [] and made.get_json()["new"] == ["b-02"]
    item = _items()["b-02"]
    assert item.section.key == "b" and item.origin.value == "proposed"
    assert (item.plain_text, item.rationale) == ("New, simply", "The committee's")


def test_a_suggestion_is_listed_and_becomes_a_statement(api, study):
    from delphi.models import Suggestion

    _after_round_one(study)
    db.session.add(Suggestion(round_id=study.rounds[0].id, panellist_id=study.panellists[0].id,
                              text="Add school attendance"))
    db.session.commit()
    listed = api.get("/studies/alpha/rounds/1/suggestions").get_json()["suggestions"]
    assert [(x["text"], x["item"]) for x in listed] == [("Add school attendance", None)]
    made = api.post("/studies/alpha/decisions", json={
        "kind": "add", "section": "a", "key": "a-03", "text": "School attendance",
        "suggestion": listed[0]["id"], "reason": "Suggested in round 1"})
    assert made.status_code == 201, made.get_json()
    assert _items()["a-03"].origin.value == "suggested"
    assert api.get("/studies/alpha/rounds/1/suggestions").get_json()["suggestions"] == []
    used = api.post("/studies/alpha/decisions", json={
        "kind": "add", "section": "a", "key": "a-04", "text": "Again",
        "suggestion": listed[0]["id"], "reason": "again"})
    body = assert_problem(used, 409, "decision.suggestion_used")
    assert body["errors"] == [{"where": "body.suggestion", "message": body["detail"]}]
    assert "a-04" not in _items()


def test_a_decision_is_undone_before_the_next_launch(api, study):
    _after_round_one(study)
    split = api.post("/studies/alpha/decisions", json={
        "kind": "split", "items": ["b-01"], "texts": ["One", "Two"], "reason": "r"}).get_json()
    api.post("/studies/alpha/decisions", json={"kind": "carry", "items": ["a-01", "a-02"],
                                               "reason": "r"})
    assert api.delete(f"/studies/alpha/decisions/{split['id']}").status_code == 204
    items = _items()
    assert items["b-01"].status.value == "active" and "b-01-a" not in items
    assert [d["kind"] for d in api.get("/studies/alpha/decisions").get_json()["decisions"]] \
        == ["carry"]
    assert db.session.scalar(sa.select(AuditEvent.action).order_by(AuditEvent.id.desc())
                             .limit(1)) == "item.decision_undone"
    assert_problem(api.delete(f"/studies/alpha/decisions/{split['id']}"), 404,
                   "decision.not_found")
    carry = api.get("/studies/alpha/decisions").get_json()["decisions"][0]
    launch(study)
    assert_problem(api.delete(f"/studies/alpha/decisions/{carry['id']}"), 409,
                   "decision.round_not_closed")
    assert len(api.get("/studies/alpha/decisions").get_json()["decisions"]) == 1


@pytest.mark.parametrize("body, status, where", [
    ({"kind": "split", "items": ["b-01"], "texts": ["only one"], "reason": "r"}, 422,
     "body.texts"),
    ({"kind": "split", "items": ["b-01"], "texts": ["One", "Two"], "plain_texts": ["one"],
      "reason": "r"}, 409, "body.plain_texts"),
    ({"kind": "split", "items": ["b-01"], "texts": ["One", "Tw\x01o"], "reason": "r"}, 409,
     "body.texts"),
    ({"kind": "split", "items": ["b-01", "a-01"], "texts": ["One", "Two"], "reason": "r"}, 422,
     "body.items"),
    ({"kind": "merge", "items": ["a-01"], "key": "a-12", "text": "t", "reason": "r"}, 422,
     "body.items"),
    ({"kind": "merge", "items": ["a-01", "a-02"], "key": "b-01", "text": "t", "reason": "r"},
     409, "body.key"),
    ({"kind": "merge", "items": ["a-01", "a-02"], "key": "no spaces", "text": "t",
      "reason": "r"}, 422, "body.key"),
    ({"kind": "merge", "items": ["a-01", "a-02"], "key": "a-12", "reason": "r"}, 422,
     "body.text"),
    ({"kind": "add", "section": "zz", "key": "z-01", "text": "t", "reason": "r"}, 422,
     "body.section"),
    ({"kind": "add", "section": "a", "key": "z-01", "text": "t", "reason": "r",
      "suggestion": 999}, 422, "body.suggestion"),
    ({"kind": "add", "section": "a", "key": "z-01", "text": "t", "reason": "   "}, 409,
     "body.reason"),
    ({"kind": "add", "section": "a", "key": "z-01", "text": "t"}, 422, "body.reason"),
    ({"kind": "reword", "items": ["a-01"], "text": "t", "reason": "r", "plain": "x"}, 422,
     "body.plain"),
    ({"kind": "reword", "items": ["a-01"], "text": "t", "reason": "r",
      "rationale": "bad\x07"}, 409, "body.rationale"),
    ({"kind": "swap", "items": ["a-01"], "reason": "r"}, 422, "body.kind"),
])
def test_a_bad_decision_names_its_field_and_changes_nothing(api, study, body, status, where):
    _after_round_one(study)
    before = (audit_count(), len(_items()))
    problem = assert_problem(api.post("/studies/alpha/decisions", json=body), status)
    assert where in {e["where"] for e in problem["errors"]}, problem
    assert api.get("/studies/alpha/decisions").get_json()["decisions"] == []
    assert (audit_count(), len(_items())) == before
    assert all(i.status.value == "active" for i in _items().values())


def test_decisions_need_a_closed_round(api, study):
    assert_problem(api.post("/studies/alpha/decisions", json={
        "kind": "carry", "items": ["a-01"], "reason": "x"}), 409)


# -- exports and audit ----------------------------------------------------------------------

def test_every_export_is_offered_and_downloads(api, study):
    from delphi.exports.downloads import EXPORTS

    launch(study)
    submit_ratings(study, [8, 9, 7])
    close(study)
    offered = api.get("/studies/alpha/exports").get_json()["exports"]
    assert {(e["what"], e["format"]) for e in offered} == \
        {(w, f) for w, formats in EXPORTS.items() for f in formats}
    for entry in offered:
        response = api.client.get(entry["url"], headers={"Authorization": f"Bearer {api.secret}"})
        if entry["format"] == "pdf" and response.status_code == 409:
            continue  # WeasyPrint is an optional extra
        assert response.status_code == 200, entry
        assert response.data and "attachment" in response.headers["Content-Disposition"]
    assert_problem(api.get("/studies/alpha/exports/ratings/pdf"), 404, "export.unknown")
    assert_problem(api.get("/studies/alpha/exports/nothing/csv"), 404, "export.unknown")


def test_a_pdf_without_weasyprint_is_a_problem_not_a_500(api, study, monkeypatch):
    """Where the pdf extra is not installed (a plain `pip install -e .`), asking for a PDF
    is answered 409 with the install hint; it was an unhandled PdfUnavailable."""
    import sys

    launch(study)
    close(study)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if it were not installed
    response = api.get("/studies/alpha/exports/report/pdf")
    assert_problem(response, 409, "export.unavailable")
    assert "pip install" in response.get_json()["detail"]


def test_the_audit_log_is_paged_newest_first(api, study):
    for n in range(3):
        api.post("/studies/alpha/panel", json={"name": f"N{n}", "email": f"n{n}@example.org",
                                               "group": "clin"})
    first = api.get("/studies/alpha/audit", query_string={"limit": 2}).get_json()
    ids = [e["id"] for e in first["events"]]
    assert ids == sorted(ids, reverse=True) and first["next"]
    second = api.get("/studies/alpha/audit", query_string={"limit": 2, "cursor": first["next"]})
    assert all(e["id"] < ids[-1] for e in second.get_json()["events"])
    assert first["events"][0]["actor"] == "facilitator:owner@example.org"


# -- the document and the reference page ---------------------------------------------------

def test_the_openapi_document_is_3_1_and_describes_every_api_route(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in ("api.openapi",
                                                                      "api.reference"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", str(rule))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, path) in documented
    assert "Problem" in doc["components"]["schemas"]


def test_the_survey_definition_is_described_by_the_survey_files_own_schema(client):
    """One schema for a survey definition: the API's is the survey file's (SurveyFile)."""
    from delphi.survey_schema import json_schema

    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    ref = {"$ref": "#/components/schemas/SurveyFile"}
    assert ref in schemas["SurveyInput"]["properties"]["definition"]["anyOf"]
    assert schemas["StudyOut"]["properties"]["definition"]["$ref"] == ref["$ref"]
    survey_file = json_schema()
    assert set(schemas["SurveyFile"]["properties"]) == set(survey_file["properties"])
    assert schemas["SurveyFile"]["required"] == survey_file["required"]
    assert {f"SurveyFile_{name}" for name in survey_file["$defs"]} <= set(schemas)


def test_a_panellist_is_edited_through_the_consoles_use_case(api, study):
    """PATCH is the console's edit: the group can change, bad details name their field."""
    moved = api.patch("/studies/alpha/panel/P0001", json={"group": "parent"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["group"] == "parent"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "panellist.edited"))
    assert event.detail["after"] == {"group": "parent"}
    again = api.patch("/studies/alpha/panel/P0001", json={"group": "parent"})
    assert again.status_code == 200
    body = assert_problem(api.patch("/studies/alpha/panel/P0001",
                                    json={"email": "not an address", "group": "nobody"}),
                          422, "panellist.invalid")
    assert {e["where"] for e in body["errors"]} == {"body.email", "body.group"}


def test_the_reference_page_lists_every_operation_without_scripts(client):
    page = client.get("/api/v1/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<script" not in html
    assert "POST /api/v1/studies/{slug}/panel-import" in html
    assert 'id="schema-StudyOut"' in html
    assert '<code>split</code>: <a href="#schema-SplitIn">SplitIn</a>' in html  # by kind


def test_with_redis_the_shared_limiter_counts_per_token(app, api, study, monkeypatch):
    """With DELPHI_REDIS_URL the Flask-Limiter strategy keeps the count (here a stand-in
    that allows two hits per token)."""
    hits: dict[tuple, int] = {}

    class Strategy:
        def hit(self, item, *identifiers):  # type: ignore[no-untyped-def]
            hits[identifiers] = hits.get(identifiers, 0) + 1
            return hits[identifiers] <= 2

    monkeypatch.setitem(app.extensions, "delphi_limiter",
                        type("Limiter", (), {"limiter": Strategy()})())
    assert api.get("/me").status_code == 200 and api.get("/me").status_code == 200
    assert_problem(api.get("/me"), 429, "auth.rate_limited")
    assert list(hits) == [("api-token", "1")]


def test_a_viewer_reads_but_never_writes_and_a_statistician_reads_results_and_exports(
        client, factory, study, owner):
    """The API's roles are the console's (delphi/roles.py), route by route."""
    from delphi.studies import operations as study_ops

    _after_round_one(study)
    seats = {}
    for role in ("viewer", "statistician"):
        member = factory.facilitator(f"{role}@example.org")
        study_ops.add_facilitator_to_study(study, member, "test", role=role)
        seats[role] = Api(client, make_token(member))
    db.session.commit()
    viewer, statistician = seats["viewer"], seats["statistician"]
    for path in ("/studies/alpha", "/studies/alpha/panel", "/studies/alpha/audit",
                 "/studies/alpha/rounds", "/studies/alpha/rounds/1/results"):
        assert viewer.get(path).status_code == 200, path
    body = assert_problem(viewer.post("/studies/alpha/rounds", json={}), 403, "auth.role")
    assert body["role"] == "viewer" and body["permission"] == "rounds.run"
    body = assert_problem(viewer.post("/studies/alpha/decisions", json={
        "kind": "carry", "items": ["a-01"], "reason": "r"}), 403, "auth.role")
    assert body["permission"] == "decisions.make"
    assert len(study.rounds) == 1
    assert "alpha" in {x["slug"] for x in statistician.get("/studies").get_json()["studies"]}
    for path in ("/studies/alpha/rounds/1/results", "/studies/alpha/decisions",
                 "/studies/alpha/rounds/1/suggestions", "/studies/alpha/exports",
                 "/studies/alpha/exports/ratings/csv"):
        assert statistician.get(path).status_code == 200, path
    for path in ("/studies/alpha", "/studies/alpha/panel", "/studies/alpha/panel/P0001",
                 "/studies/alpha/audit", "/studies/alpha/rounds", "/studies/alpha/webhooks"):
        body = assert_problem(statistician.get(path), 403, "auth.role")
        assert body["role"] == "statistician", path
    assert_problem(statistician.post("/studies/alpha/decisions", json={
        "kind": "carry", "items": ["a-01"], "reason": "r"}), 403, "auth.role")


def test_a_read_token_may_not_write_whatever_the_role(client, owner, study):
    _after_round_one(study)
    reader = Api(client, make_token(owner, scopes="read"))
    assert reader.get("/studies/alpha/decisions").status_code == 200
    body = assert_problem(reader.post("/studies/alpha/decisions", json={
        "kind": "carry", "items": ["a-01"], "reason": "r"}), 403, "auth.scope_missing")
    assert body["scope"] == "write"
    assert_problem(reader.delete("/studies/alpha/decisions/1"), 403, "auth.scope_missing")


def test_finishing_a_study_is_a_webhook_event(api, study):
    from delphi import webhooks
    from delphi.decisions import operations as decision_ops
    from delphi.models import WebhookDelivery

    api.post("/studies/alpha/webhooks", json={"url": "https://example.org/h",
                                              "events": ["study.finished"]})
    launch(study)
    close(study)
    decision_ops.finish_study(study, "test")
    db.session.commit()
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert delivery.event == "study.finished" and delivery.payload["data"] == {"rounds": 1}
    assert webhooks.emit(study, "round.closed", {}) == 0  # not subscribed
