"""Exports: final status, the analyze round trip, formula injection, inert script, PDF, CLI, web."""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
import sys
import zipfile
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from openpyxl import load_workbook

from delphi.analyze_cli import analyze_command
from delphi.auth import operations as accounts
from delphi.decisions import operations as decisions
from delphi.exports import formats as formats_module
from delphi.exports import pdf as pdf_module
from delphi.exports.data import load
from delphi.exports.document import blocks
from delphi.exports.downloads import EXPORTS, export
from delphi.exports.formats import Table, csv_text, xlsx_bytes
from delphi.exports.pdf import BASE_URL, PdfUnavailable, RefusedResource, StaticOnlyFetcher
from delphi.exports.raw import AUDIT_COLUMNS, COMMENT_COLUMNS, ITEM_COLUMNS
from delphi.exports.report import report_html
from delphi.exports.statements import BASE_COLUMNS, ROUND_KEYS
from delphi.extensions import db
from delphi.models import AuditEvent, DropOutcome, RoundResult, Study
from delphi.studies import operations as ops

from .conftest import csrf_token, login
from .test_exports_golden import GENERATED_AT, build_study

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+SUM(1,2)", "-2+3", "@SUM(A1)",
            "=cmd|' /C calc'!A0"]
WITHOUT_PDF = [(what, fmt) for what, formats in EXPORTS.items() for fmt in formats if fmt != "pdf"]


def _export(study: Study, what: str, fmt: str) -> bytes:
    return export(study, what, fmt, generated_at=GENERATED_AT).data


def _statuses(study: Study) -> dict[str, tuple[str, int | None]]:
    doc = json.loads(_export(study, "statements", "json"))
    return {s["item"]: (s["final_status"], s["settled_in_round"]) for s in doc["statements"]}


def test_final_status_follows_decisions_then_the_last_verdict(app, monkeypatch):
    study = build_study(monkeypatch)
    statuses = _statuses(study)
    assert statuses == {
        "a-01": ("consensus_in", 2), "a-02": ("superseded", 1), "a-02.v2": ("consensus_in", 2),
        "a-03": ("superseded", 1), "a-04": ("superseded", 1), "a-34": ("consensus_in", 2),
        "b-01": ("superseded", 1), "b-01-a": ("no_consensus", 2),
        "b-01-b": ("consensus_out", 2), "b-02": ("consensus_out", 1),
        "b-03": ("no_consensus", 2),
    }
    rows = {s["item"]: s for s in json.loads(_export(study, "statements", "json"))["statements"]}
    assert rows["b-01"]["became"] == ["b-01-a", "b-01-b"]
    assert rows["a-34"]["came_from"] == ["a-03", "a-04"]
    assert rows["a-03"]["final_status_text"] == "superseded by a-34 (merged)"


def test_a_drop_for_another_reason_and_an_unrated_statement(app, factory):
    study = factory.study()
    factory.panel(study)
    from .flows import close, launch

    launch(study)
    close(study)
    first, second = study.items[0], study.items[1]
    decisions.drop(study, first, DropOutcome.OTHER, "Out of scope", "test")
    decisions.add_statement(study, study.sections[0], "a-09", "A new one", "", "Gap", "test")
    db.session.commit()
    statuses = {s["item"]: s for s in
                json.loads(_export(study, "statements", "json"))["statements"]}
    assert statuses[first.key]["final_status_text"] == "dropped (Out of scope)"
    assert statuses[first.key]["settled_in_round"] == 1
    assert statuses["a-09"]["final_status"] == "not_rated"
    assert statuses[second.key]["final_status"] == "no_consensus"  # nobody answered


def test_a_study_without_results_exports_every_statement_as_not_rated(app, factory):
    study = factory.study()
    for what, fmt in WITHOUT_PDF:
        assert _export(study, what, fmt)
    assert {status for status, _ in _statuses(study).values()} == {"not_rated"}


