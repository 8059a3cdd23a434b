"""Small groups stay anonymous on every page and in every published export.

A panel of four clinicians, five nurses and one parent (minimum group size 3): the
parent's group is too small to be shown, and showing the clinicians would give the
parent's rating away (whole panel - clinicians - nurses).  So the clinicians are
withheld too, on the voting page, in the preview, in the report and in the exports.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from delphi.consensus.disclosure import Tally, disclose_rows
from delphi.exports.data import load
from delphi.exports.downloads import export
from delphi.extensions import db
from delphi.models import Invitation, RoundResult, Study
from delphi.panel.answers import Answer, AnswerSheet
from delphi.panel.operations import save_sheet
from delphi.studies import operations as ops
from delphi.surveys import parse_survey

from .conftest import login
from .flows import close, launch, link_for_panellist, open_link

SURVEY = """
slug: small-groups
title: Small groups
description: Three groups, one of them a single parent.
scale: {key: grade-1-9, unable_to_score: true}
feedback: {by_group: true, min_group_size: 3}
groups:
  - {key: clin, name: Clinician}
  - {key: nurse, name: Nurse}
  - {key: parent, name: Parent}
sections:
  - key: a
    title: Section A
    items:
      - {key: a-01, text: First statement, rationale: R}
      - {key: a-02, text: Second statement, rationale: R}
      - {key: a-03, text: Third statement, rationale: R}
"""
SIZES = {"clin": 4, "nurse": 5, "parent": 1}
# per item: the clinicians', the nurses' and the parent's answers (None: no answer)
ANSWERS = {
    "a-01": ([8, 8, 7, 9], [2, 3, 8, 8, 9], [1]),
    "a-02": ([7, 7, 7, 7], [8, 8, 8, 8, 8], ["uts"]),  # an "unable to score" is protected too
    "a-03": ([5, 5, 5, 5], [5, 5, 5, 5, 5], [None]),  # the parent did not rate it
}
NAMES = ("Clinician", "Nurse", "Parent")


@pytest.fixture
def study(app, factory) -> tuple[Study, list, object]:
    owner = factory.facilitator()
    study = ops.import_survey(parse_survey(SURVEY, "small-groups.yaml"), "test", owner)
    db.session.commit()
    panel = factory.panel(study, sizes=SIZES)
    launch(study)
    rnd = study.rounds[0]
    items = {i.key: i for i in study.items}
    for index, panellist in enumerate(panel):
        invitation = db.session.scalar(sa.select(Invitation).where(
            Invitation.round_id == rnd.id, Invitation.panellist_id == panellist.id))
        sheet = AnswerSheet(action="submit")
        for key, by_group in ANSWERS.items():
            value = [*by_group[0], *by_group[1], *by_group[2]][index]
            if value is not None:
                sheet.answers[items[key].id] = Answer(
                    value=value if isinstance(value, int) else None, is_uts=value == "uts")
        save_sheet(invitation, sheet)
    db.session.commit()
    close(study)
    return study, panel, owner


def _hidden_by_the_rule(study: Study) -> dict[str, set[str]]:
    """Per item, the names of the groups the disclosure function hides in round 1."""
    data = db.session.scalar(sa.select(RoundResult.data).where(
        RoundResult.round_id == study.rounds[0].id))
    rows = {(r["item"], r["group"]): r for r in data["items"] if r["round"] == 1}
    names = {g.key: g.name for g in study.groups}
    hidden = {}
    for key in ANSWERS:
        groups = [(g, rows[(key, g)]) for g in names if (key, g) in rows]
        found = disclose_rows(rows[(key, None)], groups, study.min_group_size)
        hidden[key] = {names[g] for g in found.hidden}
    return hidden


def test_the_rule_hides_the_parent_and_the_clinicians_where_needed(study):
    assert _hidden_by_the_rule(study[0]) == {
        "a-01": {"Parent", "Clinician"}, "a-02": {"Parent", "Clinician"},
        "a-03": {"Parent"},  # the parent gave no answer: nothing of theirs to protect
    }


def _blocks(html: str, study: Study) -> dict[str, str]:
    """The page's part for each statement, by item key."""
    items = sorted(study.items, key=lambda i: i.position)
    starts = [html.index(f'id="item-{i.id}"') for i in items]
    return {i.key: html[s:e] for i, s, e in zip(items, starts, [*starts[1:], len(html)],
                                                     strict=True)}


def _title_tally(title: str) -> Tally:
    """The counts in a histogram's text alternative: "10 ratings: 1: 1; 2: 0; ...; 9: 2"."""
    counts = [int(c) for c in re.findall(r"(?:^|; )\d+: (\d+)", title.split("ratings: ", 1)[1])]
    uts = re.search(r"unable to score: (\d+)", title)
    return Tally(tuple(counts), int(uts.group(1)) if uts else 0)


