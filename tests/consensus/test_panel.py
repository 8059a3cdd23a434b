"""Panel-level agreement per round: orientation, complete cases, not-applicable cases."""

import numpy as np
import pytest
from scipy import stats

from delphi.consensus import analyze, fleiss_kappa, kendall_w, krippendorff_alpha

from .helpers import matrix_records


def test_kendall_w_equals_friedman_over_m_times_n_minus_1():
    rng = np.random.default_rng(5)
    matrix = rng.integers(1, 10, size=(12, 7))  # 12 items (subjects) x 7 raters
    result = kendall_w(matrix)
    friedman = stats.friedmanchisquare(*matrix).statistic
    assert result.w == pytest.approx(friedman / (7 * 11))
    assert result.chi2 == pytest.approx(friedman)
    (panel,) = analyze(matrix_records(matrix.tolist()))["panel"]
    assert panel["kendall_w"] == pytest.approx(result.w)
    assert panel["kendall_w_p"] == pytest.approx(stats.chi2.sf(friedman, 11))


def test_kendall_w_uses_complete_cases_only():
    matrix = [[1, 2, 3], [2, 3, None], [3, 1, 2], [4, 4, 4]]
    (panel,) = analyze(matrix_records(matrix, blank="UTS"))["panel"]
    assert (panel["n_items"], panel["n_panellists"], panel["n_complete"]) == (4, 3, 2)
    assert panel["kendall_w"] == pytest.approx(kendall_w([r[:2] for r in matrix]).w)


def test_panel_statistics_are_null_when_undefined():
    (panel,) = analyze([(1, "q", "p1", None, 7)])["panel"]
    assert panel["kendall_w"] is None and panel["kendall_w_p"] is None
    assert panel["krippendorff_alpha_ordinal"] is None
    assert panel["fleiss_kappa"] is None and panel["icc_a1"] is None


def test_fleiss_is_not_applicable_with_unequal_numbers_of_ratings():
    matrix = [[1, 1, 2], [3, 3, None], [2, 2, 2]]
    (panel,) = analyze(matrix_records(matrix))["panel"]
    assert panel["fleiss_kappa"] is None
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[2, 1], [1, 1]])
    full = [[1, 1, 2], [3, 3, 3], [2, 2, 2]]
    (panel,) = analyze(matrix_records(full))["panel"]
    counts = [[row.count(c) for c in range(1, 10)] for row in full]
    assert panel["fleiss_kappa"] == pytest.approx(fleiss_kappa(counts).kappa)


def test_krippendorff_orientation_is_units_as_rows():
    units = [[1, 1, 2], [3, 3, 3], [5, 4, 5], [2, 2, 1]]
    (panel,) = analyze(matrix_records(units))["panel"]
    assert panel["krippendorff_alpha_ordinal"] == pytest.approx(
        krippendorff_alpha(units, "ordinal").alpha)
    assert panel["krippendorff_alpha_interval"] == pytest.approx(
        krippendorff_alpha(units, "interval").alpha)
    assert krippendorff_alpha(units, "interval").alpha != pytest.approx(
        krippendorff_alpha(np.array(units).T, "interval").alpha)


def test_krippendorff_rejects_unknown_levels():
    with pytest.raises(ValueError, match="unknown level"):
        krippendorff_alpha([[1, 2], [2, 1]], "circular")


def test_fleiss_status_says_why_kappa_is_undefined():
    from delphi.consensus.panel import fleiss_status
    assert fleiss_status([]) == "no_items"
    assert fleiss_status([5, 1, 5], 0.2) == "too_few_ratings"
    assert fleiss_status([6, 4, 6], 0.2) == "unequal_ratings"
    assert fleiss_status([6, 6], None) == "no_variation"
    assert fleiss_status([6, 6], 0.3) is None
