"""A scale per section: survey file, engine, voting page, feedback, results and exports;
and cited sources (DOI, PMID) with a section's evidence summary."""

from __future__ import annotations

import json
import re

import pytest

from delphi.consensus.analyze import analyze
from delphi.consensus.multiscale import analyze_by_scale
from delphi.consensus.scales import GRADE_1_9, get_scale
from delphi.consensus.settings import Settings
from delphi.consensus.table import RatingsTable
from delphi.exports.downloads import export
from delphi.extensions import db
from delphi.models import RoundResult
from delphi.studies import operations as ops
from delphi.surveys import SurveyError, dump_survey, parse_survey

from .conftest import login
from .flows import close, launch, link_for_panellist, open_link, vote
from .test_feedback import ROUND_1

SURVEY = """
slug: {slug}
title: Two scales
groups:
  - {{key: clin, name: Clinician}}
  - {{key: parent, name: Parent}}
sections:
  - key: a
    title: Outcome domains
    items:
      - {{key: a-01, text: Quality of life matters, rationale: R 2020.}}
      - {{key: a-02, text: School attendance matters, rationale: R 2021.}}
  - key: b
    title: Definitions
    scale: agree-5
    evidence: Adult series report drug-free remission after CD19 CAR T cells.
    references:
      - {{text: "Muller F et al. N Engl J Med 2024;390:687-700", doi: 10.1056/NEJMoa2308917}}
    items:
      - key: b-01
        text: Remission is defined by DORIS
        rationale: DORIS is the consensus definition (van Vollenhoven 2021).
        references:
          - {{text: "van Vollenhoven R et al. Lupus Sci Med 2021", doi: 10.1136/lupus-2021-000538}}
          - {{text: "Mackensen A et al. Nat Med 2022", pmid: 36109639}}
"""


def _study(factory, owner=None, slug="two-scales"):
    study = ops.import_survey(parse_survey(SURVEY.format(slug=slug), "s.yaml"), "test", owner)
    db.session.commit()
    return study


def test_agreement_1_9_is_registered_with_agreement_anchors_and_the_grade_bands():
    scale = get_scale("agreement-1-9")
    assert scale.label(1) == "1 Strongly disagree" and scale.label(9) == "9 Strongly agree"
    assert [(b.low, b.high) for b in scale.bands] == [(b.low, b.high) for b in GRADE_1_9.bands]
    assert (scale.agree_band.low, scale.disagree_band.high) == (7, 3)
    assert "strongly agree" in scale.explanation


def test_a_section_names_its_scale_and_it_round_trips(app):
    d = parse_survey(SURVEY.format(slug="s-1"), "s.yaml")
    assert [s.scale_key for s in d.sections] == ["", "agree-5"]
    assert d.sections[1].evidence.startswith("Adult series")
    refs = d.sections[1].items[0].references
    assert [(r.doi, r.pmid) for r in refs] == [("10.1136/lupus-2021-000538", ""),
                                               ("", "36109639")]
    text = dump_survey(d)
    assert "scale: agree-5" in text and "pmid: '36109639'" in text
    assert parse_survey(text, "again.yaml") == d
    study = ops.import_survey(d, "test", None)
    db.session.commit()
    assert [s.scale.key for s in study.sections] == ["grade-1-9", "agree-5"]
    assert {i.key: i.scale_key for i in study.items} == {
        "a-01": "grade-1-9", "a-02": "grade-1-9", "b-01": "agree-5"}
    assert ops.study_definition(study) == d
    assert dump_survey(ops.study_definition(study)) == text


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda s: s.replace("scale: agree-5", "scale: agree-9"),
     "sections[1].scale: 'agree-9' is not one of"),
    (lambda s: s.replace("title: Two scales", "title: Two scales\nconsensus: {primary_rule: rand}"),
     "sections[1].scale: the primary rule rand is not defined on the 5-point agreement scale"),
    (lambda s: s.replace("title: Two scales",
                         "title: Two scales\nconsensus: {iqr: {median_min: 7}}"),
     "sections[1].scale: consensus.iqr.median_min (7) is not a point of the 5-point"),
    (lambda s: s.replace("doi: 10.1136/lupus-2021-000538", "doi: 'doi:10.1136/x'"),
     "sections[1].items[0].references[0].doi: 'doi:10.1136/x' is not a DOI"),
    (lambda s: s.replace("pmid: 36109639", "pmid: PMID36109639"),
     "sections[1].items[0].references[1].pmid: 'PMID36109639' is not a PubMed id"),
    (lambda s: s.replace('{text: "Muller F et al. N Engl J Med 2024;390:687-700", ', "{"),
     "sections[1].references[0].text: required"),
    (lambda s: s.replace("pmid: 36109639", "pmid: 1, url: x"),
     "sections[1].items[0].references[1].url: unknown key"),
])
def test_a_bad_section_scale_or_reference_is_named(edit, expected):
    with pytest.raises(SurveyError) as excinfo:
        parse_survey(edit(SURVEY.format(slug="bad")), "bad.yaml")
    assert expected in str(excinfo.value)


