"""The methods text says exactly what the engine computed, for every combination of settings."""

from __future__ import annotations

import itertools
import re
from fractions import Fraction

import pytest

from delphi.consensus import analyze
from delphi.consensus.methods import HYNDMAN_FAN, methods_sentences
from delphi.consensus.percentiles import METHODS
from delphi.consensus.rules import RULES
from delphi.consensus.settings import Settings

COMBINATIONS = list(itertools.product(
    ("comet", "percent", "iqr", "rand"), ("pooled", "all", "any"), ("exclude", "include"),
    ("wilcox", "pratt", "zsplit"), (True, False), (None, 8), (1, 3), (50, 80),
))


def _verdict(settings: Settings, ratings: list, rule: str) -> str:
    records = [(1, "q", f"p{i}", None, v) for i, v in enumerate(ratings)]
    return analyze(records, settings)["items"][0]["verdicts"][rule]


@pytest.mark.parametrize(("primary", "group_rule", "uts", "zero", "correction", "median_min",
                          "min_group", "pct"), COMBINATIONS)
def test_every_sentence_states_the_settings_used(primary, group_rule, uts, zero, correction,
                                                 median_min, min_group, pct):
    s = Settings(primary_rule=primary, group_rule=group_rule, uts=uts,
                 wilcoxon_zero_method=zero, wilcoxon_correction=correction,
                 iqr_median_min=median_min, min_group_size=min_group, percent_threshold=pct,
                 comet_agree_pct=pct)
    text = dict(methods_sentences(s))
    names = {"comet": "COMET", "percent": "Percent agreement", "iqr": "Interquartile range",
             "rand": "RAND/UCLA"}
    assert text["primary_rule"].startswith(f"The primary consensus rule was {RULES[primary].name}.")
    assert set(text) == {"primary_rule", *(f"rule_{k}" for k in names if k != primary), "uts",
                         "percentiles", "group_rule", "stability", "wilcoxon", "paired",
                         "attrition", "panel"}
    rules = {k: text["primary_rule"] if k == primary else text[f"rule_{k}"] for k in names}
    share = ("of the valid ratings" if uts == "exclude"
             else "of the answers, 'unable to score' included")
    # COMET and percent: both thresholds, in and out, over the denominator the UTS rule uses
    assert f"COMET {pct}/15: consensus in when at least {pct}% {share} fall" in rules["comet"]
    assert f"consensus out when at least {pct}% fall in the disagree band" in rules["comet"]
    assert f"consensus in when at least {pct}% {share} fall" in rules["percent"]
    assert f"consensus out when at least {pct}% fall in the disagree band" in rules["percent"]
    assert ("when both hold there is no consensus" in rules["percent"]) == (pct <= 50)
    # IQR: the median bounds stated are the ones the engine applies
    high, low = (7, 3) if median_min is None else (median_min, 10 - median_min)
    assert f"the median is at least {high};" in rules["iqr"]
    assert f"the median is at most {low} " in rules["iqr"]
    # UTS, group rule, Wilcoxon
    assert ("left out of the denominators" in text["uts"]) == (uts == "exclude")
    group = text["group_rule"]
    assert group.startswith({"pooled": "Group rule: pooled.", "all": "Group rule: every group.",
                             "any": "Group rule: any group."}[group_rule])
    assert f"fewer than {min_group} valid" in group or f"at least {min_group} valid" in group
    assert ("nobody's ratings are excluded" in group) == (group_rule == "pooled")
    wilcoxon = text["wilcoxon"]
    assert "normal approximation" in wilcoxon
    assert ("continuity correction of 0.5" in wilcoxon) == correction
    assert ("no continuity correction" in wilcoxon) == (not correction)
    assert {"wilcox": "dropped before ranking", "pratt": "Pratt's method",
            "zsplit": "split equally"}[zero] in wilcoxon


@pytest.mark.parametrize("method", sorted(METHODS))
def test_the_percentile_method_and_its_hyndman_fan_type_are_named(method):
    text = dict(methods_sentences(Settings(percentile_method=method)))["percentiles"]
    assert f"used the {method} method" in text
    if method in HYNDMAN_FAN:
        assert f"Hyndman and Fan type {HYNDMAN_FAN[method]})" in text