def _analyze_options(settings: dict[str, str]) -> list[str]:
    """The ``delphi analyze`` options that repeat the exported settings."""
    options = ["--scale", settings["scale"], "--percentile", settings["percentile_method"],
               "--uts", settings["uts"], "--group-rule", settings["group_rule"],
               "--primary-rule", settings["primary_rule"],
               "--comet", f"{settings['comet_agree_pct']}/{settings['comet_disagree_pct']}",
               "--percent-threshold", settings["percent_threshold"],
               "--iqr-max", settings["iqr_max"], "--stability-pp", settings["stability_pp"],
               "--scheibe-threshold", settings["scheibe_threshold"],
               "--min-group-size", settings["min_group_size"],
               "--wilcoxon-zero-method", settings["wilcoxon_zero_method"],
               "--wilcoxon-correction" if settings["wilcoxon_correction"] == "true"
               else "--no-wilcoxon-correction"]
    if settings["iqr_median_min"]:
        options += ["--iqr-median-min", settings["iqr_median_min"]]
    if settings["round_thresholds"] != "{}":
        options += ["--round-thresholds", settings["round_thresholds"]]
    return options


def test_the_raw_export_reproduces_the_stored_results_through_delphi_analyze(
        app, monkeypatch, tmp_path):
    study = build_study(monkeypatch)
    with zipfile.ZipFile(io.BytesIO(_export(study, "raw", "csv"))) as archive:
        (tmp_path / "ratings.csv").write_bytes(archive.read("ratings.csv"))
        settings = dict(csv.reader(io.StringIO(archive.read("settings.csv").decode())))
    result = CliRunner().invoke(analyze_command,
                                [str(tmp_path / "ratings.csv"), *_analyze_options(settings)])
    assert result.exit_code == 0, result.output
    analysed = json.loads(result.output)
    last = study.rounds[-1]
    stored = db.session.scalar(sa.select(RoundResult.data).where(RoundResult.round_id == last.id))
    keys = ("median", "p25", "p75", "iqr", "pct_7_9", "verdict", "n_valid", "n_uts")
    expected = {(r["round"], r["item"], r["group"]): [r[k] for k in keys] for r in stored["items"]}
    got = {(r["round"], r["item"], r["group"]): [r[k] for k in keys] for r in analysed["items"]}
    assert got == expected
    assert len(expected) == 2 * 6 * 3  # two rounds, six items each, pooled and two groups
    assert analysed["response"] == stored["response"]


def test_exports_read_stored_results_and_never_recompute(app, monkeypatch):
    study = build_study(monkeypatch)
    rounds_ops = importlib.import_module("delphi.results.tables")

    def fail(*_args, **_kwargs):
        raise AssertionError("statistics recomputed at export time")

    monkeypatch.setattr(rounds_ops, "analyze", fail)
    monkeypatch.setattr(importlib.import_module("delphi.consensus.analyze"), "prepare", fail)
    for what, fmt in WITHOUT_PDF:
        assert _export(study, what, fmt)


def _injected_study(monkeypatch) -> Study:
    """The golden study with formula payloads in names, comments and statement texts."""
    names = PAYLOADS + ["Plain Name"]
    panel = "name,email,group\n" + "\n".join(
        f"\"{n.replace(chr(34), chr(34) * 2)}\",p{i}@example.org,{'clin' if i < 3 else 'parent'}"
        for i, n in enumerate(names))
    monkeypatch.setattr("tests.test_exports_golden.COMMENTS", {
        (1, i, "a-01"): payload for i, payload in enumerate(PAYLOADS)})
    study = build_study(monkeypatch, panel_csv=panel)
    item = next(i for i in study.items if i.key == "a-01")
    item.text = "=1+1 <script>alert(1)</script>"
    section = next(s for s in study.sections if s.key == "a")
    section.title = "@SUM(9)"
    db.session.commit()
    return study


def _cells(data: bytes):
    workbook = load_workbook(io.BytesIO(data))
    for sheet in workbook.worksheets:
        yield from (cell for row in sheet.iter_rows() for cell in row if cell.value is not None)


def test_csv_and_xlsx_exports_neutralise_formulas_and_hold_no_names(app, monkeypatch):
    study = _injected_study(monkeypatch)
    check_xlsx(study)
    statements = list(csv.DictReader(io.StringIO(_export(study, "statements", "csv").decode())))
    first = next(r for r in statements if r["item"] == "a-01")
    assert first["text"] == "'=1+1 <script>alert(1)</script>"
    assert first["section"] == "'@SUM(9)"
    assert first["r1_median"] == "7.5"  # numbers stay numbers
    with zipfile.ZipFile(io.BytesIO(_export(study, "raw", "csv"))) as archive:
        texts = {name: archive.read(name).decode() for name in archive.namelist()}
    comments = list(csv.DictReader(io.StringIO(texts["comments.csv"])))
    assert sorted(c["comment"] for c in comments) == sorted("'" + p for p in PAYLOADS)
    for name, text in texts.items():
        for row in csv.reader(io.StringIO(text)):
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r", "\0"))
                           for cell in row), (name, row)
    everything = "".join(texts.values()) + _export(study, "statements", "csv").decode()
    assert everything.count("HYPERLINK") == 1  # the comment, never the panellist's name
    assert "@example.org" not in everything and "Plain Name" not in everything