def _table(ratings: dict[str, list[int]]) -> RatingsTable:
    records = [(1, item, f"P{p}", "clin" if p < 3 else "parent", value)
               for item, values in ratings.items() for p, value in enumerate(values)]
    return RatingsTable.from_records(records)


def test_each_statement_is_analysed_on_its_own_scale():
    table = _table({"a-01": [8, 9, 7, 8, 2, 9], "b-01": [4, 5, 4, 4, 5, 3]})
    settings = Settings()
    result = analyze_by_scale(table, settings, {"b-01": "agree-5"})
    pooled = {r["item"]: r for r in result["items"] if r["group"] is None}
    # 5 of 6 rate 4-5 "agree" on the 5-point scale; on GRADE 1-9 none would be in 7-9
    assert pooled["b-01"]["pct_agree"] == pytest.approx(500 / 6)
    assert pooled["b-01"]["verdict"] == "consensus_in"
    alone = analyze(_table({"b-01": [4, 5, 4, 4, 5, 3]}), settings)
    assert [r for r in alone["items"] if r["group"] is None][0]["pct_agree"] == 0
    # the grade item is as if analysed alone, in the table's order, groups after pooled
    grade_alone = analyze(_table({"a-01": [8, 9, 7, 8, 2, 9]}), settings)
    assert [r for r in result["items"] if r["item"] == "a-01"] == grade_alone["items"]
    assert [(r["item"], r["group"]) for r in result["items"]] == [
        ("a-01", None), ("a-01", "clin"), ("a-01", "parent"),
        ("b-01", None), ("b-01", "clin"), ("b-01", "parent")]
    assert result["item_scales"] == {"a-01": "grade-1-9", "b-01": "agree-5"}
    assert result["scales"]["agree-5"]["agree_band"] == [4, 5]
    assert result["response"] == analyze(table, settings)["response"]
    # a rating off the item's own scale is still refused
    with pytest.raises(ValueError, match="not on the 1-5 scale"):
        analyze_by_scale(_table({"b-01": [7, 5, 4, 4, 5, 3]}), settings, {"b-01": "agree-5"})
    # one scale: exactly the engine's output
    assert analyze_by_scale(table, settings, {}) == analyze(table, settings)


def _round_one(app, study, panel):
    launch(study)
    items = study.items
    for index, values in ROUND_1.items():
        client = app.test_client()
        open_link(client, link_for_panellist(study, panel[index].id))
        ratings = {i.id: v for i, v in zip(items, values, strict=True) if v is not None}
        # the third statement is on the 5-point scale
        if isinstance(ratings.get(items[2].id), int):
            ratings[items[2].id] = 4 if index != 4 else 1
        assert vote(client, ratings).status_code == 302
    close(study)


