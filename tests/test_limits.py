"""Limits that hold: fields of every encoding, YAML aliases, control characters in uploads,
no personal data or link secrets in logs, and downloads that no cache keeps."""

from __future__ import annotations

import io
import logging
import time

import pytest
from werkzeug.datastructures import MultiDict

from delphi.extensions import db
from delphi.logs import scrub
from delphi.models import Panellist
from delphi.studies import operations as study_ops
from delphi.studies.operations import PanelImportError, import_panel
from delphi.surveys import SurveyError, parse_survey

from .conftest import csrf_token, login
from .flows import launch, link_for_panellist, open_link, path_of, vote

MANY = "&".join(f"{n % 1000}=" for n in range(150_000))  # 150,000 fields in under 1 MB


@pytest.mark.parametrize("path", ["/login", "/vote"])
def test_a_url_encoded_body_with_too_many_fields_is_refused_before_parsing(client, factory,
                                                                            path):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    open_link(client, link_for_panellist(study, panel[0].id))
    started = time.perf_counter()
    response = client.post(path, data=MANY,
                           content_type="application/x-www-form-urlencoded")
    elapsed = time.perf_counter() - started
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "more than 2000 fields" in html
    assert elapsed < 1.5


def test_a_multipart_body_and_a_query_string_with_too_many_fields_are_refused(client):
    data = MultiDict([(f"f{n}", "x") for n in range(2500)])
    response = client.post("/login", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    response = client.get("/login?" + "&".join(f"q{n}=1" for n in range(2500)))
    assert response.status_code == 413
    assert "more than 2000 fields" in response.get_data(as_text=True)


def test_an_ordinary_form_still_passes(client, factory):
    factory.facilitator("lead@example.org")
    assert login(client, "lead@example.org").status_code == 302


# YAML --------------------------------------------------------------------------------------

def test_survey_files_with_yaml_aliases_are_refused_at_once():
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for k in range(1, 9):
        previous, name = chr(96 + k), chr(97 + k)
        rows.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    started = time.perf_counter()
    with pytest.raises(SurveyError, match="anchors and aliases"):
        parse_survey("\n".join(rows), "bomb.yaml")
    assert time.perf_counter() - started < 0.5
    survey = ("slug: x\ntitle: &t T\nsections:\n  - key: a\n    title: A\n    items:\n"
              "      - key: b\n        text: *t\n")
    with pytest.raises(SurveyError) as caught:
        parse_survey(survey, "s.yaml")
    assert caught.value.problems[0].startswith("title: YAML anchors and aliases")
    with pytest.raises(SurveyError) as caught:
        parse_survey(survey.replace("&t ", ""), "s.yaml")
    assert caught.value.problems[0].startswith("sections[0].items[0].text: YAML anchors")


# Panel CSV ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("column", "row"), [
    ("email", "Ann Lee,ann\x00@example.org,clin,UK"),
    ("group", "Ann Lee,ann@example.org,clin\x07,UK"),
    ("country", "Ann Lee,ann@example.org,clin,U\x00K"),
    ("country", "Ann Lee,ann@example.org,clin,U\x1bK"),
])
def test_control_characters_are_refused_in_every_column_of_the_panel_csv(factory, column, row):
    study = factory.study()
    with pytest.raises(PanelImportError) as caught:
        import_panel(study, "name,email,group,country\nBo Diaz,bo@example.org,clin,ES\n"
                            + row + "\n", "test")
    db.session.rollback()
    assert [str(e) for e in caught.value.errors] == [
        f"line 3: the column {column!r} contains a control character "
        f"(U+{ord([c for c in row if ord(c) < 32][0]):04X}); remove it"]
    assert db.session.query(Panellist).count() == 0


