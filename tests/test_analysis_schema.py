"""Stored round results follow the analysis schema: codes and numbers only, a version, and
a reader that converts an old shape and refuses an unknown one."""

from __future__ import annotations

import re

import sqlalchemy as sa

from delphi.consensus.upgrade import downgrade_v2
from delphi.exports.downloads import export
from delphi.extensions import db
from delphi.models import RoundResult

from .conftest import login
from .test_exports_golden import GENERATED_AT, GOLDEN_FILES, build_study
from .test_feedback import _round_one


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _results() -> list[RoundResult]:
    return list(db.session.scalars(sa.select(RoundResult).order_by(RoundResult.id)))


def _store_in_the_old_shape() -> None:
    """Put every stored result back in schema version 1, as results stored before it were."""
    for stored in _results():
        stored.data = downgrade_v2(stored.data)
    db.session.commit()


def _exports(study) -> dict[str, bytes]:
    return {name: export(study, what, fmt, generated_at=GENERATED_AT).data
            for what, fmt, name in GOLDEN_FILES}


def test_a_closed_round_stores_its_schema_version_and_codes_and_numbers_only(
        app, monkeypatch):
    build_study(monkeypatch)
    stored = _results()
    assert len(stored) == 2
    for result in stored:
        assert result.data["schema_version"] == 2
        assert "rule_descriptions" not in result.data
        # an English sentence or label has a space; codes, keys and numbers never do
        assert [s for s in _strings(result.data) if " " in s] == []
        assert result.data["panel"][0]["fleiss_kappa_reason"] == "unequal_ratings"


def test_exports_of_results_stored_in_the_old_shape_are_unchanged(app, monkeypatch):
    study = build_study(monkeypatch)
    now = _exports(study)
    _store_in_the_old_shape()
    assert "schema_version" not in _results()[-1].data
    assert _exports(study) == now


def _page(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", page)


def test_the_results_page_of_a_result_stored_in_the_old_shape_is_unchanged(
        app, client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    study.consensus.group_rule = "all"
    db.session.commit()
    _round_one(app, study, factory.panel(study))
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/1/results"
    now = _page(client, url)
    assert "Fleiss' κ: not applicable: the statements have unequal numbers of valid " \
           "ratings (4 to 6)" in now
    _store_in_the_old_shape()
    assert _page(client, url) == now


def test_a_result_of_an_unknown_schema_version_is_refused_with_a_clear_message(
        app, client, factory, runner):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    _round_one(app, study, factory.panel(study))
    stored = _results()[0]
    stored.data = {**stored.data, "schema_version": 7}
    db.session.commit()
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/rounds/1/results")
    text = " ".join(page.get_data(as_text=True).split())
    assert page.status_code == 409
    assert "The results of this round cannot be shown: the stored analysis has schema " \
           "version 7, which this version of delphi cannot read" in text
    assert "Traceback" not in text
    done = runner.invoke(args=["export", study.slug, "--what", "statements", "--format", "csv"])
    assert done.exit_code == 1 and "schema version 7" in done.output
    assert "Traceback" not in done.output