def test_the_voting_page_results_feedback_and_exports_use_each_sections_scale(app, factory):
    owner = factory.facilitator()
    study = _study(factory, owner)
    panel = factory.panel(study)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    a01, _, b01 = study.items
    first = html[html.index(f'id="item-{a01.id}"'):html.index("</fieldset>",
                                                              html.index(f'id="item-{a01.id}"'))]
    third = html[html.index(f'id="item-{b01.id}"'):]
    third = third[:third.index("</fieldset>")]
    assert len(re.findall(rf'name="rating-{a01.id}" value="\d', first)) == 9
    assert len(re.findall(rf'name="rating-{b01.id}" value="\d', third)) == 5
    assert "Strongly agree" in third and "Critical" not in third
    # the page says how to answer each part, and shows the evidence with its sources
    assert "each part of the questionnaire says which scale it uses" in html
    assert "How to answer this part:" in html
    assert "Say how much you agree with each statement" in html
    assert "Adult series report drug-free remission" in html
    assert 'href="https://doi.org/10.1056/NEJMoa2308917"' in html
    assert 'href="https://doi.org/10.1136/lupus-2021-000538"' in third
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/36109639/"' in third
    # a 7 is a point of the first statement's scale but not of the third's
    response = vote(client, {a01.id: 7, b01.id: 7})
    assert response.status_code == 400
    assert "statement b-01: &#39;7&#39; is not a point of the scale (1-5" in \
        response.get_data(as_text=True)
    close(study)

    study = _study(factory, owner, slug="two-scales-2")
    panel = factory.panel(study)
    _round_one(app, study, panel)
    data = db.session.query(RoundResult).filter_by(round_id=study.rounds[0].id).one().data
    pooled = {r["item"]: r for r in data["items"] if r["group"] is None}
    assert pooled["b-01"]["pct_agree"] == 75  # 4, 4, 4, 1 (and one UTS)
    assert pooled["a-01"]["pct_agree"] == pytest.approx(500 / 6)
    # the results page reads each statement on its scale
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/rounds/1/results").get_data(as_text=True)
    block = page[page.index(f'id="result-{study.items[2].id}"'):]
    assert "rated 4–5" in block.split("</article>")[0]
    assert "Rated on the 5-point agreement scale" in block
    assert "rated 7–9" in page[page.index(f'id="result-{study.items[0].id}"'):]
    # round 2 feedback
    launch(study)
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, panel[0].id))
    html = voter.get("/vote").get_data(as_text=True)
    third = html[html.index(f'id="item-{study.items[2].id}"'):]
    assert "<strong>75%</strong> rated 4–5" in third.split("</fieldset>")[0]
    # the statements export names each statement's scale
    rows = json.loads(export(study, "statements", "json").data)["statements"]
    assert {r["item"]: r["scale"] for r in rows} == {
        "a-01": "grade-1-9", "a-02": "grade-1-9", "b-01": "agree-5"}
    csv_text = export(study, "statements", "csv").data.decode("utf-8-sig")
    assert csv_text.splitlines()[0].split(",")[:6] == [
        "item", "key", "version", "section", "scale", "text"]


def test_a_reworded_statement_keeps_the_sources_of_its_rationale(app, factory):
    from delphi.decisions import operations as decisions

    owner = factory.facilitator()
    study = _study(factory, owner)
    panel = factory.panel(study)
    _round_one(app, study, panel)
    b01 = study.items[2]
    new = decisions.reword(study, b01, "Remission is defined by DORIS 2021", "clearer", owner)
    db.session.commit()
    assert new.references == b01.references and len(new.references) == 2
    assert new.scale_key == "agree-5"


def test_the_study_page_and_the_rule_name_each_sections_scale(app, factory, client):
    owner = factory.facilitator()
    study = _study(factory, owner)
    rule = study.consensus.describe()
    assert "7-9 critical" in rule and "4-5 agree" in rule and "1-2 disagree" in rule
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/").get_data(as_text=True)
    assert "Definitions: <strong>5-point agreement</strong>" in page
    # a study on one scale keeps its plain sentence
    single = factory.study(owner=owner)
    plain = single.consensus.describe()
    assert "(7-9 critical)" in plain and "another scale" not in plain
