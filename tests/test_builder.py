"""The study builder: a facilitator creates a study and edits its draft in the browser."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import AuditEvent, Study
from delphi.studies import operations as ops
from delphi.surveys import dump_survey, parse_survey

from .conftest import csrf_token, login
from .factories import SMALL_SURVEY

EMAIL = "maria@example.org"


@pytest.fixture
def me(factory, client):
    facilitator = factory.facilitator(EMAIL)
    login(client, EMAIL)
    return facilitator


@pytest.fixture
def small(factory, me):
    return factory.study(owner=me, slug="small")


def _token(client, url="/studies/new"):
    return csrf_token(client, url)


def _post(client, url, data, page=None, **kwargs):
    data = {"csrf_token": _token(client, page or url), **data}
    return client.post(url, data=data, **kwargs)


def _study(slug):
    db.session.expire_all()
    return ops.find_study(slug)


def _events(action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


def _text(response):
    return response.get_data(as_text=True)


# -- creating ----------------------------------------------------------------------------

def test_a_blank_study_is_created_as_a_draft_the_facilitator_owns(client, me):
    response = _post(client, "/studies/new/blank", {"blank-slug": "my-study",
                                                      "blank-title": "My study"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/studies/my-study/build")
    study = _study("my-study")
    assert study.title == "My study" and study.state.value == "draft"
    assert (study.groups, study.sections, study.items) == ([], [], [])
    assert me.can_access(study)
    event = _events("study.created")[-1]
    assert event.detail["after"] == {"slug": "my-study", "title": "My study", "from": "blank"}
    page = client.get("/studies/my-study/build/statements")
    assert page.status_code == 200 and "No sections yet" in _text(page)


def test_a_study_is_created_from_the_shipped_template(client, me):
    response = _post(client, "/studies/new/template", {"template-slug": "car-t-2027",
                                                         "template-title": ""})
    assert response.status_code == 302
    study = _study("car-t-2027")
    assert study.short_name == "IMPACT" and len(study.items) >= 40
    assert [g.key for g in study.groups][:2] == ["paed-rheum", "cell-therapy"]


def test_a_study_is_created_from_an_uploaded_file(client, me):
    raw = SMALL_SURVEY.format(slug="uploaded").encode()
    response = _post(client, "/studies/new/upload",
                     {"upload-file": (io.BytesIO(raw), "small.yaml")},
                     content_type="multipart/form-data")
    assert response.status_code == 302
    assert [i.key for i in _study("uploaded").items] == ["a-01", "a-02", "b-01"]


def test_a_bad_uploaded_file_lists_each_problem_with_its_path_and_line(client, me):
    raw = SMALL_SURVEY.format(slug="bad").replace("text: Second statement, ", "").replace(
        "agree_pct: 70", "agree_pct: 170").encode()
    response = _post(client, "/studies/new/upload",
                     {"upload-file": (io.BytesIO(raw), "broken.yaml")},
                     content_type="multipart/form-data")
    assert response.status_code == 400
    body = _text(response)
    assert "consensus.comet.agree_pct: must be between 1 and 100, got 170 (line 6)" in body
    assert "sections[0].items[1].text: required (line 15)" in body
    assert _study("bad") is None


def test_a_duplicate_or_bad_short_address_is_refused_with_a_message(client, me, small):
    response = _post(client, "/studies/new/blank", {"blank-slug": "small", "blank-title": "X"})
    assert response.status_code == 400 and "already exists" in _text(response)
    response = _post(client, "/studies/new/blank", {"blank-slug": "Bad Slug", "blank-title": ""})
    body = _text(response)
    assert "Short address: &#39;Bad Slug&#39; is not valid" in body
    assert "Title: required" in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Study)) == 1


def test_creating_needs_the_csrf_token(client, me):
    response = client.post("/studies/new/blank", data={"blank-slug": "x-y", "blank-title": "X"})
    assert response.status_code == 400
    assert _study("x-y") is None


# -- editing the settings ------------------------------------------------------------------

SETTINGS = {
    "title": "An edited title", "short_name": "EDIT", "sender_name": "The EDIT committee",
    "description": "What it is for.", "plain_language": "Plain words for parents.",
    "method": "modified e-Delphi", "scale": "agree-5", "unable_to_score": "",
    "primary_rule": "percent", "agree_pct": "75", "disagree_pct": "10", "threshold": "80",
    "max_iqr": "2", "median_min": "4", "uts": "include", "percentile_method": "hazen",
    "group_rule": "all", "stability_pp": "10", "by_group": "y", "min_group_size": "5",
    "ask_reason": "",
}


def _settings(**changes):
    data = {k: v for k, v in {**SETTINGS, **changes}.items()}
    return {k: v for k, v in data.items() if v != "" or k not in ("unable_to_score",
                                                                   "ask_reason")}


def test_every_setting_is_edited_in_the_form_and_audited_with_before_and_after(client, small):
    url = "/studies/small/build"
    response = _post(client, url, _settings())
    assert response.status_code == 302, _text(response)
    s = _study("small")
    assert (s.title, s.short_name, s.sender_name) == ("An edited title", "EDIT",
                                                      "The EDIT committee")
    assert (s.description, s.plain_language) == ("What it is for.", "Plain words for parents.")
    assert (s.scale_key, s.allow_uts) == ("agree-5", False)
    c = s.consensus
    assert (c.primary_rule, c.comet_agree_pct, c.comet_disagree_pct, c.percent_threshold,
            c.iqr_max, c.iqr_median_min, c.uts_rule, c.percentile_method, c.group_rule,
            c.stability_pp) == ("percent", 75, 10, 80, 2, 4, "include", "hazen", "all", 10)
    assert (s.feedback_by_group, s.min_group_size, s.ask_reason_on_band_change) == (
        True, 5, False)
    event = _events("study.settings_edited")[-1]
    assert event.detail["before"]["title"] == "A small study"
    assert event.detail["after"]["title"] == "An edited title"
    assert event.detail["before"]["threshold"] == 75 and event.detail["after"]["threshold"] == 80
    assert "group_rule" in event.detail["after"] and "method" not in event.detail["after"]
    # the page says the rule in words, from the saved settings
    page = _text(client.get(url))
    assert "Percent agreement 80%: consensus in when at least 80%" in page
    assert "(4-5 agree)" in page and "Group rule: every group." in page


def test_saving_the_form_keeps_the_settings_it_does_not_show(client, small):
    """The Wilcoxon test's settings, Scheibe's threshold, the group rule's minimum and the
    thresholds by round are set in the survey file only: saving the builder's form (which
    does not show them) used to reset them to their defaults."""
    c = small.consensus
    c.wilcoxon_zero_method, c.wilcoxon_correction, c.scheibe_threshold = "pratt", False, 0.2
    c.min_group_size, c.round_thresholds = 4, {"2": {"comet_agree_pct": 75}}
    db.session.commit()
    response = _post(client, "/studies/small/build", _settings(scale="grade-1-9"))
    assert response.status_code == 302, _text(response)
    c = _study("small").consensus
    assert (c.wilcoxon_zero_method, c.wilcoxon_correction, c.scheibe_threshold,
            c.min_group_size, c.round_thresholds) == ("pratt", False, 0.2, 4,
                                                      {"2": {"comet_agree_pct": 75}})
    assert (c.primary_rule, c.percent_threshold) == ("percent", 80)


def test_every_registered_scale_is_offered_with_its_bands(client, small):
    from delphi.consensus.scales import SCALES

    page = _text(client.get("/studies/small/build"))
    for key, scale in SCALES.items():
        assert f'value="{key}"' in page
        for band in scale.bands:
            assert band.label in page


def test_the_rule_sentence_is_the_engines_and_follows_what_is_typed(client, small):
    page = _text(client.get("/studies/small/build"))
    assert 'id="rule-sentence"' in page and 'data-url="/studies/small/build/rule-sentence"' in page
    assert '<script src="/static/builder.js' in page
    # the page's sentence is the study's own describe(), i.e. the engine's methods text
    from delphi.models import Study

    study = db.session.scalar(sa.select(Study).where(Study.slug == "small"))
    from markupsafe import escape

    assert str(escape(study.consensus.describe())) in page
    # what the script asks for while typing: the same words for the typed values; the
    # group rule's minimum is the study's consensus setting (5 here), not the feedback's
    # anonymity minimum typed in the same form (4)
    study.consensus.min_group_size = 5
    db.session.commit()
    answer = client.get("/studies/small/build/rule-sentence?primary_rule=comet&agree_pct=82"
                        "&disagree_pct=12&threshold=75&max_iqr=1&uts=exclude&group_rule=all"
                        "&min_group_size=4&scale=grade-1-9").get_json()
    assert "COMET 82/12: consensus in when at least 82%" in answer["sentence"]
    assert "Group rule: every group" in answer["sentence"] and "at least 5 valid" in \
        answer["sentence"]
    bad = client.get("/studies/small/build/rule-sentence?primary_rule=comet&agree_pct=170"
                     "&disagree_pct=12&uts=exclude&group_rule=pooled").get_json()
    assert bad["sentence"].startswith("Not a valid rule yet")


LONG = "x" * 5001
SCRIPT = "<script>alert(1)</script>"
NUL_MESSAGE = "contains a NUL character"  # refused for every field before any form runs


def _expect(body: str, field: str, value: str, message: str) -> None:
    """The message is on the page, beside its field (a NUL is refused for the whole
    request, naming the field)."""
    if "\x00" in value:
        assert NUL_MESSAGE in body and field in body
        return
    assert message.replace("'", "&#39;") in body
    assert f'id="{field}-error"' in body
    assert SCRIPT not in body


@pytest.mark.parametrize(("field", "value", "message"), [
    ("title", "", "required"),
    ("title", "   ", "required"),
    ("title", "x" * 301, "at most 300 are allowed"),
    ("title", "A\x00B", "contains a control character"),
    ("title", "A\x07B", "contains a control character"),
    ("title", SCRIPT, "contains markup"),
    ("short_name", "x" * 41, "at most 40 are allowed"),
    ("short_name", "A\x00B", "contains a control character"),
    ("short_name", SCRIPT, "contains markup"),
    ("sender_name", "x" * 121, "at most 120 are allowed"),
    ("sender_name", "A\x00B", "contains a control character"),
    ("sender_name", SCRIPT, "contains markup"),
    ("description", LONG, "at most 5000 are allowed"),
    ("description", "A\x00B", "contains a control character"),
    ("description", "A\x1bB", "contains a control character"),
    ("description", SCRIPT, "contains markup"),
    ("plain_language", LONG, "at most 5000 are allowed"),
    ("plain_language", "A\x00B", "contains a control character"),
    ("plain_language", SCRIPT, "contains markup"),
    ("method", "x" * 121, "at most 120 are allowed"),
    ("method", SCRIPT, "contains markup"),
    ("scale", "grade-1-10", "Not a valid choice"),
    ("primary_rule", SCRIPT, "Not a valid choice"),
    ("agree_pct", "", "Enter a whole number"),
    ("agree_pct", "170", "must be between 1 and 100, got 170"),
    ("agree_pct", "7\x000", "Not a valid integer"),
    ("agree_pct", SCRIPT, "Not a valid integer"),
    ("disagree_pct", "0", "must be between 1 and 100"),
    ("threshold", "101", "must be between 1 and 100"),
    ("max_iqr", "-1", "must be between 0 and 100"),
    ("median_min", "12", "must be a point of the GRADE 1-9 importance scale"),
    ("uts", "sometimes", "Not a valid choice"),
    ("group_rule", "most", "Not a valid choice"),
    ("percentile_method", "nearest", "Not a valid choice"),
    ("stability_pp", "1000", "must be between 1 and 100"),
    ("min_group_size", "0", "must be between 1 and 1000"),
    ("min_group_size", "", "Enter a whole number"),
])
def test_bad_settings_are_refused_with_a_message_and_nothing_is_saved(client, small, field,
                                                                      value, message):
    before = dump_survey(ops.study_definition(small))
    events = len(_events("study.settings_edited"))
    data = _settings(**{field: value, "scale": "grade-1-9"} if field != "scale" else
                     {field: value})
    response = _post(client, "/studies/small/build", data)
    assert response.status_code == 400
    _expect(_text(response), field, value, message)
    assert dump_survey(ops.study_definition(_study("small"))) == before
    assert len(_events("study.settings_edited")) == events


def test_a_study_with_a_launched_round_cannot_be_edited(client, factory, small):
    from .flows import launch

    factory.panel(small)
    launch(small)
    page = client.get("/studies/small/build")
    assert page.status_code == 302
    assert "cannot be edited" in _text(client.get(page.headers["Location"]))
    response = _post(client, "/studies/small/build", _settings(), page="/studies/small/")
    assert response.status_code == 302
    assert _study("small").title == "A small study"
    response = _post(client, "/studies/small/build/statements/a-01/delete", {},
                     page="/studies/small/")
    assert [i.key for i in _study("small").items] == ["a-01", "a-02", "b-01"]


# -- groups -------------------------------------------------------------------------------

def test_groups_are_added_edited_and_deleted_with_before_and_after(client, small):
    url = "/studies/small/build/groups"
    response = _post(client, url, {"key": "nurse", "name": "Nurse", "description": "Ward"})
    assert response.status_code == 302
    assert [g.key for g in _study("small").groups] == ["clin", "parent", "nurse"]
    response = _post(client, f"{url}/nurse", {"key": "nurse", "name": "Nurse specialist",
                                               "description": ""})
    assert response.status_code == 302
    assert _study("small").groups[2].name == "Nurse specialist"
    event = _events("study.group_edited")[-1]
    assert event.detail["before"]["name"] == "Nurse"
    assert event.detail["after"]["name"] == "Nurse specialist"
    response = _post(client, f"{url}/nurse/delete", {}, page=url)
    assert [g.key for g in _study("small").groups] == ["clin", "parent"]
    assert _events("study.group_deleted")[-1].detail["before"]["key"] == "nurse"


def test_a_group_with_panellists_is_kept(client, factory, small):
    factory.panel(small, per_group=1)
    url = "/studies/small/build/groups"
    response = _post(client, f"{url}/clin/delete", {}, page=url)
    assert "cannot be removed" in _text(client.get(response.headers["Location"]))
    assert [g.key for g in _study("small").groups] == ["clin", "parent"]
    response = _post(client, f"{url}/clin", {"key": "doctors", "name": "Doctors"})
    assert response.status_code == 400
    assert "panellists belong to this group; its key cannot change" in _text(response)
    response = _post(client, f"{url}/clin", {"key": "clin", "name": "Doctors"})
    assert response.status_code == 302
    assert [g.name for g in _study("small").groups] == ["Doctors", "Parent"]
    assert len(_study("small").panellists) == 2


@pytest.mark.parametrize(("field", "value", "message"), [
    ("key", "", "required"), ("key", "x" * 65, "at most 64"), ("key", "a\x00", "control"),
    ("key", SCRIPT, "contains markup"), ("key", "clin", "used by an earlier group"),
    ("name", "a\x07", "control"), ("name", "", "required"), ("name", "x" * 201, "at most 200"),
    ("name", "a\x00", "control"),
    ("name", SCRIPT, "contains markup"), ("name", "parent", "used by an earlier group"),
    ("description", LONG, "at most 5000"), ("description", SCRIPT, "contains markup"),
])
def test_a_bad_group_is_refused_with_a_message(client, small, field, value, message):
    data = {"key": "nurse", "name": "Nurse", "description": "", field: value}
    response = _post(client, "/studies/small/build/groups", data)
    assert response.status_code == 400
    _expect(_text(response), field, value, message)
    assert [g.key for g in _study("small").groups] == ["clin", "parent"]


# -- sections and statements ------------------------------------------------------------

def test_sections_are_added_edited_moved_and_deleted(client, small):
    url = "/studies/small/build/statements"
    assert _post(client, url, {"title": "Section C", "description": "Third"}).status_code == 302
    s = _study("small")
    assert [x.key for x in s.sections] == ["a", "b", "section-3"]
    response = _post(client, "/studies/small/build/sections/section-3",
                     {"key": "c", "title": "Section C (edited)", "description": ""})
    assert response.status_code == 302
    assert _study("small").sections[2].title == "Section C (edited)"
    _post(client, "/studies/small/build/sections/c/move", {"direction": "up"}, page=url)
    assert [x.key for x in _study("small").sections] == ["a", "c", "b"]
    _post(client, "/studies/small/build/sections/a/move", {"direction": "up"}, page=url)
    assert [x.key for x in _study("small").sections] == ["a", "c", "b"]  # already first
    _post(client, "/studies/small/build/sections/a/delete", {}, page=url)
    s = _study("small")
    assert [x.key for x in s.sections] == ["c", "b"]
    assert [i.key for i in s.items] == ["b-01"]
    event = _events("study.section_deleted")[-1]
    assert [i["key"] for i in event.detail["before"]["items"]] == ["a-01", "a-02"]
    assert _events("study.section_moved")[-1].detail == {
        "before": {"key": "c", "position": 3}, "after": {"key": "c", "position": 2}}


def test_statements_are_added_edited_moved_and_deleted_with_references(client, small):
    url = "/studies/small/build/sections/b/statements/new"
    response = _post(client, url, {
        "text": "A new statement", "plain_text": "In plain words",
        "rationale": "Because (Source D 2023).",
        "references": "Smith J. Lancet 2020 | 10.1016/S0140-6736(20)30000-0\n"
                      "Doe A. Blood 2019 | PMID 31234567"})
    assert response.status_code == 302, _text(response)
    item = [i for i in _study("small").items if i.key == "b-02"][0]
    assert (item.text, item.plain_text) == ("A new statement", "In plain words")
    assert item.references == [
        {"text": "Smith J. Lancet 2020", "doi": "10.1016/S0140-6736(20)30000-0"},
        {"text": "Doe A. Blood 2019", "pmid": "31234567"}]
    page = _text(client.get("/studies/small/build/statements"))
    assert 'href="https://doi.org/10.1016/S0140-6736(20)30000-0"' in page
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/31234567/"' in page
    edit = "/studies/small/build/statements/b-02"
    assert "Doe A. Blood 2019 | PMID 31234567" in _text(client.get(edit))
    response = _post(client, edit, {"key": "b-02", "text": "A reworded statement",
                                    "plain_text": "", "rationale": "Because.",
                                    "references": ""})
    assert response.status_code == 302
    item = [i for i in _study("small").items if i.key == "b-02"][0]
    assert (item.text, item.references) == ("A reworded statement", [])
    event = _events("study.statement_edited")[-1]
    assert event.detail["before"]["text"] == "A new statement"
    assert event.detail["after"]["text"] == "A reworded statement"
    page = "/studies/small/build/statements"
    _post(client, "/studies/small/build/statements/b-02/move", {"direction": "up"}, page=page)
    assert [i.key for i in _study("small").items] == ["a-01", "a-02", "b-02", "b-01"]
    _post(client, "/studies/small/build/statements/a-01/move", {"direction": "down"}, page=page)
    assert [i.key for i in _study("small").items] == ["a-02", "a-01", "b-02", "b-01"]
    _post(client, "/studies/small/build/statements/a-01/delete", {}, page=page)
    assert [i.key for i in _study("small").items] == ["a-02", "b-02", "b-01"]
    assert _events("study.statement_deleted")[-1].detail["before"]["key"] == "a-01"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("text", "", "required"), ("text", "  ", "required"), ("text", LONG, "at most 5000"),
    ("text", "a\x00b", "contains a control character"),
    ("text", "a\x07b", "contains a control character"), ("text", SCRIPT, "contains markup"),
    ("rationale", "", "required"), ("rationale", LONG, "at most 5000"),
    ("rationale", "a\x00b", "contains a control character"),
    ("rationale", SCRIPT, "contains markup"),
    ("plain_text", LONG, "at most 5000"), ("plain_text", "a\x00b", "control character"),
    ("plain_text", SCRIPT, "contains markup"),
    ("key", "x" * 65, "at most 64"), ("key", "a\x00", "control character"),
    ("key", SCRIPT, "contains markup"), ("key", "a-01", "used by an earlier item"),
    ("references", "No identifier", "write the citation, then |"),
    ("references", "Smith | 10.1/x", "is not a DOI"),
    ("references", "Smith | abc", "neither a DOI"),
    ("references", "Smith | 1234567890", "is not a PubMed id"),
    ("references", " | 10.1000/xyz", "required"),
    ("references", f"{SCRIPT} | 10.1000/xyz", "contains markup"),
    ("references", "a\x00b | 10.1000/xyz", "control character"),
    ("references", "a\x07b | 10.1000/xyz", "control character"),
    ("references", f"{'x' * 1001} | 10.1000/xyz", "at most 1000"),
])
def test_a_bad_statement_is_refused_with_a_message_and_nothing_is_saved(client, small, field,
                                                                       value, message):
    before = dump_survey(ops.study_definition(small))
    data = {"key": "", "text": "Fine text", "plain_text": "", "rationale": "Fine.",
            "references": "", field: value}
    for url in ("/studies/small/build/sections/b/statements/new",
                "/studies/small/build/statements/a-02"):
        if url.endswith("a-02") and field == "key" and value == "a-01":
            message = "used by an earlier item"
        response = _post(client, url, {**data, "key": data["key"] or (
            "a-02" if url.endswith("a-02") else "")})
        assert response.status_code == 400, url
        _expect(_text(response), field, value, message)
        assert dump_survey(ops.study_definition(_study("small"))) == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("title", "", "required"), ("title", "x" * 301, "at most 300"),
    ("title", "a\x00", "control character"), ("title", "a\x07", "control character"),
    ("title", SCRIPT, "contains markup"),
    ("description", LONG, "at most 5000"), ("description", SCRIPT, "contains markup"),
    ("key", "b", "used by an earlier section"), ("key", SCRIPT, "contains markup"),
])
def test_a_bad_section_is_refused_with_a_message(client, small, field, value, message):
    data = {"key": "", "title": "Section C", "description": "", field: value}
    response = _post(client, "/studies/small/build/statements", data)
    assert response.status_code == 400
    _expect(_text(response), field, value, message)
    assert [s.key for s in _study("small").sections] == ["a", "b"]


# -- the survey file round trip and the preview ------------------------------------------------

def test_a_study_built_in_the_browser_exports_to_a_file_that_imports_to_the_same_study(
        client, me, runner, tmp_path):
    _post(client, "/studies/new/blank", {"blank-slug": "built", "blank-title": "Built here"})
    _post(client, "/studies/built/build", _settings(title="Built here", median_min=""))
    _post(client, "/studies/built/build/groups", {"key": "clin", "name": "Clinicians"})
    _post(client, "/studies/built/build/groups", {"key": "parents", "name": "Parents"})
    _post(client, "/studies/built/build/statements", {"title": "Outcomes"})
    _post(client, "/studies/built/build/sections/section-1/statements/new", {
        "text": "Survival at one year", "rationale": "Core outcome (COS 2020).",
        "plain_text": "Being alive a year later",
        "references": "Core outcome set. Trials 2020 | 10.1186/s13063-020-04000-0"})
    _post(client, "/studies/built/build/sections/section-1/statements/new", {
        "text": "Cytokine release syndrome grade", "rationale": "ASTCT 2019.",
        "references": "Lee DW. BBMT 2019 | PMID 30592986"})
    response = client.get("/studies/built/build/survey.yaml")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="built.yaml"'
    text = response.get_data(as_text=True)
    assert "references:\n" in text and "pmid: '30592986'" in text
    built = parse_survey(text, "built.yaml")
    assert built.sections[0].items[0].references[0].doi == "10.1186/s13063-020-04000-0"
    # import the file under another slug through the command line: the same study
    copy = tmp_path / "copy.yaml"
    copy.write_text(text.replace("slug: built", "slug: built-copy"))
    result = runner.invoke(args=["import-survey", str(copy), "--as", EMAIL])
    assert result.exit_code == 0, result.output
    again = dump_survey(ops.study_definition(_study("built-copy")))
    assert again == copy.read_text()
    assert again.replace("slug: built-copy", "slug: built") == text


def test_the_preview_shows_round_one_read_only_without_saving(client, small):
    response = client.get("/studies/small/build/preview")
    assert response.status_code == 200
    body = _text(response)
    assert "Preview of round 1" in body
    assert "First statement" in body and "Third statement" in body
    assert "Section A" in body
    assert 'type="submit"' not in body.split('id="vote-form"')[1]
    assert "vote.js" not in body
    assert 'name="rating-' in body and "disabled" in body
    assert "This round has closed" not in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action.like("round%"))) == 0


def test_references_are_linked_on_the_study_page_and_in_the_report(client, me, factory):
    from .flows import close, launch
    from .test_survey_references import WITH_REFERENCES

    study = ops.import_survey(parse_survey(WITH_REFERENCES, "refs.yaml"), "test", me)
    db.session.commit()
    doi = 'href="https://doi.org/10.1016/S0140-6736(20)30000-0"'
    pubmed = 'href="https://pubmed.ncbi.nlm.nih.gov/31234567/"'
    page = _text(client.get("/studies/refs/"))
    assert doi in page and pubmed in page
    factory.panel(study)
    launch(study)
    close(study)
    report = _text(client.get("/studies/refs/exports/report"))
    assert doi in report and pubmed in report and "Doe A. Blood 2019" in report


def test_a_reworded_statement_keeps_its_references(me, factory):
    from delphi.decisions import operations as decisions

    from .flows import close, launch
    from .test_survey_references import WITH_REFERENCES

    study = ops.import_survey(parse_survey(WITH_REFERENCES, "refs.yaml"), "test", me)
    db.session.commit()
    factory.panel(study)
    launch(study)
    close(study)
    item = [i for i in study.items if i.key == "b-01"][0]
    new = decisions.reword(study, item, "Third statement, reworded", "Clearer", me)
    assert new.references == item.references and len(new.references) == 2
