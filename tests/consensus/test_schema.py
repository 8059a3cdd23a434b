"""The analysis schema: its version, codes and numbers only, and conversion of stored results."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from delphi.consensus import Settings, analyze
from delphi.consensus.multiscale import analyze_by_scale
from delphi.consensus.schema import (
    SCHEMA_VERSION,
    ItemRow,
    SchemaError,
    SchemaVersionError,
    read_result,
    typed,
    typed_rows,
)
from delphi.consensus.table import RatingsTable
from delphi.consensus.upgrade import downgrade_v2, to_current, upgrade_v1
from delphi.consensus.words import fleiss_reason, with_words

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results"
PINNED = {"software": "delphi", "software_version": "0.0.0+fixture", "numpy_version": "pinned",
          "scipy_version": "pinned"}


def old(name):
    """A result as version 1 of the schema stored it (made by delphi before the schema had a
    version, from the records below; see tests/data/results/README.md)."""
    return json.loads((RESULTS / f"v1-{name}.json").read_text(encoding="utf-8"))


def records(top=9):
    """Two rounds, two groups, UTS and blanks; round 1 has unequal numbers of ratings."""
    out = []
    for r in (1, 2):
        for n, item in enumerate(("a-01", "a-02", "b-01")):
            for k in range(9):
                rating = (8, 7, 9, 2, 5, 7, 8, "UTS", None)[(k + r) % 9]
                if r == 1 and n == 1 and k == 0:
                    rating = None
                if r == 2 and k == 8:
                    continue
                if isinstance(rating, int):
                    rating = min(rating, top)
                out.append((r, item, f"p{k}", ("clin", "parent")[k % 2], rating))
    return out


def pinned(result):
    result["settings"].update(PINNED)
    return result


def new(name):
    """The same analysis as ``old(name)``, computed now."""
    if name == "two-rounds":
        return pinned(analyze(records(), Settings(group_rule="all",
                                                   round_thresholds={2: {"comet_agree_pct": 75}})))
    return pinned(analyze_by_scale(RatingsTable.from_records(records(top=5)),
                                   Settings(primary_rule="percent", scale="agree-5"),
                                   {"b-01": "grade-1-9"}))


def computed_now(value):
    """A result computed now, as the expected side of a comparison with a stored one:
    floats compare to 12 significant digits. The conversion itself is exact (the stored
    file round-trips byte for byte, below), but a statistic recomputed on another CPU can
    differ in the last bit (numpy's SIMD sums: Krippendorff's alpha read
    -0.13333333333333308 here and -0.1333333333333333 when the fixture was made)."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12, abs=1e-15)
    if isinstance(value, dict):
        return {key: computed_now(item) for key, item in value.items()}
    if isinstance(value, list):
        return [computed_now(item) for item in value]
    return value


def strings(value):
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.mark.parametrize("name", ["two-rounds", "two-scales"])
def test_an_analysis_holds_codes_and_numbers_only(name):
    result = new(name)
    assert result["schema_version"] == SCHEMA_VERSION == 2
    # an English sentence or label has a space; a code, key or number never does
    assert [s for s in strings(old(name)) if " " in s]  # the old shape had sentences
    assert [s for s in strings(result) if " " in s] == []
    assert "rule_descriptions" not in result and "labels" not in result["scale"]


@pytest.mark.parametrize("name", ["two-rounds", "two-scales"])
def test_an_old_stored_result_converts_to_exactly_what_the_engine_computes_now(name):
    stored = old(name)
    before = copy.deepcopy(stored)
    assert upgrade_v1(stored) == computed_now(new(name))
    assert stored == before  # a pure function: the input is left as it was
    assert read_result(stored) == computed_now(new(name))
    assert read_result(stored) == to_current(stored)


@pytest.mark.parametrize("name", ["two-rounds", "two-scales"])
def test_the_downgrade_gives_back_the_old_result_exactly(name):
    stored = old(name)
    back = downgrade_v2(upgrade_v1(stored))
    assert back == stored
    assert json.dumps(back) == json.dumps(stored)  # the same keys in the same order
    assert stored == computed_now(downgrade_v2(new(name)))


