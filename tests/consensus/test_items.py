"""Per-item statistics and verdicts at the boundaries, worked out by hand."""

import json
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from delphi.consensus import Settings, analyze, item_statistics, item_verdicts, wilson_interval


def pooled_item(values, **options):
    """Return the analyze() item object of one item rated ``values`` (one panellist each)."""
    records = [(1, "q", f"p{k}", None, v) for k, v in enumerate(values)]
    result = analyze(records, Settings(**options))
    json.dumps(result, allow_nan=False)
    (item,) = result["items"]
    exact = item_verdicts(item_statistics(values, Settings(**options)), Settings(**options))
    assert item["verdicts"] == exact
    return item


def test_exactly_70_percent_is_consensus_in():
    item = pooled_item([7] * 7 + [5] * 3)
    assert item["pct_7_9"] == 70.0
    assert item["verdicts"]["comet"] == "consensus_in"


def test_69_9_percent_is_not():
    item = pooled_item([8] * 699 + [5] * 301)
    assert item["pct_agree"] == pytest.approx(69.9)
    assert item["verdicts"]["comet"] == "no_consensus"


def test_15_percent_in_the_disagree_band_blocks_consensus_in():
    assert pooled_item([9] * 14 + [1] * 3 + [5] * 3)["verdicts"]["comet"] == "no_consensus"
    assert pooled_item([9] * 14 + [1] * 2 + [5] * 4)["verdicts"]["comet"] == "consensus_in"


def test_consensus_out_mirrors_in():
    assert pooled_item([2] * 7 + [5] * 3)["verdicts"]["comet"] == "consensus_out"


def test_a_threshold_a_float_would_miss():
    # 57/100*100 is 56.99999999999999 in floating point; the rule tests 100*57 >= 57*100.
    item = pooled_item([8] * 57 + [5] * 43, percent_threshold=57)
    assert item["verdicts"]["percent"] == "consensus_in"


def test_half_point_medians_are_neither_band():
    high = pooled_item([6, 7, 6, 7], iqr_max=1)
    assert high["median"] == 6.5
    assert high["verdicts"]["iqr"] == "no_consensus"
    assert high["rand_class"] == "uncertain"
    low = pooled_item([3, 4, 3, 4])
    assert low["median"] == 3.5
    assert low["rand_class"] == "uncertain"
    assert pooled_item([7, 7, 7, 8])["verdicts"]["iqr"] == "consensus_in"


def test_iqr_rule_with_a_median_threshold():
    item = pooled_item([7, 7, 7, 8], iqr_median_min=8)
    assert item["verdicts"]["iqr"] == "no_consensus"
    assert pooled_item([2, 2, 2, 2], iqr_median_min=8)["verdicts"]["iqr"] == "consensus_out"


def test_rand_boundary_that_floats_get_wrong():
    data = [1, 1, 1, 1, 6, 7, 7, 7, 7, 8, 8, 8, 9]
    p30, p70 = np.percentile(data, 30), np.percentile(data, 70)
    assert p70 - p30 > 2.35 + 1.5 * abs(5 - (p30 + p70) / 2)  # floats see disagreement
    item = pooled_item(data)
    assert item["ipr"] == item["ipras"] == pytest.approx(3.4)
    assert item["di"] == 1.0
    assert item["rand_disagreement"] is False  # IPR = IPRAS exactly: not strictly greater
    assert item["rand_class"] == "appropriate"


def test_all_uts_has_no_statistics_and_no_consensus():
    item = pooled_item(["UTS"] * 5)
    assert (item["n_uts"], item["n_valid"], item["n_responded"]) == (5, 0, 5)
    assert item["median"] is None and item["pct_agree"] is None and item["sd"] is None
    assert item["verdicts"] == {"comet": "no_consensus", "percent": "no_consensus",
                                "iqr": "no_consensus", "rand": "uncertain"}
    assert item["rand_class"] is None
    included = pooled_item(["UTS"] * 5, uts="include")
    assert included["pct_agree"] == 0.0 and included["n_denominator"] == 5


def test_one_panellist():
    item = pooled_item([8])
    assert (item["median"], item["mean"], item["p25"], item["p75"], item["iqr"]) == (8, 8, 8, 8, 0)
    assert item["sd"] is None and item["cv"] is None
    assert item["verdicts"]["comet"] == "consensus_in"


def test_no_answers():
    item = pooled_item([None, None, None])
    assert (item["n_invited"], item["n_responded"], item["n_missing"]) == (3, 0, 3)
    assert item["counts"] == [0] * 9 and item["pcts"] == [None] * 9
    assert item["verdict"] == "no_consensus"


def test_uts_include_lowers_the_agreement():
    values = [8] * 7 + ["UTS"] * 3
    assert pooled_item(values)["pct_agree"] == 100.0
    included = pooled_item(values, uts="include")
    assert included["pct_agree"] == 70.0
    assert included["verdicts"]["comet"] == "consensus_in"
    assert pooled_item([8] * 7 + ["UTS"] * 4, uts="include")["verdicts"]["comet"] == "no_consensus"
    assert included["median"] == 8  # UTS is never a rating


def test_spread_matches_numpy_and_scipy():
    values = [1, 4, 4, 6, 7, 9, 9, 9]
    stats_ = item_statistics(values)
    assert stats_.mean == pytest.approx(np.mean(values))
    assert stats_.sd == pytest.approx(np.std(values, ddof=1))
    assert stats_.cv == pytest.approx(stats.variation(values, ddof=1))
    assert stats_.counts == (1, 0, 0, 2, 0, 1, 1, 0, 3)
    assert stats_.median == Fraction(13, 2)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 10), (7, 10), (10, 10), (1, 1)])
def test_wilson_interval_matches_scipy(k, n):
    ours = wilson_interval(k, n)
    low, high = stats.binomtest(k, n).proportion_ci(method="wilson")
    assert (ours.low, ours.high) == pytest.approx((low, high), abs=1e-12)
    item = pooled_item([8] * k + [5] * (n - k))
    assert item["pct_agree_ci_low"] == pytest.approx(100 * low, abs=1e-10)
    assert item["pct_agree_ci_high"] == pytest.approx(100 * high, abs=1e-10)


def test_other_scales_use_their_agree_band():
    item = pooled_item([4, 5, 5, 4, 3], scale="agree-5")
    assert (item["n_7_9"], item["n_agree"], item["n_4_6"], item["n_1_3"]) == (4, 4, 1, 0)
    assert item["counts"] == [0, 0, 1, 2, 2]
    assert item["verdicts"]["comet"] == "consensus_in"
    assert item["verdicts"]["rand"] is None and item["ipr"] is None


def test_item_statistics_rejects_off_scale_answers():
    with pytest.raises(ValueError, match="not on the 1-9 scale"):
        item_statistics([10])
