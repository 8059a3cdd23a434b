"""The consensus settings are declared once (delphi/consensus/settings.py) and every other
place - the survey file, the database, the builder, ``delphi analyze``, the methods text
and the docs - follows the registry; adding a rule is one class."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.exc import IntegrityError

from delphi.analyze_cli import analyze_command
from delphi.consensus.methods import methods_sentences
from delphi.consensus.rules import (
    IN,
    NONE,
    RULES,
    Rule,
    band_words,
    register,
    share_words,
    unregister,
)
from delphi.consensus.settings import SETTINGS, STUDY_SETTINGS, Settings
from delphi.extensions import db
from delphi.models.study import ConsensusSettings
from delphi.surveys import dump_survey, parse_survey

from .conftest import login
from .factories import SMALL_SURVEY

ROOT = Path(__file__).resolve().parent.parent
SMALL_CONSENSUS = "consensus: {primary_rule: comet, comet: {agree_pct: 70, disagree_pct: 15}}\n"


class MajorityRule(Rule):
    """A toy rule for these tests: in when more than half rate in the agree band."""

    key, name = "majority", "Simple majority"

    def exact(self, stats, settings):
        return IN if 2 * stats.n_agree > stats.n_denominator > 0 else NONE

    def vectorised(self, batch, settings):
        return np.where((2 * batch.n_agree > batch.n_denominator) & (batch.n_denominator > 0),
                        IN, NONE)

    def describe(self, settings):
        return "Simple majority: consensus in when more than half rate in the agree band."

    def methods_sentence(self, settings):
        return (f"Simple majority: consensus in when more than half {share_words(settings)} "
                f"fall in the {band_words(settings, 'agree')}; otherwise no consensus.")


@pytest.fixture
def majority():
    register(MajorityRule)
    try:
        yield RULES["majority"]
    finally:
        unregister("majority")
    assert "majority" not in SETTINGS["primary_rule"].options()


def test_a_registered_rule_is_accepted_by_the_survey_file_and_its_schema(majority):
    from delphi.survey_schema import json_schema

    text = SMALL_SURVEY.format(slug="toy").replace("primary_rule: comet", "primary_rule: majority")
    definition = parse_survey(text, "toy.yaml")
    assert definition.consensus["primary_rule"] == "majority"
    assert parse_survey(dump_survey(definition), "again.yaml") == definition
    schema = json_schema()["$defs"]["Consensus"]["properties"]["primary_rule"]
    assert "majority" in schema["enum"]


def test_an_unregistered_rule_is_refused_by_the_survey_file():
    text = SMALL_SURVEY.format(slug="toy").replace("primary_rule: comet", "primary_rule: majority")
    with pytest.raises(ValueError, match="consensus.primary_rule: 'majority' is not one of: "
                                         "comet, percent, iqr, rand"):
        parse_survey(text, "toy.yaml")


def test_a_registered_rule_is_offered_by_the_builder_and_put_in_words(majority, client,
                                                                       factory):
    owner = factory.facilitator("maria@example.org")
    login(client, "maria@example.org")
    factory.study(owner=owner, slug="small")
    page = client.get("/studies/small/build").get_data(as_text=True)
    assert '<option value="majority">Simple majority</option>' in page
    answer = client.get("/studies/small/build/rule-sentence?primary_rule=majority&agree_pct=70"
                        "&disagree_pct=15&threshold=75&max_iqr=1&uts=exclude&group_rule=pooled"
                        "&min_group_size=3").get_json()
    assert answer["sentence"].startswith(
        "Simple majority: consensus in when more than half of the valid ratings fall in the "
        "agree band (7-9 critical)")


def test_a_registered_rule_is_an_option_of_delphi_analyze(majority, tmp_path):
    ratings = tmp_path / "r.csv"
    ratings.write_text("round,item,panellist,group,rating\n"
                       + "".join(f"1,a,p{i},,{v}\n" for i, v in enumerate([8, 9, 7, 2, 5])))
    runner = CliRunner()
    assert "majority" in runner.invoke(analyze_command, ["--help"]).output
    result = runner.invoke(analyze_command, [str(ratings), "--primary-rule", "majority"])
    assert result.exit_code == 0, result.output
    item = json.loads(result.output)["items"][0]
    assert item["verdicts"]["majority"] == item["verdict"] == "consensus_in"


def test_a_registered_rule_is_described_in_the_methods_text(majority):
    sentences = dict(methods_sentences(Settings(primary_rule="majority")))
    assert sentences["primary_rule"] == (
        "The primary consensus rule was Simple majority. Simple majority: consensus in when "
        "more than half of the valid ratings fall in the agree band (7-9 critical); otherwise no "
        "consensus.")
    assert "rule_majority" in dict(methods_sentences(Settings()))


def _constraint(name):
    for constraint in ConsensusSettings.__table__.constraints:
        if constraint.name is not None and constraint.name.endswith(name):
            return str(constraint.sqltext)
    raise AssertionError(f"no CHECK constraint {name}")


ENGINE_DEFAULTS = Settings()


def test_every_stored_setting_has_a_column_and_its_check_agrees_with_the_registry():
    columns = ConsensusSettings.__table__.columns
    # Written out: every consensus setting a study stores is locked at the first launch.
    assert sorted(ConsensusSettings.LOCKED_FIELDS) == [
        "comet_agree_pct", "comet_disagree_pct", "group_rule", "iqr_max", "iqr_median_min",
        "min_group_size", "percent_threshold", "percentile_method", "primary_rule",
        "round_thresholds", "scheibe_threshold", "stability_pp", "uts_rule",
        "wilcoxon_correction", "wilcoxon_zero_method"]
    for spec in STUDY_SETTINGS.values():
        assert spec.column in columns, spec.name
        default = columns[spec.column].default
        # A new study's default is the engine's own default (an independent declaration).
        engine = getattr(ENGINE_DEFAULTS, spec.name)
        engine = float(engine) if isinstance(engine, Fraction) else engine
        assert (None if default is None else default.arg) == engine \
            or spec.kind == "rounds", spec.name
        if spec.kind == "choice":
            sql = _constraint(spec.check)
            assert re.findall(r"'([^']+)'", sql) == list(spec.options()), spec.name
        elif spec.kind in ("number", "integer"):
            low, high = re.search(r"BETWEEN (\S+) AND (\S+)$", _constraint(spec.check)).groups()
            assert (Fraction(low), Fraction(high)) == spec.study_range, spec.name


@pytest.mark.parametrize(("column", "value"), [
    ("iqr_max", 101), ("min_group_size", 1001), ("iqr_median_min", 101),
    ("primary_rule", "majority"), ("comet_disagree_pct", 0),
])
def test_the_database_refuses_what_a_survey_file_may_not_hold(factory, column, value):
    study = factory.study()
    with pytest.raises(IntegrityError):
        db.session.execute(sa.update(ConsensusSettings).where(
            ConsensusSettings.id == study.consensus.id).values({column: value}))
    db.session.rollback()


def test_every_consensus_setting_is_set_in_the_survey_file_and_defaults_to_the_engines():
    definition = parse_survey(SMALL_SURVEY.format(slug="dd").replace(SMALL_CONSENSUS, ""), "d.yaml")
    engine = Settings()
    for name, spec in STUDY_SETTINGS.items():
        stored = definition.consensus[spec.column]
        if isinstance(stored, float):
            stored = Fraction(repr(stored))
        expected = getattr(engine, name)
        assert (stored == expected or (stored, expected) == ({}, ())), name


def test_the_published_json_schema_is_what_the_models_generate():
    from delphi.survey_schema import SCHEMA_FILE, schema_text

    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "docs/survey.schema.json is out of date: run python -m delphi.survey_schema")


def test_the_docs_table_of_consensus_settings_is_the_registrys():
    from delphi.survey_schema import SETTINGS_TABLE_END, SETTINGS_TABLE_START, settings_table

    doc = (ROOT / "docs" / "survey-format.md").read_text(encoding="utf-8")
    table = doc.split(SETTINGS_TABLE_START)[1].split(SETTINGS_TABLE_END)[0]
    assert table.strip() == settings_table().strip(), (
        "docs/survey-format.md's settings table is out of date: run python -m "
        "delphi.survey_schema")
    assert "yaml-language-server: $schema=" in doc

