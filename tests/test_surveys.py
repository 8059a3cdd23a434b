"""Survey definition files: the shipped study, round trips, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from delphi.studies import operations as ops
from delphi.surveys import SurveyError, dump_survey, load_survey_file, parse_survey

from .factories import IMPACT_FILE, SMALL_SURVEY


def test_the_shipped_impact_study_meets_its_brief():
    d = load_survey_file(IMPACT_FILE)
    assert d.slug == "impact-paediatric-car-t"
    assert sum(len(s.items) for s in d.sections) >= 40
    titles = [s.title.lower() for s in d.sections]
    assert any("success" in t for t in titles) and any("toxicit" in t for t in titles)
    assert [g.key for g in d.groups] == [
        "paed-rheum", "cell-therapy", "nephrology", "immunology", "patient-parent"]
    assert d.scale_key == "grade-1-9" and d.allow_uts
    assert d.consensus["primary_rule"] == "comet"
    assert (d.consensus["comet_agree_pct"], d.consensus["comet_disagree_pct"]) == (70, 15)
    for section in d.sections:
        for item in section.items:
            assert item.rationale, item.key
            assert any(ch.isdigit() for ch in item.rationale), f"{item.key} cites no year"


def test_a_file_round_trips_through_the_database_unchanged(app, runner, tmp_path):
    result = runner.invoke(args=["import-survey", str(IMPACT_FILE)])
    assert result.exit_code == 0, result.output
    assert "56 statements" in result.output or "statements" in result.output
    out = tmp_path / "exported.yaml"
    result = runner.invoke(args=["export-survey", "impact-paediatric-car-t", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_survey_file(out) == load_survey_file(IMPACT_FILE)
    # and the text itself is stable: exporting the export gives the same bytes
    again = dump_survey(ops.study_definition(ops.find_study("impact-paediatric-car-t")))
    assert again == out.read_text()


def test_import_refuses_a_duplicate_slug_with_a_clear_message(app, runner):
    runner.invoke(args=["import-survey", str(IMPACT_FILE)])
    result = runner.invoke(args=["import-survey", str(IMPACT_FILE)])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output


def test_update_replaces_a_draft_study_definition(app, runner, tmp_path):
    source = tmp_path / "small.yaml"
    source.write_text(SMALL_SURVEY.format(slug="small"))
    assert runner.invoke(args=["import-survey", str(source)]).exit_code == 0
    source.write_text(SMALL_SURVEY.format(slug="small").replace("First statement",
                                                                 "First statement (edited)"))
    result = runner.invoke(args=["import-survey", str(source), "--update"])
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


def test_the_cli_reports_an_invalid_file_without_a_traceback(app, runner, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text(SMALL_SURVEY.format(slug="ok").replace("text: Second statement, ", ""))
    result = runner.invoke(args=["import-survey", str(bad)])
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