def check_xlsx(study: Study) -> None:
    """Text cells are strings, never formulas; numbers are numbers."""
    cells = list(_cells(_export(study, "raw", "xlsx"))) + \
        list(_cells(_export(study, "statements", "xlsx")))
    assert all(cell.data_type != "f" for cell in cells)
    texts = {cell.value for cell in cells if cell.data_type == "s"}
    assert {"'" + p for p in PAYLOADS} <= texts
    assert "'=1+1 <script>alert(1)</script>" in texts
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in texts)
    workbook = load_workbook(io.BytesIO(_export(study, "statements", "xlsx")))
    sheet = workbook["statements"]
    header = [c.value for c in sheet[1]]
    median = sheet.cell(row=2, column=header.index("r1_median") + 1)
    assert median.data_type == "n" and median.value == 7.5
    ratings = load_workbook(io.BytesIO(_export(study, "raw", "xlsx")))["ratings"]
    assert ratings.cell(row=2, column=5).data_type == "n"


def test_cells_are_neutralised_but_negative_numbers_stay_numbers():
    table = Table(["=h", "n"], [["=1+1", -0.5], ["-0.5", 3], ["\t=1", None], ["\r=1", True],
                               ["\0=1", 2.25], ["@x", -7], ["plain", 0]])
    rows = list(csv.reader(io.StringIO(csv_text(table), newline="")))
    assert rows == [["'=h", "n"], ["'=1+1", "-0.5"], ["'-0.5", "3"], ["'\t=1", ""],
                    ["'\n=1", "true"], ["'\0=1", "2.25"], ["'@x", "-7"], ["plain", "0"]]
    sheet = load_workbook(io.BytesIO(xlsx_bytes({"t": table})))["t"]
    values = [(c[0].value, c[1].value) for c in sheet.iter_rows(min_row=2)]
    assert values[0] == ("'=1+1", -0.5) and sheet["B2"].data_type == "n"
    assert values[1] == ("'-0.5", 3) and sheet["A3"].data_type == "s"
    assert values[4] == ("'\ufffd=1", 2.25)  # NUL cannot be stored in XLSX
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_script_in_statements_and_team_texts_is_inert_in_the_report(app, monkeypatch):
    study = _injected_study(monkeypatch)
    item = next(i for i in study.items if i.key == "a-02")
    item.text = '<img src="http://evil.test/x.png"> <img src="file:///etc/passwd">'
    study.report_fields = {"funding": "<script>alert('funding')</script>",
                           "title": "</title><script>x()</script>"}
    db.session.commit()
    html = _export(study, "report", "html").decode()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#39;funding&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "'=1+1" not in html  # the quote is only for spreadsheets
    assert "Plain Name" not in html and "@example.org" not in html


def test_the_report_answers_every_checklist_item_and_marks_what_the_team_must_write(
        app, monkeypatch):
    study = build_study(monkeypatch)
    study.report_fields = {"funding": "The funder had no role."}
    db.session.commit()
    html = _export(study, "report", "html").decode()
    checklist = html[html.index('id="checklist"'):]
    ids = ["T1", *(f"I{n}" for n in range(1, 4)), *(f"M{n}" for n in range(1, 22)),
           *(f"R{n}" for n in range(1, 6)), "D1", "D2", "O1", "O2", "O3"]
    assert len(ids) == 35
    for accord_id in ids:
        assert f"<td>{accord_id}</td>" in checklist
    assert all(f"<td>{n}</td>" in checklist for n in range(1, 39))
    anchors = set(re.findall(r'href="#([a-z0-9-]+)"', checklist))
    assert all(f'id="{a}"' in html for a in anchors)
    assert '<tr class="to-write"><td>O1</td>' in checklist
    assert "<td>O3</td>" in checklist and '<tr class="to-write"><td>O3</td>' not in checklist
    assert "The funder had no role." in html
    for text in ("Participant flow", "<svg", "Item flow", 'id="round-2"', "0.0.0+golden",
                 "linear method (Hyndman and Fan type 7)", "2026-01-05T09:00:00Z",
                 "not shown on its own"):
        assert text in html, text


