"""Settings: defaults as STATISTICS.md says, a JSON round trip, errors that name the key."""

import json
from fractions import Fraction

import pytest

from delphi.consensus import Settings, SettingsError, analyze

DEFAULTS = {
    "scale": "grade-1-9", "primary_rule": "comet", "comet_agree_pct": 70,
    "comet_disagree_pct": 15, "percent_threshold": 75, "iqr_max": 1, "iqr_median_min": None,
    "uts": "exclude", "percentile_method": "linear", "group_rule": "pooled",
    "wilcoxon_zero_method": "wilcox", "wilcoxon_correction": True, "stability_pp": 15,
    "scheibe_threshold": "0.15", "min_group_size": 3, "round_thresholds": {},
}


def test_defaults():
    assert Settings().to_dict() == DEFAULTS
    assert Settings().scheibe_threshold == Fraction(3, 20)


def test_round_trip_through_json():
    settings = Settings(scale="1-5", comet_agree_pct="66.5", scheibe_threshold=0.1,
                        iqr_median_min=4, uts="include", group_rule="any")
    stored = json.loads(json.dumps(settings.to_dict()))
    assert stored["scale"] == "agree-5"
    assert stored["comet_agree_pct"] == "66.5"
    assert Settings.from_dict(stored) == settings
    assert Settings.from_dict({}) == Settings()


def test_non_decimal_fractions_survive():
    settings = Settings(percent_threshold=Fraction(200, 3))
    assert settings.to_dict()["percent_threshold"] == "200/3"
    assert Settings.from_dict(settings.to_dict()).percent_threshold == Fraction(200, 3)


def test_analyze_settings_block_rebuilds_the_settings():
    result = analyze([(1, "q", "p", None, 7)], Settings(stability_pp=10))
    assert result["settings"]["software"] == "delphi"
    assert {"software_version", "numpy_version", "scipy_version"} <= set(result["settings"])
    assert Settings.from_dict(result["settings"]) == Settings(stability_pp=10)


@pytest.mark.parametrize(("data", "key"), [
    ({"colour": 1}, "colour"),
    ({"scale": "1-10"}, "scale"),
    ({"primary_rule": "delphi"}, "primary_rule"),
    ({"comet_agree_pct": 120}, "comet_agree_pct"),
    ({"comet_agree_pct": "seventy"}, "comet_agree_pct"),
    ({"comet_disagree_pct": -1}, "comet_disagree_pct"),
    ({"percent_threshold": True}, "percent_threshold"),
    ({"iqr_max": -1}, "iqr_max"),
    ({"iqr_median_min": 10}, "iqr_median_min"),
    ({"uts": "drop"}, "uts"),
    ({"percentile_method": "type7"}, "percentile_method"),
    ({"group_rule": "most"}, "group_rule"),
    ({"wilcoxon_zero_method": "none"}, "wilcoxon_zero_method"),
    ({"wilcoxon_correction": "yes"}, "wilcoxon_correction"),
    ({"stability_pp": float("nan")}, "stability_pp"),
    ({"stability_pp": "1/3000000"}, "stability_pp"),
    ({"scheibe_threshold": 2}, "scheibe_threshold"),
    ({"min_group_size": 0}, "min_group_size"),
    ({"min_group_size": 2.5}, "min_group_size"),
    ({"scale": "agree-5", "primary_rule": "rand"}, "primary_rule"),
])
def test_bad_settings_name_the_key(data, key):
    with pytest.raises(SettingsError, match=key):
        Settings.from_dict(data)


def test_settings_error_is_a_value_error_and_settings_are_frozen():
    assert issubclass(SettingsError, ValueError)
    with pytest.raises(AttributeError):
        Settings().uts = "include"  # type: ignore[misc]
