"""Survey definition files: the shipped study, round trips, and clear errors."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest
import textstat
import yaml

from delphi.extensions import db
from delphi.results.tables import analysis_settings
from delphi.studies import operations as ops
from delphi.surveys import DOI_RE, PMID_RE, SurveyError, dump_survey, load_survey_file, parse_survey

from .factories import IMPACT_FILE, SMALL_SURVEY


def test_the_shipped_impact_study_meets_its_brief():
    d = load_survey_file(IMPACT_FILE)
    assert d.slug == "impact-paediatric-car-t"
    assert sum(len(s.items) for s in d.sections) >= 40
    titles = [s.title.lower() for s in d.sections]
    assert any("success" in t for t in titles) and any("toxicit" in t for t in titles)
    assert [g.key for g in d.groups] == [
        "paed-rheum", "cell-therapy", "nephrology", "immunology", "patient-parent"]
    assert d.scale_key == "agreement-1-9" and d.allow_uts
    assert d.consensus["primary_rule"] == "comet"
    assert (d.consensus["comet_agree_pct"], d.consensus["comet_disagree_pct"]) == (70, 15)
    for section in d.sections:
        for item in section.items:
            assert item.rationale, item.key
            assert any(ch.isdigit() for ch in item.rationale), f"{item.key} cites no year"


def test_a_file_round_trips_through_the_database_unchanged(app, runner, tmp_path, factory):
    who = ["--as", factory.facilitator().email]
    result = runner.invoke(args=["import-survey", str(IMPACT_FILE)] + who)
    assert result.exit_code == 0, result.output
    assert "56 statements" in result.output or "statements" in result.output
    out = tmp_path / "exported.yaml"
    result = runner.invoke(args=["export-survey", "impact-paediatric-car-t", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_survey_file(out) == load_survey_file(IMPACT_FILE)
    # and the text itself is stable: exporting the export gives the same bytes
    again = dump_survey(ops.study_definition(ops.find_study("impact-paediatric-car-t")))
    assert again == out.read_text()


def test_import_refuses_a_duplicate_slug_with_a_clear_message(app, runner, factory):
    who = ["--as", factory.facilitator().email]
    runner.invoke(args=["import-survey", str(IMPACT_FILE)] + who)
    result = runner.invoke(args=["import-survey", str(IMPACT_FILE)] + who)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output


def test_update_replaces_a_draft_study_definition(app, runner, tmp_path, factory):
    who = ["--as", factory.facilitator().email]
    source = tmp_path / "small.yaml"
    source.write_text(SMALL_SURVEY.format(slug="small"))
    assert runner.invoke(args=["import-survey", str(source)] + who).exit_code == 0
    source.write_text(SMALL_SURVEY.format(slug="small").replace("First statement",
                                                                 "First statement (edited)"))
    result = runner.invoke(args=["import-survey", str(source), "--update"] + who)
    assert result.exit_code == 0, result.output
    study = ops.find_study("small")
    assert study.items[0].text == "First statement (edited)"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.replace("text: Third statement, ", ""),
         "sections[1].items[0].text: required"),
        (lambda s: s.replace("slug: bad", "slug: Bad Slug!"), "slug: 'Bad Slug!' is not valid"),
        (lambda s: s.replace("key: grade-1-9", "key: grade-1-10"),
         "scale.key: 'grade-1-10' is not one of"),
        (lambda s: s.replace("agree_pct: 70", "agree_pct: 170"),
         "consensus.comet.agree_pct: must be between 1 and 100, got 170"),
        (lambda s: s.replace("consensus: {", "consensus: {iqr: {median_min: 10}, "),
         "consensus.iqr.median_min: must be a point of the GRADE 1-9 importance scale (1-9)"),
        (lambda s: s.replace("primary_rule: comet", "primary_rule: majority"),
         "consensus.primary_rule: 'majority' is not one of"),
        (lambda s: s.replace("key: a-02", "key: a-01"),
         "sections[0].items[1].key: 'a-01' is used by an earlier item"),
        (lambda s: s.replace("key: parent, name: Parent", "key: parent, name: Clinician"),
         "groups[1].name: 'Clinician' is used by an earlier group"),
        (lambda s: s.replace("title: Section A", "titel: Section A"),
         "sections[0].titel: unknown key"),
        (lambda s: s.replace("  - key: b\n", "  - key: b\n    items: 3\n").replace(
            "    items:\n      - {key: b-01", "    things:\n      - {key: b-01"),
         "sections[1].items: must be a list"),
        (lambda s: s + "\n  bad: [unclosed", "YAML syntax error"),
        (lambda s: "", "the file is empty"),
    ],
)
def test_an_invalid_file_names_the_file_the_field_and_the_problem(tmp_path, edit, expected):
    bad = tmp_path / "impact.yaml"
    bad.write_text(edit(SMALL_SURVEY.format(slug="bad")))
    with pytest.raises(SurveyError) as excinfo:
        load_survey_file(bad)
    message = str(excinfo.value)
    assert message.startswith(f"{bad}: ")
    assert expected in message


def test_every_problem_is_listed_not_only_the_first():
    text = SMALL_SURVEY.format(slug="x!").replace("title: Section A", "title: ''")
    with pytest.raises(SurveyError) as excinfo:
        parse_survey(text, "s.yaml")
    assert len(excinfo.value.problems) == 2


def test_the_cli_reports_an_invalid_file_without_a_traceback(app, runner, tmp_path, factory):
    who = ["--as", factory.facilitator().email]
    bad = tmp_path / "broken.yaml"
    bad.write_text(SMALL_SURVEY.format(slug="ok").replace("text: Second statement, ", ""))
    result = runner.invoke(args=["import-survey", str(bad)] + who)
    assert result.exit_code == 1
    assert f"{bad}: sections[0].items[1].text: required" in result.output
    assert "Traceback" not in result.output
    assert ops.find_study("ok") is None


def test_a_missing_or_binary_file_is_a_clear_error(tmp_path):
    with pytest.raises(SurveyError, match="cannot be read"):
        load_survey_file(tmp_path / "nope.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SurveyError, match="not UTF-8"):
        load_survey_file(binary)


def test_survey_format_doc_names_every_key():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "survey-format.md").read_text()
    for key in ("slug", "title", "description", "method", "plain_language", "scale",
                "unable_to_score", "consensus", "primary_rule", "agree_pct", "disagree_pct",
                "threshold", "max_iqr", "median_min", "uts", "percentile_method", "group_rule",
                "stability_pp", "feedback", "by_group", "min_group_size", "ask_reason", "groups",
                "sections", "short_name", "sender_name",
                "items", "key", "text", "plain_text", "rationale", "evidence", "references",
                "doi", "pmid", "agreement-1-9"):
        assert f"`{key}`" in doc, key


def test_short_name_and_sender_name_are_optional_one_line_texts(tmp_path):
    d = parse_survey(SMALL_SURVEY.format(slug="s-1"), "small.yaml")
    assert (d.short_name, d.sender_name) == ("", "")
    assert "short_name" not in dump_survey(d)  # absent keys stay absent in an export
    text = SMALL_SURVEY.format(slug="s-1").replace(
        "title: A small study\n",
        "title: A small study\nshort_name: SMALL\nsender_name: The SMALL committee\n")
    d = parse_survey(text, "small.yaml")
    assert (d.short_name, d.sender_name) == ("SMALL", "The SMALL committee")
    assert parse_survey(dump_survey(d), "again.yaml") == d
    assert dump_survey(d).startswith(
        "slug: s-1\ntitle: A small study\nshort_name: SMALL\nsender_name: The SMALL committee\n")
    bad = SMALL_SURVEY.format(slug="s-1").replace(
        "title: A small study\n",
        f"title: A small study\nshort_name: {'X' * 41}\nsender_name: \"Two\\nlines\"\n")
    with pytest.raises(SurveyError) as excinfo:
        parse_survey(bad, "bad.yaml")
    assert excinfo.value.problems == [
        "short_name: is 41 characters long; at most 40 are allowed",
        "sender_name: must be one line",
    ]


def test_the_shipped_study_has_a_short_name_and_a_sender(app):
    d = load_survey_file(IMPACT_FILE)
    assert d.short_name == "IMPACT" and d.sender_name == "The IMPACT steering committee"


SMALL_CONSENSUS = "consensus: {primary_rule: comet, comet: {agree_pct: 70, disagree_pct: 15}}\n"
CONSENSUS_EXTRA = """consensus:
  group_rule: all
  min_group_size: 4
  scheibe_threshold: 0.2
  wilcoxon: {zero_method: pratt, correction: false}
  by_round:
    2: {comet: {agree_pct: 75}, percent: {threshold: 80}}
