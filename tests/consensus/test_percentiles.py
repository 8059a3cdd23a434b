"""The nine Hyndman-Fan percentile types, exact, and their vectorised twin."""

from fractions import Fraction

import numpy as np
import pytest

from delphi.consensus import METHODS, median, percentile
from delphi.consensus.percentiles import median_from_counts, percentile_from_counts

HF_TYPES = {
    "inverted_cdf": 1, "averaged_inverted_cdf": 2, "closest_observation": 3,
    "interpolated_inverted_cdf": 4, "hazen": 5, "weibull": 6, "linear": 7,
    "median_unbiased": 8, "normal_unbiased": 9,
}


def test_the_registry_holds_the_nine_types_under_numpys_names():
    assert {key: m.hf_type for key, m in METHODS.items()} == HF_TYPES


def test_the_float_trap_is_exactly_four():
    data = [1, 1, 1, 1, 1, 1, 6, 7, 7]
    assert np.percentile(data, 70) != 4  # numpy gives 3.9999999999999982
    assert percentile(data, 70) == 4
    assert percentile(data, 70, "linear") == Fraction(4)


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_agrees_with_numpy(method):
    rng = np.random.default_rng(7)
    for _ in range(150):
        data = rng.integers(1, 10, size=rng.integers(1, 14)).tolist()
        for q in (0, 10, 25, 30, 50, 70, 75, 90, 100, int(rng.integers(0, 101))):
            exact = percentile(data, q, method)
            assert float(exact) == pytest.approx(np.percentile(data, q, method=method), abs=1e-9)


@pytest.mark.parametrize(("method", "expected"), [
    # 1..10 at the 25th percentile, worked by hand from the H&F definitions.
    ("inverted_cdf", 3), ("averaged_inverted_cdf", 3), ("closest_observation", 2),
    ("interpolated_inverted_cdf", Fraction(5, 2)), ("hazen", 3), ("weibull", Fraction(11, 4)),
    ("linear", Fraction(13, 4)), ("median_unbiased", Fraction(35, 12)),
    ("normal_unbiased", Fraction(47, 16)),
])
def test_hand_checked_quartiles(method, expected):
    assert percentile(range(1, 11), 25, method) == expected


@pytest.mark.parametrize("method", list(METHODS))
def test_counts_path_equals_the_exact_path(method):
    rng = np.random.default_rng(11)
    rows = [rng.integers(1, 10, size=rng.integers(1, 20)).tolist() for _ in range(60)]
    counts = np.array([np.bincount(np.array(r) - 1, minlength=9) for r in rows])
    for q in (25, 30, 70, 75, 33, 99):
        batch = percentile_from_counts(counts.cumsum(axis=1), 1, q, method)
        assert [batch.at(k) for k in range(len(rows))] == [percentile(r, q, method) for r in rows]
    medians = median_from_counts(counts.cumsum(axis=1), 1)
    assert [medians.at(k) for k in range(len(rows))] == [median(r) for r in rows]


def test_half_point_median_and_errors():
    assert median([6, 7]) == Fraction(13, 2)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1], 101)
    with pytest.raises(ValueError, match="unknown percentile method"):
        percentile([1], 50, "type7")