def test_the_pdf_fetcher_serves_static_files_and_refuses_everything_else(app, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # the fetcher works without it
    fetcher = StaticOnlyFetcher(Path(app.static_folder))
    data, mime = fetcher.resolve(BASE_URL + "static/report.css")
    assert b"@page" in data and mime == "text/css"
    assert fetcher(BASE_URL + "static/report.css")["mime_type"] == "text/css"
    for url in ("http://evil.test/x.png", "file:///etc/passwd", "data:text/plain,hello",
                BASE_URL + "static/../../../etc/passwd", BASE_URL + "static/%2e%2e/secret",
                BASE_URL + "etc/passwd", BASE_URL + "static/report.css?x=1",
                "https://report.delphi.invalid.evil.test/static/report.css",
                BASE_URL + "static/nothing-here.png", "ftp://report.delphi.invalid/static/a"):
        with pytest.raises(RefusedResource):
            fetcher.resolve(url)


def test_the_pdf_reads_nothing_but_static_files(app, monkeypatch):
    pytest.importorskip("weasyprint")
    asked: list[str] = []
    resolve = StaticOnlyFetcher.resolve

    def spy(self, url):
        asked.append(url)
        return resolve(self, url)

    monkeypatch.setattr(StaticOnlyFetcher, "resolve", spy)
    hostile = ('<link rel="stylesheet" href="/static/report.css">'
               '<link rel="attachment" href="file:///etc/passwd">'
               '<img src="http://evil.test/x.png"><img src="file:///etc/passwd">'
               '<p class="report">text</p>')
    pdf = pdf_module.html_to_pdf(hostile, Path(app.static_folder))
    assert pdf.startswith(b"%PDF")
    assert BASE_URL + "static/report.css" in asked
    assert {"file:///etc/passwd", "http://evil.test/x.png"} <= set(asked)
    assert b"root:x:0:0" not in pdf
    study = _injected_study(monkeypatch)
    next(i for i in study.items if i.key == "a-02").text = '<img src="file:///etc/passwd">'
    db.session.commit()
    asked.clear()
    made = export(study, "report", "pdf", generated_at=GENERATED_AT)
    assert made.data.startswith(b"%PDF") and made.filename == "golden-report.pdf"
    assert asked == []  # the report inlines its style and escapes every text


def test_without_weasyprint_pdf_export_says_what_is_missing(app, runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import now raises ImportError
    study = build_study(monkeypatch)
    with pytest.raises(PdfUnavailable, match=r"WeasyPrint.*pip install 'delphi\[pdf\]'"):
        export(study, "report", "pdf")
    result = runner.invoke(args=["export", study.slug, "--what", "report", "--format", "pdf"])
    assert result.exit_code == 1 and "WeasyPrint, which is not installed" in result.output


def test_cli_refuses_combinations_that_make_no_sense(app, runner, monkeypatch):
    study = build_study(monkeypatch)
    result = runner.invoke(args=["export", study.slug, "--what", "raw", "--format", "pdf"])
    assert result.exit_code == 2
    assert "--what raw cannot be written as pdf; choose one of csv, xlsx, json" in result.output
    result = runner.invoke(args=["export", "no-such-study"])
    assert result.exit_code == 1 and "no study with the slug 'no-such-study'" in result.output
    monkeypatch.setattr(formats_module, "XLSX_MAX_ROWS", 50)
    result = runner.invoke(args=["export", study.slug, "--what", "raw", "--format", "xlsx"])
    assert result.exit_code == 1
    assert "the ratings table has 72 rows, more than a spreadsheet holds" in result.output


def test_cli_writes_each_export_to_a_file(app, runner, monkeypatch, tmp_path):
    study = build_study(monkeypatch)
    for what, fmt in (("statements", "md"), ("raw", "csv"), ("ratings", "csv"),
                      ("report", "html"), ("statements", "xlsx")):
        out = tmp_path / f"{what}.{fmt}"
        result = runner.invoke(args=["export", study.slug, "--what", what, "--format", fmt,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
    assert (tmp_path / "statements.md").read_text().startswith("# Golden study: final statements")
    assert zipfile.is_zipfile(tmp_path / "raw.csv")
    result = runner.invoke(args=["export", study.slug, "--what", "ratings", "--format", "csv"])
    assert result.output.startswith("round,item,panellist,group,rating,uts\n")


@pytest.fixture
def console(app, client, monkeypatch, factory):
    """A logged-in facilitator of the golden study, and the study."""
    study = build_study(monkeypatch)
    owner = factory.facilitator("owner@example.org")
    ops.add_facilitator_to_study(study, owner, "test", role="owner")
    db.session.commit()
    login(client, "owner@example.org")
    return study


def test_the_console_serves_every_download_to_the_studys_facilitators_only(
        app, client, console, factory):
    page = client.get(f"/studies/{console.slug}/exports/").get_data(as_text=True)
    for what, fmt in WITHOUT_PDF:
        assert f"/studies/{console.slug}/exports/{what}.{fmt}" in page
    response = client.get(f"/studies/{console.slug}/exports/statements.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "golden-statements.csv" in response.headers["Content-Disposition"]
    assert client.get(f"/studies/{console.slug}/exports/raw.pdf").status_code == 404
    report = client.get(f"/studies/{console.slug}/exports/report").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/report.css">' in report
    assert "<style" not in report  # the console's CSP allows no inline style
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    paths = [f"/studies/{console.slug}/exports/", f"/studies/{console.slug}/exports/raw.json",
             f"/studies/{console.slug}/exports/report"]
    assert all(client.get(path).status_code == 302 for path in paths)
    factory.facilitator("other@example.org")
    login(client, "other@example.org")
    assert all(client.get(path).status_code == 404 for path in paths)
    response = client.post(f"/studies/{console.slug}/exports/report-fields",
                           data={"csrf_token": csrf_token(client, "/"), "funding": "x"})
    assert response.status_code == 404


def _post_fields(client, study, **fields):
    token = csrf_token(client, f"/studies/{study.slug}/exports/")
    return client.post(f"/studies/{study.slug}/exports/report-fields",
                       data={"csrf_token": token, **fields})


def test_the_team_writes_report_texts_checked_and_audited(app, client, console):
    for text in ("bad\x00text", "bell\x07", "x" * 5001):
        assert _post_fields(client, console, funding=text).status_code == 400
    response = client.post(f"/studies/{console.slug}/exports/report-fields",
                           data={"funding": "no token"})
    assert response.status_code == 400
    db.session.refresh(console)
    assert not console.report_fields
    response = _post_fields(client, console, funding="Funded by X; no role.", ethics="Exempt")
    assert response.status_code == 302
    db.session.refresh(console)
    assert console.report_fields == {"funding": "Funded by X; no role.", "ethics": "Exempt"}
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "study.report_fields_updated")).all()
    assert [e.detail for e in events] == [{"fields": ["funding", "ethics"]}]
    html = client.get(f"/studies/{console.slug}/exports/report").get_data(as_text=True)
    assert "Funded by X; no role." in html


def test_every_export_column_and_team_field_is_documented():
    from delphi.exports.checklist import TEAM_FIELD_KEYS

    text = (ROOT / "docs" / "exports.md").read_text()
    names = [*BASE_COLUMNS, *ROUND_KEYS, *ITEM_COLUMNS, *COMMENT_COLUMNS, *AUDIT_COLUMNS,
             *TEAM_FIELD_KEYS, *EXPORTS]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"undocumented in docs/exports.md: {missing}"


def test_the_report_shows_every_computed_statistic_with_its_method(app, monkeypatch):
    study = build_study(monkeypatch)
    html = " ".join(_export(study, "report", "html").decode().split())
    agreement = html[html.index('id="agreement"'):html.index('id="stability"')]
    assert "Kendall's W (tie-corrected" in agreement and "coincidence matrix" in agreement
    assert "<td>1</td><td class=\"num\">0.686</td><td>13.7 (5), p 0.018</td>" in agreement
    assert "not applicable: the statements have unequal numbers of valid ratings (4 to 6)" \
        in agreement
    stability = html[html.index('id="stability"'):html.index('id="attrition"')]
    assert "Scheibe's net change" in stability and "McNemar's exact test" in stability
    assert "quadratic-weighted kappa" in stability and "Wilcoxon signed-rank" in stability
    assert "<td><code>a-01</code></td><td class=\"num\">5</td><td class=\"num\">16.7</td>" \
        in stability
    attrition = html[html.index('id="attrition"'):html.index('id="statements"')]
    assert "Mann-Whitney U" in attrition
    assert "<td><code>a-01</code></td><td>Whole panel</td><td class=\"num\">5</td>" in attrition
    # published: no group row where a side has fewer than the minimum (a lone dropout's
    # rating would be their group's median); then no group row at all, see attrition_table
    assert "<td>Parent</td>" not in attrition


def test_the_report_methods_follow_the_settings_the_engine_used(app, monkeypatch):
    study = build_study(monkeypatch)
    last = db.session.scalar(sa.select(RoundResult).where(
        RoundResult.round_id == study.rounds[-1].id))
    last.data = {**last.data, "settings": {
        **last.data["settings"], "group_rule": "all", "uts": "include",
        "wilcoxon_zero_method": "pratt", "wilcoxon_correction": False,
        "iqr_median_min": 8, "percentile_method": "weibull", "min_group_size": 4,
        "round_thresholds": {"2": {"comet_agree_pct": 75}}}}
    db.session.commit()
    html = " ".join(_export(study, "report", "html").decode().split())
    text = html[html.index('id="methods-text"'):html.index('class="parameters"')]
    assert "Group rule: every group." in text and "at least 4 valid ratings" in text
    assert "nobody&#39;s ratings are excluded" not in text
    assert "of the answers, &#39;unable to score&#39; included" in text
    assert "median is at least 8; consensus out when the IQR is at most 1 and the median is " \
           "at most 2" in text
    assert "weibull method (Hyndman and Fan type 6)" in text
    assert "no continuity correction" in text and "Pratt&#39;s method" in text
    assert "<code>min_group_size</code></th><td>4</td>" in html
    assert "From round 2 on, with thresholds fixed before round 1: COMET 75/15" in text
    assert "<code>round_thresholds</code></th><td>from round 2: comet_agree_pct 75</td>" in html


def _checklist_status(html: str) -> dict[str, tuple[str, str]]:
    checklist = html[html.index('id="checklist"'):]
    rows = re.findall(r'<tr(?: class="to-write")?><td>([TIMRDO]\d+)</td>(.*?)</tr>', checklist,
                      re.S)
    out = {}
    for key, rest in rows:
        cells = re.findall(r"<td>(.*?)</td>", rest, re.S)
        out[key] = (cells[-2].strip(), cells[-1].strip())
    return out


def test_an_item_is_answered_only_when_the_studys_data_answers_it(app, factory, monkeypatch):
    # before any round: nothing the platform would count is there yet
    empty = factory.study()
    status = _checklist_status(_export(empty, "report", "html").decode())
    assert len(status) == 35
    answered = [k for k, (_, s) in status.items() if s == "answered in the report"]
    assert answered == []
    assert status["R3"] == ("–", "to write") and status["M10"][1] == "not answered by the data yet"
    # after two rounds, each AUTO item is answered with the study's own numbers
    study = build_study(monkeypatch)
    html = _export(study, "report", "html").decode()
    status = _checklist_status(html)
    assert status["R3"] == ("round 1: 6 of 6; round 2: 5 of 6", "answered in the report")
    assert status["M4"][0].startswith("personal invitations sent by email from the platform "
                                      "(round 1: 6, round 2: 6)")
    assert status["M20"] == ("reminders: round 1: 0, round 2: 1", "answered in the report")
    assert status["R1"][0].startswith("round 1: 2026-01-05 to 2026-01-12 (7 days)")
    # SEMI items give their numbers and wait for the team's reasons
    assert status["M3"] == ("6 panellists: Clinician 3, Parent 3",
                            "numbers given; the team adds the reasons")
    # the platform has no pilot round: every round it ran counted toward consensus
    assert status["M16"] == ("no pilot round was run on the platform; both its rounds "
                             "counted toward consensus", "answered in the report")
    assert "ACCORD (35 items): 16 answered from the data" in html
    # the study asked no declarations and no organiser declared: O2 is the team's
    assert status["O2"] == ("–", "to write")
    credes = html[html.index("<caption>CREDES"):]
    assert "<td>Definition of consensus</td>" in credes
    assert "<td>M12, M1</td><td>answered in the report</td>" in credes
    assert "<td>External validation</td>" in credes and 'id="field-external_validation"' in html


def test_the_item_flow_is_drawn_with_a_text_alternative_in_the_report_and_on_the_study_page(
        app, client, monkeypatch):
    study = build_study(monkeypatch)
    html = _export(study, "report", "html").decode()
    flow = html[html.index('id="item-flow"'):html.index('id="rounds"')]
    assert '<svg viewBox="0 0 520' in flow and 'role="img"' in flow
    text = ("Round 1: 6 statements rated. After round 1: carried forward: 1; reworded: 1 into "
            "1 new; split: 1 into 2 new; merged: 2 into 1 new; added: 1; dropped: 1 (1 "
            "consensus out). Round 2: 6 statements rated. Final statements: 7 final "
            "statements; consensus in: 3")
    assert f'<desc id="item-flow-diagram-desc">{text}' in flow
    assert f"<figcaption>Item flow: {text}" in flow
    for box in ("Round 1", "After round 1", "Round 2", "Final statements"):
        assert f'font-size="12">{box}</text>' in flow
    owner = accounts.create_facilitator("flow@example.org", "correct horse battery", "")
    ops.add_facilitator_to_study(study, owner, "test")
    db.session.commit()
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/").get_data(as_text=True)
    assert 'id="item-flow"' in page and f'<desc id="item-flow-diagram-desc">{text}' in page


def _tables_wider_than_their_page(html: str) -> list[str]:
    """Render with WeasyPrint and list every table box that runs past its page's content box."""
    weasyprint = pytest.importorskip("weasyprint")
    from weasyprint.formatting_structure import boxes

    document = weasyprint.HTML(string=html, base_url=BASE_URL).render()
    found = []
    for number, page in enumerate(document.pages, start=1):
        box = page._page_box
        right = box.content_box_x() + box.width
        for child in box.descendants():
            if isinstance(child, boxes.TableBox | boxes.TableCellBox):
                over = child.position_x + child.margin_width() - right
                if over > 0.5:
                    found.append(f"page {number}: {type(child).__name__} {over:.0f}px too wide")
    return found


def test_no_table_is_wider_than_its_page(app, monkeypatch):
    study = build_study(monkeypatch)
    long_word = "Immuneffectorcellassociatedneurotoxicitysyndrome" * 3
    item = next(i for i in study.items if i.key == "a-01")
    item.text = f"{item.text} {long_word} (ICANS), graded 1–4 by the ASTCT consensus criteria"
    db.session.commit()
    html = _export(study, "report", "html").decode()
    assert _tables_wider_than_their_page(html) == []
    # the PDF's own version of the page, with its compact round tables
    pdf_html = report_html(load(study, GENERATED_AT), paged=True)
    assert 'class="round-matrix"' in pdf_html
    assert _tables_wider_than_their_page(pdf_html) == []


def test_the_pdf_is_tagged_pdf_ua_with_a_bookmark_per_heading(app, monkeypatch):
    pytest.importorskip("weasyprint")
    study = build_study(monkeypatch)
    html = report_html(load(study, GENERATED_AT), paged=True)  # what the PDF is made of
    pdf = pdf_module.html_to_pdf(html, Path(app.static_folder), uncompressed=True)
    for marker in (b"/StructTreeRoot", b"/MarkInfo", b"pdfuaid:part", b"/Lang (en)",
                   b"/DisplayDocTitle true", b"/S /Table", b"/S /TH", b"/Outlines"):
        assert marker in pdf, marker
    outline = set(re.findall(rb"/Title \((.*?)\)", pdf))
    assert {b"Methods", b"Results", b"Reporting checklist", b"Round 2"} <= outline


def test_the_pdf_round_tables_show_every_number_and_distribution_of_the_screen_tables(
        app, monkeypatch):
    """The PDF shows each round as one row per statement with a column per group; every
    number, verdict and rating distribution of the page's round tables is in it."""
    study = build_study(monkeypatch)
    data = load(study, GENERATED_AT)
    screen_html, paged_html = report_html(data), report_html(data, paged=True)
    assert '<table class="round-table"' not in paged_html
    assert '<svg class="histogram' not in paged_html

    def round_tables(html: str) -> list[list[list[str]]]:
        return [b.rows for b in blocks(html) if b.kind == "table" and b.text.startswith("Round ")]

    screen, paged = round_tables(screen_html), round_tables(paged_html)
    assert len(screen) == len(paged) == 2
    checked = 0
    for screen_rows, paged_rows in zip(screen, paged, strict=True):
        columns = paged_rows[0][1:]
        expected: dict[tuple[str, str], str] = {}
        ratings: dict[str, str] = {}
        label = ""
        for row in screen_rows[1:]:
            if row[-1]:  # a statement's whole-panel row carries its chart
                label, name = row[0].split()[0], "Whole panel"
                ratings[label] = row[-1]
            else:
                name = row[0]
            numbers = ("not shown on its own" if row[1] == "not shown on its own"
                       else f"{row[1]} {row[2]} ({row[3]}) {row[4]} / {row[5]} {row[6]}")
            expected[label, name] = numbers
        found: dict[tuple[str, str], str] = {}
        for text_row, numbers_row in zip(paged_rows[1::2], paged_rows[2::2], strict=True):
            label = text_row[0].split()[0]
            assert text_row[0] == next(r[0] for r in screen_rows if r[0].split()[0] == label)
            assert numbers_row[0] == ratings[label]
            found.update({(label, name): cell for name, cell in zip(columns, numbers_row[1:],
                                                                    strict=True) if cell != "–"})
        assert found == expected
        checked += len(found)
    assert checked > 12


def test_the_report_as_markdown_and_docx_has_the_same_sections_and_tables(
        app, runner, monkeypatch, tmp_path):
    docx = pytest.importorskip("docx")
    study = build_study(monkeypatch)
    html = _export(study, "report", "html").decode()
    headings = [unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in
                re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", html, re.S)]
    n_tables = html.count("<table")
    for fmt in ("md", "docx"):
        result = runner.invoke(args=["export", study.slug, "--what", "report", "--format", fmt,
                                     "--out", str(tmp_path / f"report.{fmt}")])
        assert result.exit_code == 0, result.output
    md = (tmp_path / "report.md").read_text()
    md_headings = [line.lstrip("#").strip() for line in md.splitlines()
                   if re.match(r"#{1,4} ", line)]
    assert md_headings == headings
    assert md.count("\n|---|") == n_tables
    assert "| Statement | n | Median | IQR | Agree | Disagree | Verdict | Ratings |" in md
    assert "<" not in md.replace("&lt;", "")  # no HTML left over
    # a chart becomes its text alternative: the ratings per scale point
    assert "| 6 ratings: 1: 0; 2: 1; 3: 0; 4: 0; 5: 0; 6: 0; 7: 2; 8: 2; 9: 1. |" in md
    document = docx.Document(str(tmp_path / "report.docx"))
    doc_headings = [p.text for p in document.paragraphs if p.style.name.startswith(
        ("Heading", "Title"))]
    assert doc_headings == headings
    assert len(document.tables) == n_tables
    round_table = next(t for t in document.tables if t.rows[0].cells[0].text == "Statement"
                       and t.rows[0].cells[-1].text == "Ratings")
    assert [c.text for c in round_table.rows[0].cells][:4] == ["Statement", "n", "Median", "IQR"]
    assert round_table.rows[1].cells[0].text.startswith("a-01 Remission means")


def test_without_python_docx_the_docx_export_says_what_is_missing(app, monkeypatch):
    study = build_study(monkeypatch)
    monkeypatch.setitem(sys.modules, "docx", None)
    with pytest.raises(pdf_module.PdfUnavailable, match=r"pip install 'delphi\[docx\]'"):
        export(study, "report", "docx")


def test_the_ratings_export_loads_as_numbers_in_one_line(app, monkeypatch, tmp_path):
    study = build_study(monkeypatch)
    path = tmp_path / "study-ratings.csv"
    path.write_bytes(_export(study, "ratings", "csv"))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == ["round", "item", "panellist", "group", "rating", "uts"]
    assert all(r["rating"] == "" or r["rating"].isdigit() for r in rows)
    uts = [r for r in rows if r["uts"] == "1"]
    assert uts and all(r["rating"] == "" for r in uts)
    doc = (ROOT / "docs" / "exports.md").read_text()
    assert 'pd.read_csv("study-ratings.csv")' in doc and 'read.csv("study-ratings.csv")' in doc
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(path)  # the one line of docs/exports.md
    assert str(frame["rating"].dtype) == "float64" and str(frame["uts"].dtype) == "int64"
    assert frame["rating"].between(1, 9).sum() == frame["rating"].notna().sum() > 0
    assert int(frame["uts"].sum()) == len(uts)
    json_rows = json.loads(_export(study, "ratings", "json"))
    assert {type(r["rating"]) for r in json_rows} <= {int, type(None)}
    assert sum(r["uts"] for r in json_rows) == len(uts)


def test_r_reads_the_ratings_export_as_numbers(app, monkeypatch, tmp_path):
    import shutil
    import subprocess

    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("R is not installed")
    study = build_study(monkeypatch)
    path = tmp_path / "study-ratings.csv"
    path.write_bytes(_export(study, "ratings", "csv"))
    out = subprocess.run(  # noqa: S603 - our own command line, the path is ours
        [rscript, "-e", f'r <- read.csv("{path}"); cat(class(r$rating), class(r$uts))'],
        capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["integer", "integer"]