@pytest.mark.parametrize("median_min", [None, 6, 7, 8, 9])
def test_the_iqr_median_bound_stated_is_the_one_the_engine_applies(median_min):
    s = Settings(iqr_median_min=median_min)
    rule = dict(methods_sentences(s))["rule_iqr"]
    high = int(re.search(r"median is at least (\d+);", rule).group(1))
    low = int(re.search(r"median is at most (\d+) ", rule).group(1))
    assert _verdict(s, [high] * 5, "iqr") == "consensus_in"
    assert _verdict(s, [high - 1] * 5, "iqr") != "consensus_in"
    assert _verdict(s, [low] * 5, "iqr") == "consensus_out"
    assert _verdict(s, [low + 1] * 5, "iqr") != "consensus_out"


@pytest.mark.parametrize("threshold", [50, 70, Fraction(200, 3), 75, 80])
def test_the_percent_thresholds_stated_are_the_ones_the_engine_applies(threshold):
    s = Settings(percent_threshold=threshold)
    rule = dict(methods_sentences(s))["rule_percent"]
    stated = Fraction(re.search(r"consensus in when at least ([0-9./]+)%", rule).group(1))
    out = Fraction(re.search(r"consensus out when at least ([0-9./]+)%", rule).group(1))
    assert stated == out == threshold
    # 60 ratings: the smallest count reaching the stated share gives in, one fewer does not
    need = -(-stated * 60 // 100)
    agree = [8] * int(need) + [5] * (60 - int(need))
    assert _verdict(s, agree, "percent") == "consensus_in"
    assert _verdict(s, [8] * (int(need) - 1) + [5] * (61 - int(need)), "percent") != \
        "consensus_in"
    disagree = [2] * int(need) + [5] * (60 - int(need))
    assert _verdict(s, disagree, "percent") == "consensus_out"


def test_round_dependent_thresholds_are_stated_round_by_round():
    s = Settings(round_thresholds={2: {"comet_agree_pct": 75}, 3: {"percent_threshold": 80}})
    text = dict(methods_sentences(s))
    assert "In round 1: COMET 70/15: consensus in when at least 70%" in text["primary_rule"]
    assert text["from_round_2"].startswith("From round 2 on, with thresholds fixed before "
                                           "round 1: COMET 75/15: consensus in when at least 75%")
    assert "Percent agreement" not in text["from_round_2"]
    assert text["from_round_3"].startswith("From round 3 on, with thresholds fixed before "
                                           "round 1: Percent agreement 80%")
    assert "rule_percent" in text and "at least 75%" in text["rule_percent"]


def test_each_round_is_decided_with_its_own_thresholds():
    # 3 of 4 rate 7-9 (75%) in both rounds: COMET 70 says in for round 1, 80 says not in round 2
    records = [(r, "q", f"p{k}", None, v) for r in (1, 2) for k, v in enumerate([8, 8, 8, 5])]
    result = analyze(records, Settings(round_thresholds={"2": {"comet_agree_pct": 80}}))
    verdicts = {row["round"]: row["verdict"] for row in result["items"]}
    assert verdicts == {1: "consensus_in", 2: "no_consensus"}
    assert result["settings"]["round_thresholds"] == {"2": {"comet_agree_pct": 80}}


@pytest.mark.parametrize(("value", "message"), [
    ({1: {"comet_agree_pct": 75}}, "round number of 2 or more"),
    ({2: {"stability_pp": 10}}, "cannot change between rounds"),
    ({2: {"comet_agree_pct": 170}}, "from round 2: setting 'comet_agree_pct' must be between"),
    ({2: {}}, "give at least one"),
])
def test_bad_round_thresholds_are_refused_with_the_reason(value, message):
    from delphi.consensus.settings import SettingsError
    with pytest.raises(SettingsError, match=message):
        Settings(round_thresholds=value)