def test_a_nul_in_an_uploaded_panel_is_a_clear_page_on_every_database(client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    login(client, "lead@example.org")
    token = csrf_token(client, f"/studies/{study.slug}/panel")
    data = b"name,email,group,note\nAnn Lee,ann@example.org,clin,a\x00b\n"
    response = client.post(f"/studies/{study.slug}/panel", data={
        "csrf_token": token, "file": (io.BytesIO(data), "panel.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert "line 2: the column &#39;note&#39; contains a control character" in \
        response.get_data(as_text=True)


# Logs --------------------------------------------------------------------------------------

NAMES = ("Zebulon Quist", "Ophelia Brandywine", "Facilitator Marigold")
EMAILS = ("zebulon.quist@example.org", "ophelia.b@example.org", "marigold@example.org")


def test_no_name_or_email_reaches_any_log_line(app, client, factory, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    owner = factory.facilitator(EMAILS[2], name=NAMES[2])
    study = factory.study(owner)
    login(client, EMAILS[2])
    token = csrf_token(client, f"/studies/{study.slug}/panel")
    csv = f"name,email,group\n{NAMES[0]},{EMAILS[0]},clin\n{NAMES[1]},{EMAILS[1]},parent\n"
    response = client.post(f"/studies/{study.slug}/panel", data={
        "csrf_token": token, "file": (io.BytesIO(csv.encode()), "panel.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    launch(study)
    panellist = db.session.query(Panellist).filter_by(email=EMAILS[0]).one()
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, panellist.id))
    assert vote(voter, {i.id: 7 for i in study.items}).status_code == 302
    # A database error on a console page: the row's values are in the driver's message
    # (PostgreSQL: "Failing row contains (...)"; SQLite: the bound parameters).
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(study_ops, "normalise_email", lambda value: value.strip().upper())
    token = csrf_token(client, f"/studies/{study.slug}/panel")
    csv = "name,email,group\nZebulon Quist Junior,zebulon.junior@example.org,clin\n"
    response = client.post(f"/studies/{study.slug}/panel", data={
        "csrf_token": token, "file": (io.BytesIO(csv.encode()), "panel.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 500
    text = caplog.text
    assert "Exception on /studies/" in text and "IntegrityError" in text
    assert "facilitator.login" in text and "panel.imported" in text
    for record in caplog.records:
        whole = f"{record.getMessage()}\n{record.exc_text or ''}".lower()
        for secret in NAMES + EMAILS + ("zebulon.junior@example.org", "Zebulon Quist Junior"):
            assert secret.lower() not in whole, (secret, whole[:3000])
    assert "zebulon" not in text.lower() and "marigold@" not in text.lower()


@pytest.mark.parametrize("line", [
    '"GET /p/{t} HTTP/1.1" 302',
    '"GET /login?next=%2Fp%2F{t} HTTP/1.1" 200',
    '"GET /login?next=%2fp%2f{t}%2Fx HTTP/1.1" 200',
    '"GET /login?token={t}&x=1 HTTP/1.1" 200',
])
def test_link_secrets_are_redacted_in_plain_and_percent_encoded_form(line, caplog):
    secret = "Zk3_9-QwErTyUiOpAsDfGhJkL"
    caplog.set_level(logging.INFO)
    logging.getLogger("werkzeug").info(line.format(t=secret))
    logging.getLogger("some.library").warning(line.format(t=secret))
    assert secret not in caplog.text
    assert "[redacted]" in caplog.text
    assert scrub(line.format(t=secret)).count("[redacted]") == 1


def test_a_token_reaching_a_child_logger_is_redacted(client, factory, caplog):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    link = link_for_panellist(study, panel[0].id)
    caplog.set_level(logging.INFO)
    logging.getLogger("delphi.anything").info("opened %s", path_of(link))
    assert path_of(link)[3:] not in caplog.text


# Downloads ---------------------------------------------------------------------------------

def test_exports_and_the_report_are_never_cached_and_have_one_charset(client, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner)
    login(client, "lead@example.org")
    for path in ("statements.csv", "statements.md", "ratings.json", "raw.csv", "report.html",
                 "report"):
        response = client.get(f"/studies/{study.slug}/exports/{path}")
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert response.headers["Content-Type"].count("charset") <= 1, path
        if path != "report":
            assert response.headers["Content-Disposition"].startswith("attachment;")
