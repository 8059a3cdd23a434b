"""The rule registry, the group rule and the sensitivity view."""

import numpy as np
import pytest

from delphi.consensus import RULES, Settings, analyze
from delphi.consensus.rules import IN, NONE, OUT, combine_groups, rule_dependent, rule_descriptions
from delphi.consensus.words import with_words

AGREE, NEUTRAL, DISAGREE = 8, 5, 2


def grouped_records(by_group, item="q", round_no=1):
    """Return records of one item where ``by_group`` maps a group to its ratings."""
    return [
        (round_no, item, f"{group}-{k}", group, v)
        for group, values in by_group.items() for k, v in enumerate(values)
    ]


def pooled(result, item="q", round_no=1):
    return next(i for i in result["items"]
                if i["group"] is None and i["item"] == item and i["round"] == round_no)


def test_registry_has_the_four_rules_with_both_paths():
    assert list(RULES) == ["comet", "percent", "iqr", "rand"]
    for rule in RULES.values():
        assert rule.describe(Settings())
        assert set(rule.labels) == {IN, NONE, OUT}


# Clinicians all agree; patients split 2/2/1, so the pooled panel has 8 of 10 in 7-9.
SPLIT = {"clinicians": [AGREE] * 5, "patients": [AGREE, AGREE, AGREE, NEUTRAL, NEUTRAL]}


@pytest.mark.parametrize(("group_rule", "expected"), [
    ("pooled", "consensus_in"), ("all", "no_consensus"), ("any", "consensus_in"),
])
def test_group_rules(group_rule, expected):
    result = analyze(grouped_records(SPLIT), Settings(group_rule=group_rule))
    item = pooled(result)
    assert item["verdicts"]["comet"] == "consensus_in"  # the pooled panel itself
    assert item["verdict"] == expected
    assert item["combined_verdicts"]["comet"] == expected
    assert item["groups_disagree"] is True
    groups = {i["group"]: i["verdict"] for i in result["items"] if i["group"]}
    assert groups == {"clinicians": "consensus_in", "patients": "no_consensus"}


def test_small_groups_are_left_out_of_the_group_rule():
    data = {**SPLIT, "patients": [NEUTRAL, NEUTRAL]}
    item = pooled(analyze(grouped_records(data), Settings(group_rule="all")))
    assert item["verdict"] == "consensus_in"  # only clinicians (5 >= 3) count
    assert item["groups_disagree"] is False
    tiny = pooled(analyze(grouped_records(data), Settings(group_rule="all", min_group_size=6)))
    assert tiny["verdict"] == "no_consensus"  # no group is large enough


def test_any_with_opposite_groups_is_no_consensus():
    data = {"a": [AGREE] * 4, "b": [DISAGREE] * 4}
    assert pooled(analyze(grouped_records(data), Settings(group_rule="any")))["verdict"] == (
        "no_consensus")


def test_ungrouped_panel_falls_back_to_the_pooled_verdict():
    records = [(1, "q", f"p{k}", None, AGREE) for k in range(5)]
    assert pooled(analyze(records, Settings(group_rule="all")))["verdict"] == "consensus_in"


def test_combine_groups_codes():
    codes = np.array([[IN, IN, OUT, IN], [IN, NONE, OUT, OUT]])
    eligible = np.ones_like(codes, dtype=bool)
    assert combine_groups(codes, eligible, "all").tolist() == [IN, NONE, OUT, NONE]
    assert combine_groups(codes, eligible, "any").tolist() == [IN, IN, OUT, NONE]
    eligible[1, 3] = False
    assert combine_groups(codes, eligible, "all").tolist()[3] == IN


def test_sensitivity_flags_items_whose_verdict_depends_on_the_rule():
    # 8 of 10 in 7-9 with a wide spread: COMET and 75% say in, the IQR rule does not.
    records = [(1, "q", f"p{k}", None, v) for k, v in enumerate([7, 7, 9, 9, 7, 9, 7, 9, 4, 4])]
    item = pooled(analyze(records))
    assert item["verdicts"]["comet"] == item["verdicts"]["percent"] == "consensus_in"
    assert item["verdicts"]["iqr"] == "no_consensus"
    assert item["rule_dependent"] is True
    steady = pooled(analyze([(1, "q", f"p{k}", None, 8) for k in range(10)]))
    assert steady["rule_dependent"] is False
    assert rule_dependent([np.array([IN, NONE]), np.array([IN, OUT])]).tolist() == [False, True]


def test_primary_rule_sets_the_verdict():
    records = [(1, "q", f"p{k}", None, v) for k, v in enumerate([7, 7, 9, 9, 7, 9, 7, 9, 4, 4])]
    assert pooled(analyze(records, Settings(primary_rule="iqr")))["verdict"] == "no_consensus"
    assert pooled(analyze(records, Settings(primary_rule="rand")))["verdict"] == "appropriate"


def test_comet_thresholds_are_parameters():
    records = [(1, "q", f"p{k}", None, v) for k, v in enumerate([8] * 6 + [5] * 4)]
    assert pooled(analyze(records))["verdicts"]["comet"] == "no_consensus"
    relaxed = Settings(comet_agree_pct=50, comet_disagree_pct=15)
    assert pooled(analyze(records, relaxed))["verdicts"]["comet"] == "consensus_in"


def test_rand_does_not_apply_off_the_1_9_scale():
    records = [(1, "q", f"p{k}", None, 4) for k in range(5)]
    result = analyze(records, Settings(scale="agree-5"))
    assert "rand" not in rule_descriptions(Settings(scale="agree-5"))
    assert "rand" not in with_words(result)["rule_descriptions"]
    assert pooled(result)["verdicts"]["rand"] is None