def test_delphi_analyze_prints_the_words_the_old_shape_stored():
    """What a user reads from ``delphi analyze`` is unchanged: the words are rendered."""
    stored, printed = old("two-scales"), with_words(new("two-scales"))
    assert printed["rule_descriptions"] == stored["rule_descriptions"]
    assert printed["scale"] == stored["scale"] and printed["scales"] == stored["scales"]


def test_the_panel_says_why_fleiss_kappa_is_null():
    result = new("two-rounds")
    first, second = result["panel"]
    assert (first["fleiss_kappa"], first["fleiss_kappa_reason"]) == (None, "unequal_ratings")
    assert (first["n_valid_min"], first["n_valid_max"]) == (6, 7)
    assert fleiss_reason(first) == ("the statements have unequal numbers of valid ratings "
                                    "(6 to 7); Fleiss' kappa needs the same number for every "
                                    "statement")
    assert second["fleiss_kappa"] is not None and second["fleiss_kappa_reason"] is None
    assert fleiss_reason(second) is None


@pytest.mark.parametrize(("answers", "reason"), [
    ([8, 8, 8, 8], "no_variation"),  # every rating on one point: chance agreement is 1
    ([8, None, None, None], "too_few_ratings"),
    ([None, None, None, None], "too_few_ratings"),
])
def test_each_reason_for_a_null_fleiss_kappa_is_the_real_one(answers, reason):
    rows = [(1, item, f"p{k}", None, value) for item in ("q1", "q2")
            for k, value in enumerate(answers)]
    panel = analyze(rows)["panel"][0]
    assert panel["fleiss_kappa"] is None and panel["fleiss_kappa_reason"] == reason


def test_in_a_study_on_two_scales_the_reason_is_that_of_the_statements_pooled():
    """The panel row covers the statements on the study's scale only: its reason is theirs,
    not the whole round's (b-01, on another scale, has 7 valid ratings like a-01)."""
    result = new("two-scales")
    assert result["panel"][0]["fleiss_kappa_reason"] == "unequal_ratings"
    assert result["panel_by_scale"]["grade-1-9"][0]["fleiss_kappa_reason"] is None
    assert result["panel_by_scale"]["grade-1-9"][0]["fleiss_kappa"] is not None


@pytest.mark.parametrize("version", [3, 99, 0, "2", True, None, 2.0])
def test_a_stored_result_of_an_unknown_version_is_refused_not_misread(version):
    data = {**new("two-rounds"), "schema_version": version}
    with pytest.raises(SchemaVersionError) as refused:
        read_result(data)
    message = str(refused.value)
    assert f"schema version {version!r}" in message and "reads version 2" in message


def test_what_is_not_an_analysis_is_refused():
    for data in (None, [], "text", {"schema_version": 2}):
        with pytest.raises(SchemaError):
            read_result(data)


def test_a_result_stored_before_a_key_existed_gets_it():
    stored = old("two-rounds")
    del stored["settings"]["round_thresholds"]
    del stored["items"][0]["pct_agree_ci_low"]
    del stored["attrition_bias"]
    upgraded = upgrade_v1(stored)
    assert upgraded["settings"]["round_thresholds"] == {}
    assert upgraded["items"][0]["pct_agree_ci_low"] is None
    assert list(upgraded["items"][0]) == list(ItemRow.__annotations__)
    assert upgraded["attrition_bias"] == []


def test_the_converters_refuse_the_wrong_version():
    with pytest.raises(SchemaVersionError):
        upgrade_v1(new("two-rounds"))
    with pytest.raises(SchemaVersionError):
        downgrade_v2(old("two-rounds"))


def test_rows_are_built_with_exactly_the_schema_keys():
    row = new("two-rounds")["items"][0]
    assert typed(ItemRow, row) == row
    with pytest.raises(SchemaError, match="missing \\['verdict'\\]"):
        typed(ItemRow, {k: v for k, v in row.items() if k != "verdict"})
    with pytest.raises(SchemaError, match="unknown \\['verdict_text'\\]"):
        typed_rows(ItemRow, {**{k: [v] for k, v in row.items()}, "verdict_text": ["In"]})
