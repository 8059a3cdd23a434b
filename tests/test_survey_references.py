"""The survey format's ``references`` per statement, the refusal of markup, the draft mode
the builder uses, and the line each problem of a file is on."""

from __future__ import annotations

import pytest

from delphi.studies import operations as ops
from delphi.surveys import SurveyError, check_document, dump_survey, parse_survey

from .factories import SMALL_SURVEY

WITH_REFERENCES = SMALL_SURVEY.format(slug="refs").replace(
    "      - {key: b-01, text: Third statement, rationale: Because (Source C 2022).}\n",
    "      - key: b-01\n"
    "        text: Third statement\n"
    "        rationale: Because (Source C 2022).\n"
    "        references:\n"
    "          - {text: \"Smith J. Lancet 2020\", doi: \"10.1016/S0140-6736(20)30000-0\"}\n"
    "          - {text: \"Doe A. Blood 2019\", pmid: 31234567}\n")


def test_references_are_parsed_dumped_and_round_tripped_through_the_database(app):
    d = parse_survey(WITH_REFERENCES, "refs.yaml")
    refs = d.sections[1].items[0].references
    assert [(r.text, r.doi, r.pmid) for r in refs] == [
        ("Smith J. Lancet 2020", "10.1016/S0140-6736(20)30000-0", ""),
        ("Doe A. Blood 2019", "", "31234567")]
    assert [r.url for r in refs] == ["https://doi.org/10.1016/S0140-6736(20)30000-0",
                                     "https://pubmed.ncbi.nlm.nih.gov/31234567/"]
    text = dump_survey(d)
    assert "    references:\n    - text: Smith J. Lancet 2020\n" in text
    assert parse_survey(text, "again.yaml") == d
    study = ops.import_survey(d, "test")
    assert dump_survey(ops.study_definition(study)) == text
    # a statement without references has no key for them in the file
    assert text.count("references:") == 1


@pytest.mark.parametrize(("entry", "problem"), [
    ("{text: A}", "references[1]: needs a doi (10.NNNN/...) or a pmid (digits)"),
    ("{text: A, doi: 10.1/x}", "references[1].doi: '10.1/x' is not a DOI (10.NNNN/"),
    ("{text: A, doi: 'https://doi.org/10.1000/x'}", "is not a DOI"),
    ("{text: A, pmid: 12ab}", "references[1].pmid: '12ab' is not a PubMed id (digits"),
    ("{doi: 10.1000/x}", "references[1].text: required"),
    ("{text: A, doi: 10.1000/x, url: y}", "references[1].url: unknown key"),
    ("{text: '<b>A</b>', doi: 10.1000/x}", "references[1].text: contains markup"),
])
def test_a_bad_reference_names_its_path_and_problem(entry, problem):
    """(A DOI and a PMID together are fine: the shipped study cites many sources by both.)"""
    text = WITH_REFERENCES.replace('- {text: "Doe A. Blood 2019", pmid: 31234567}',
                                   f"- {entry}")
    with pytest.raises(SurveyError) as excinfo:
        parse_survey(text, "refs.yaml")
    assert any(problem in p for p in excinfo.value.problems), excinfo.value.problems
    assert all(p.startswith("sections[1].items[0].references") for p in excinfo.value.problems)


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "a <img src=x onerror=y>",
                                  "</p>", "<!-- x -->"])
def test_markup_in_a_text_is_refused_but_a_less_than_sign_is_not(text):
    bad = SMALL_SURVEY.format(slug="mm").replace("First statement", text.replace(":", ""))
    with pytest.raises(SurveyError, match=r"sections\[0\]\.items\[0\]\.text: contains markup"):
        parse_survey(bad.replace(f"text: {text}", f"text: '{text}'"), "m.yaml")
    fine = SMALL_SURVEY.format(slug="mm").replace("First statement", "'CRP < 10 and age <5'")
    assert parse_survey(fine, "m.yaml").sections[0].items[0].text == "CRP < 10 and age <5"


def test_a_draft_may_have_no_groups_sections_or_statements_but_a_file_may_not():
    doc = {"slug": "blank", "title": "Blank", "groups": [], "sections": [
        {"key": "a", "title": "A", "items": []}]}
    d = check_document(doc, "builder", draft=True)
    assert (d.groups, d.sections[0].items) == ((), ())
    with pytest.raises(SurveyError) as excinfo:
        check_document(doc, "builder")
    assert excinfo.value.problems == ["groups: must not be empty",
                                      "sections[0].items: must not be empty"]


def test_each_problem_of_a_file_carries_its_line():
    text = "slug: ok\ntitle: T\ngroups:\n  - {key: a, name: A}\nsections:\n  - title: S\n" \
           "    items:\n      - key: x-1\n        text: ''\n        rationale: R\n"
    with pytest.raises(SurveyError) as excinfo:
        parse_survey(text, "f.yaml")
    assert excinfo.value.with_lines() == ["sections[0].items[0].text: required (line 9)"]


def test_the_format_doc_describes_references_and_the_markup_rule():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "survey-format.md").read_text()
    for key in ("references", "doi", "pmid"):
        assert f"`{key}`" in doc, key
    assert "markup" in doc


def test_the_builders_references_box_keeps_a_doi_and_a_pmid_together():
    """The shipped study cites many sources by both; editing a statement must keep both."""
    from delphi.builder.forms import format_references, parse_references

    refs = [{"text": "Mackensen A et al. Nat Med 2022", "doi": "10.1038/s41591-022-02017-5",
             "pmid": "36109639"},
            {"text": "Lee DW et al. BBMT 2019", "pmid": "30592986"},
            {"text": "Muller F et al. NEJM 2024", "doi": "10.1056/NEJMoa2308917"}]
    assert parse_references(format_references(refs)) == (refs, [])
    assert parse_references("A | 10.1/x | 10.2/y")[1] == ["line 1: give one DOI at most"]