"""


def test_the_analysis_settings_are_set_in_the_survey_file_and_round_trip(app):
    text = SMALL_SURVEY.format(slug="extra").replace(SMALL_CONSENSUS, CONSENSUS_EXTRA, 1)
    definition = parse_survey(text, "s.yaml")
    c = definition.consensus
    assert (c["min_group_size"], c["scheibe_threshold"], c["wilcoxon_zero_method"],
            c["wilcoxon_correction"]) == (4, 0.2, "pratt", False)
    assert c["round_thresholds"] == {"2": {"comet_agree_pct": 75, "percent_threshold": 80}}
    study = ops.import_survey(definition, "test")
    db.session.commit()
    assert parse_survey(dump_survey(ops.study_definition(study)), "again.yaml") == definition
    # the engine gets them, with the group rule's minimum apart from the feedback's
    settings = analysis_settings(study)
    assert (settings.min_group_size, study.min_group_size) == (4, 3)
    assert settings.scheibe_threshold == Fraction(1, 5)
    assert (settings.wilcoxon_zero_method, settings.wilcoxon_correction) == ("pratt", False)
    assert settings.for_round(2).comet_agree_pct == 75
    assert settings.for_round(1).comet_agree_pct == 70


@pytest.mark.parametrize(("block", "expected"), [
    ("consensus: {scheibe_threshold: 2}\n", "consensus.scheibe_threshold: must be between 0 and 1"),
    ("consensus: {wilcoxon: {zero_method: none}}\n",
     "consensus.wilcoxon.zero_method: 'none' is not one of"),
    ("consensus: {by_round: {1: {comet: {agree_pct: 75}}}}\n",
     "consensus.by_round.1: must be a round number of 2 or more"),
    ("consensus: {by_round: {2: {stability_pp: 10}}}\n",
     "consensus.by_round.2.stability_pp: unknown key"),
    ("consensus: {by_round: {2: {comet: {agree_pct: 0}}}}\n",
     "consensus.by_round.2.comet.agree_pct: must be between 1 and 100"),
    ("consensus: {by_round: {2: {comet: {disagree_pct: 0}}}}\n",
     "consensus.by_round.2.comet.disagree_pct: must be between 1 and 100"),
    ("consensus: {min_group_size: 0}\n", "consensus.min_group_size: must be between 1"),
])
def test_bad_analysis_settings_in_the_survey_file_are_named(block, expected):
    text = SMALL_SURVEY.format(slug="bad").replace(SMALL_CONSENSUS, block, 1)
    with pytest.raises(SurveyError) as excinfo:
        parse_survey(text, "s.yaml")
    assert expected in str(excinfo.value)


def test_survey_format_doc_names_the_analysis_settings():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "survey-format.md").read_text()
    for key in ("scheibe_threshold", "wilcoxon", "zero_method", "correction", "by_round"):
        assert f"`{key}`" in doc, key
# -- The shipped IMPACT questionnaire, version 2 -------------------------------------------

def _impact_texts():
    """Every statement and section of the shipped study, as (where, text, references)."""
    d = load_survey_file(IMPACT_FILE)
    for section in d.sections:
        yield f"section {section.key} evidence", section.evidence, section.references
        for item in section.items:
            yield item.key, item.rationale, item.references


def test_every_reference_of_the_shipped_study_carries_a_doi_or_pmid():
    d = load_survey_file(IMPACT_FILE)
    for where, text, references in _impact_texts():
        assert text and references, f"{where}: no evidence text or no references"
        for ref in references:
            assert ref.doi or ref.pmid, f"{where}: {ref.text!r} has neither DOI nor PMID"
            assert not ref.doi or DOI_RE.match(ref.doi), (where, ref.doi)
            assert not ref.pmid or PMID_RE.match(ref.pmid), (where, ref.pmid)
    # one identifier, one paper: the same DOI or PMID is never given two citation texts
    seen: dict[str, str] = {}
    for _, _, references in _impact_texts():
        for ref in references:
            for ident in filter(None, (ref.doi, ref.pmid)):
                assert seen.setdefault(ident, ref.text) == ref.text, ident
    assert len(d.sections) == 4


CITATION = re.compile(r"([A-Z\u00c0-\u017e][\w\u00c0-\u017e'-]+)(?: et al\.?)? ((?:19|20)\d\d)$")


def test_every_author_year_a_rationale_cites_is_among_its_linked_references():
    """A source named in the text ("Muller 2024") must be in the statement's (or section's)
    references, so nothing is cited without a checked DOI or PMID."""
    for where, text, references in _impact_texts():
        listed = " ".join(f"{r.text}" for r in references)
        for group in re.findall(r"\(([^()]*)\)", text):
            for part in re.split(r"[;,]", group):
                found = CITATION.search(part.strip())
                if found:
                    surname, year = found.groups()
                    assert surname in listed and year in listed, (
                        f"{where} cites {surname} {year}, which is not among its references")


def test_every_rationale_of_the_shipped_study_gives_the_case_for_and_against():
    for section in load_survey_file(IMPACT_FILE).sections:
        for item in section.items:
            assert item.rationale.startswith("For: "), item.key
            case_for, _, case_against = item.rationale.partition(" Against: ")
            assert len(case_for) > 40 and len(case_against) > 40, item.key


# Flesch-Kincaid grade 9 or lower is "about school grade 8": the formula's grade is a
# school year, and one year of slack keeps a short text with one unavoidable medical word
# (lupus, dermatomyositis) from failing while anything written for adults (grade 12+) fails.
PLAIN_LANGUAGE_MAX_GRADE = 9


def test_every_statement_has_a_plain_language_text_at_about_school_grade_8():
    d = load_survey_file(IMPACT_FILE)
    too_hard = {}
    for section in d.sections:
        for item in section.items:
            assert item.plain_text, f"{item.key} has no plain-language text"
            grade = textstat.flesch_kincaid_grade(item.plain_text)
            if grade > PLAIN_LANGUAGE_MAX_GRADE:
                too_hard[item.key] = grade
    assert too_hard == {}
    # the bound is not vacuous: the statements themselves, written for clinicians, fail it
    clinical = [textstat.flesch_kincaid_grade(i.text) for s in d.sections for i in s.items]
    assert sum(g > PLAIN_LANGUAGE_MAX_GRADE for g in clinical) > len(clinical) / 2


def test_every_section_of_the_shipped_study_names_its_scale():
    raw = yaml.safe_load(IMPACT_FILE.read_text(encoding="utf-8"))
    assert all("scale" in section for section in raw["sections"])
    d = load_survey_file(IMPACT_FILE)
    scales = {s.key: s.scale_key for s in d.sections}
    # definitions and reporting rules are agreed with; outcome domains are rated on importance
    assert scales == {"success": "agreement-1-9", "outcomes": "grade-1-9",
                      "toxicity": "agreement-1-9", "predictors": "agreement-1-9"}


def test_the_header_of_the_shipped_file_lists_what_version_2_split_and_added():
    header = IMPACT_FILE.read_text(encoding="utf-8").split("\nslug:")[0]
    keys = {i.key for s in load_survey_file(IMPACT_FILE).sections for i in s.items}
    for split in ("success-01", "success-16", "success-20", "success-21", "toxicity-11",
                  "toxicity-12", "toxicity-21", "toxicity-23", "predictors-06"):
        assert f"- {split} ->" in header, split
    key = r"(success|outcomes|toxicity|predictors)-(\d\d)"
    named = {f"{m[0]}-{m[1]}{m[2]}" for m in re.findall(key + r"([a-f]?)\b", header)}
    for prefix, first, _, last in re.findall(key + r" \.\. " + key, header):  # a range
        named |= {f"{prefix}-{n:02d}" for n in range(int(first), int(last) + 1)}
    added = keys - {k for k in named if k in keys}
    assert not added, f"not listed in the header: {sorted(added)[:5]}"
    assert "checked against the source record" in header


def test_the_shipped_study_renders_its_scales_evidence_and_links_on_the_voting_page(app, factory):
    from .flows import launch, link_for_panellist, open_link

    study = factory.study(impact=True)
    panel = factory.panel(study, per_group=1)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    d = load_survey_file(IMPACT_FILE)
    assert html.count('<fieldset class="item') == sum(len(s.items) for s in d.sections)
    # each part says how to answer it, and shows its evidence with linked sources
    assert html.count("How to answer this part:") == 4
    assert html.count("What the evidence says") == 4
    # the page's parts, after the section index at the top (which names every section)
    starts = [m.start() for m in re.finditer(r'<section class="vote-section"', html)]
    success, outcomes = html[starts[0]:starts[1]], html[starts[1]:starts[2]]
    assert d.sections[0].title in success and d.sections[1].title in outcomes
    assert "Critical" in outcomes and "Strongly agree" not in outcomes
    assert "Strongly agree" in success and "Critical" not in success
    for ref in (r for s in d.sections for i in s.items for r in i.references):
        link = f"https://doi.org/{ref.doi}" if ref.doi else \
            f"https://pubmed.ncbi.nlm.nih.gov/{ref.pmid}/"
        assert f'href="{link}"' in html, ref.text