def _check_feedback(html: str, study: Study) -> None:
    """The groups the rule hides are not on the page, and what is shown gives none away."""
    hidden = _hidden_by_the_rule(study)
    for key, block in _blocks(html, study).items():
        shown = set(re.findall(r"<strong>(\w+)</strong>: ", block))
        assert shown == set(NAMES) - hidden[key], key
        titles = re.findall(r'<svg class="histogram[^"]*"[^>]*><title>([^<]*)</title>', block)
        pooled, *groups = [_title_tally(t) for t in titles]
        assert len(groups) == len(shown)
        remainder = pooled
        for group in groups:
            remainder = remainder - group
        clin, _, parent = ANSWERS[key]
        if key != "a-03":
            # whole panel - nurses = clinicians and parent together, never the parent alone
            assert remainder.n_valid + remainder.n_uts == len(clin) + len(parent)
    notes = {k: re.search(r'class="hidden-groups"><small>([^<]*)<', b).group(1)
             for k, b in _blocks(html, study).items()}
    assert notes["a-01"] == notes["a-02"] == (
        "1 group with fewer than 3 ratings is not shown separately, and neither is one more "
        "group, so that nobody's answers can be worked out.")
    assert notes["a-03"] == ("1 group with fewer than 3 ratings is not shown separately, "
                             "so that nobody's answers can be worked out.")


def test_the_voting_page_shows_no_group_the_rule_hides(app, study):
    study, panel, _ = study
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[-1].id))  # the parent
    html = client.get("/vote").get_data(as_text=True)
    _check_feedback(html, study)
    first = _blocks(html, study)["a-01"]
    assert "<strong>Nurse</strong>: median" in first and "Your rating: <strong>1</strong>" in first


def test_the_preview_shows_no_group_the_rule_hides(app, study):
    study, _, owner = study
    client = app.test_client()
    login(client, owner.email)
    html = client.get(f"/studies/{study.slug}/next-round/preview").get_data(as_text=True)
    assert "Preview: round 2" in html
    _check_feedback(html, study)


def _report_group_rows(html: str) -> dict[str, list[tuple[str, str]]]:
    """Round 1 of the report: per statement, (group name, first cell) of each group row."""
    table = html[html.index('id="round-1"'):]
    table = table[:table.index("</section>")]
    found = {}
    for body in table.split('<tbody class="item-rows">')[1:]:
        key = re.search(r"<code>([\w.-]+)</code>", body).group(1)
        found[key] = re.findall(r'<tr class="group">\s*<th scope="row">(\w+)</th>\s*'
                                r'<td[^>]*>([^<]*)<', body)
    return found


def test_the_report_shows_no_group_the_rule_hides(app, study):
    study = study[0]
    hidden = _hidden_by_the_rule(study)
    html = export(study, "report", "html").data.decode()
    rows = _report_group_rows(html)
    for key in ANSWERS:
        for name, cell in rows[key]:
            if name in hidden[key]:
                assert cell == "not shown on its own", (key, name)
            else:
                assert cell.strip().isdigit(), (key, name)
    assert dict(rows["a-01"])["Nurse"] == "5"
    assert "and where the whole panel's numbers would then give that group's answers " \
           "away, neither is the next smallest group" in html
    # every format of the report is drawn from the same rows
    data = load(study)
    for key in ANSWERS:
        shown = {k for k, row in data.shown_group_rows(1, key) if row is not None}
        assert {data.group_name(k) for k in shown} == set(NAMES) - hidden[key]


def test_the_statements_export_shows_no_group_numbers(app, study):
    """The statements hold whole-panel numbers only, in every format."""
    study = study[0]
    document = json.loads(export(study, "statements", "json").data)
    for statement in document["statements"]:
        for numbers in statement["rounds"]:
            assert not any("group" in key for key in numbers)
            assert not any(isinstance(v, dict | list) for v in numbers.values())
    assert {s["item"]: s["rounds"][0]["n"] for s in document["statements"]} == {
        "a-01": 10, "a-02": 9, "a-03": 9}
    text = json.dumps(document)
    table = list(csv.reader(io.StringIO(export(study, "statements", "csv").data.decode())))
    sheet = load_workbook(io.BytesIO(export(study, "statements", "xlsx").data)).active
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row]
    markdown = export(study, "statements", "md").data.decode()
    for name in NAMES:
        assert name not in text and name not in markdown
        assert not any(name in cell for row in table for cell in row)
        assert not any(name in cell for cell in cells)
    assert not any(f'"{key}"' in text for key in SIZES)
    assert not any(key in header for key in SIZES for header in table[0])


def test_the_reports_attrition_rows_never_show_a_group_with_few_dropouts():
    """A published group row of the attrition table would give away the round-1 rating of
    a lone dropout (the dropouts' median is their rating); and hiding that group alone
    would leave it as the whole panel minus the others. So: every group or none."""
    from types import SimpleNamespace

    from delphi.exports.report import attrition_table

    def row(item, group, stayed, dropped):
        return {"item": item, "group": group, "n_stayed": stayed, "n_dropped": dropped,
                "median_stayed": 8.0, "median_dropped": 3.0}

    result = {"attrition_bias": [
        row("a-01", None, 9, 7), row("a-01", "clin", 5, 4), row("a-01", "nurse", 4, 3),
        row("a-02", None, 9, 4), row("a-02", "clin", 5, 3), row("a-02", "parent", 4, 1),
    ]}
    study = SimpleNamespace(min_group_size=3, groups=[])
    data = SimpleNamespace(result=result, study=study, section=result.get,
                           group_name=lambda key: "Whole panel" if key is None else key)
    shown = [(r["item"], r["group"]) for r in attrition_table(data)]
    assert shown == [("a-01", None), ("a-01", "clin"), ("a-01", "nurse"), ("a-02", None)]
