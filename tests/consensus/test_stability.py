"""Stability between consecutive rounds: the vectorised figures equal the one-item functions."""

import numpy as np
import pytest
from scipy import stats

from delphi.consensus import (
    Settings,
    analyze,
    mcnemar_exact,
    weighted_kappa,
    wilcoxon_signed_rank,
)


def two_rounds(before, after, item="q"):
    """Return records of one item in rounds 1 and 2, panellist k rating before[k], after[k]."""
    return ([(1, item, f"p{k}", None, v) for k, v in enumerate(before)]
            + [(2, item, f"p{k}", None, v) for k, v in enumerate(after)])


def stability_of(before, after, **options):
    (row,) = [s for s in analyze(two_rounds(before, after), Settings(**options))["stability"]
              if s["group"] is None]
    return row


def test_hand_checked_example():
    before = [5, 6, 7, 8, 2, 5, "UTS", None]
    after = [7, 6, 8, 8, 2, 8, 8, 8]
    row = stability_of(before, after)
    assert (row["n_paired"], row["n_changed"]) == (6, 3)
    assert row["pct_changed"] == 50.0
    assert row["mean_abs_change"] == pytest.approx((2 + 0 + 1 + 0 + 0 + 3) / 6)
    # % in 7-9: round 1 2 of 6 valid; round 2 6 of 8 valid (not only the paired ones).
    assert row["pct_agree_from"] == pytest.approx(100 * 2 / 6)
    assert row["pct_agree_to"] == 75.0
    assert row["delta_pct_7_9"] == pytest.approx(100 * (6 / 8 - 2 / 6))
    assert row["pct_stable"] is False
    # Paired frequencies: before {2,5,5,6,7,8}, after {2,6,7,8,8,8}: |diff| sums to 4.
    assert row["scheibe_net_change"] == pytest.approx(0.5 * 4 / 6)
    assert row["scheibe_stable"] is False
    assert (row["mcnemar_b"], row["mcnemar_c"], row["mcnemar_p"]) == (2, 0, 0.5)
    assert row["wilcoxon_v"] == 6 and row["wilcoxon_n"] == 3


def test_identical_rounds_are_stable():
    row = stability_of([7, 8, 9, 5], [7, 8, 9, 5])
    assert row["pct_stable"] is True and row["scheibe_stable"] is True
    assert row["scheibe_net_change"] == 0.0
    assert row["wilcoxon_p"] is None and row["wilcoxon_v"] == 0  # no non-zero difference
    assert row["mcnemar_p"] == 1.0  # b + c = 0
    assert row["kappa_quadratic"] == 1.0


def test_stability_thresholds_are_exact():
    # 20% -> 35% is a change of exactly 15 pp, 14.999999999999996 in floats: not stable.
    row = stability_of([8] + [5] * 4, [8] * 7 + [5] * 13)
    assert 100 * (7 / 20 - 1 / 5) < 15
    assert row["delta_pct_agree"] == pytest.approx(15)
    assert row["pct_stable"] is False
    # Scheibe: one of 10 moved, 0.5 * 2 / 10 = 0.1 exactly: stable below 0.15, not below 0.1.
    assert stability_of([8] * 7 + [5] * 3, [8] * 8 + [5] * 2)["scheibe_stable"] is True
    assert stability_of([8] * 7 + [5] * 3, [8] * 8 + [5] * 2,
                        scheibe_threshold="0.1")["scheibe_stable"] is False


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
@pytest.mark.parametrize("correction", [True, False])
def test_vectorised_tests_equal_the_one_item_functions(zero_method, correction):
    rng = np.random.default_rng(3)
    records = []
    pairs = {}
    for item in range(40):
        n = int(rng.integers(2, 25))
        before = rng.integers(1, 10, size=n)
        after = np.clip(before + rng.integers(-3, 4, size=n), 1, 9)
        pairs[f"q{item}"] = (before, after)
        records += two_rounds(before.tolist(), after.tolist(), f"q{item}")
    settings = Settings(wilcoxon_zero_method=zero_method, wilcoxon_correction=correction)
    for row in analyze(records, settings)["stability"]:
        before, after = pairs[row["item"]]
        w = wilcoxon_signed_rank(after - before, zero_method, correction)
        assert row["wilcoxon_v"] == pytest.approx(w.v)
        if w.p is None:
            assert row["wilcoxon_p"] is None
        else:
            assert row["wilcoxon_p"] == pytest.approx(w.p, abs=1e-12)
            scipy_p = stats.wilcoxon(after - before, zero_method=zero_method,
                                     correction=correction, method="asymptotic").pvalue
            assert row["wilcoxon_p"] == pytest.approx(scipy_p, abs=1e-12)
        b = int(((before < 7) & (after >= 7)).sum())
        c = int(((before >= 7) & (after < 7)).sum())
        assert (row["mcnemar_b"], row["mcnemar_c"]) == (b, c)
        assert row["mcnemar_p"] == pytest.approx(mcnemar_exact(b, c).p, abs=1e-14)
        kappa = weighted_kappa(before, after, levels=range(1, 10)).kappa
        assert row["kappa_quadratic"] == (None if kappa is None else pytest.approx(kappa))


def test_kappa_uses_the_whole_scale():
    # Observed levels only (7, 8) would give a different value than levels 1-9.
    before, after = [7, 7, 8, 8, 8], [7, 8, 8, 8, 7]
    full = weighted_kappa(before, after, levels=range(1, 10)).kappa
    observed = weighted_kappa(before, after).kappa
    assert stability_of(before, after)["kappa_quadratic"] == pytest.approx(full)
    assert full == pytest.approx(observed)  # quadratic weights scale away; the table is the same
    linear_full = weighted_kappa(before, after, levels=range(1, 10), weights="linear").kappa
    assert linear_full == pytest.approx(weighted_kappa(before, after, weights="linear").kappa)


def test_per_group_stability_rows():
    records = [(r, "q", f"{g}{k}", g, 8 if r == 1 else 5) for r in (1, 2) for g in ("a", "b")
               for k in range(3)]
    rows = analyze(records)["stability"]
    assert [row["group"] for row in rows] == [None, "a", "b"]
    assert [row["n_paired"] for row in rows] == [6, 3, 3]
    assert all(row["delta_pct_agree"] == -100.0 for row in rows)


def test_three_rounds_give_two_pairs():
    records = [(r, "q", f"p{k}", None, 8) for r in (1, 2, 3) for k in range(4)]
    rows = analyze(records)["stability"]
    assert [(s["from_round"], s["to_round"]) for s in rows] == [(1, 2), (2, 3)]


def test_the_chi_square_is_null_when_neither_round_has_a_valid_rating():
    row = stability_of(["UTS", None, "UTS"], [None, "UTS", None])
    assert (row["chi2"], row["chi2_df"], row["chi2_p"]) == (None, 0, None)
    # with ratings in one round only it is null too; with both it is defined
    assert stability_of([7, 8, 2], [None, None, None])["chi2"] is None
    defined = stability_of([7, 8, 2], [7, 2, 2])
    assert defined["chi2_df"] == 1 and defined["chi2_p"] is not None


@pytest.mark.parametrize(("before", "after"), [
    ([7, 8, 1], [8, 7, 9]),            # 200/3 - 200/3 = 0, and 2/3 -> 3/3
    ([7, 1, 1], [7, 7, 1]),            # 33.33 -> 66.67: exactly 100/3
    ([7, 7, 1, 1, 1, 1, 1], [7, 7, 7, 1, 1, 1, 1]),
    ([7] * 10 + [1] * 19, [7] * 13 + [1] * 16),
])
def test_percentage_point_changes_are_exact(before, after):
    from fractions import Fraction
    row = stability_of(before, after)
    exact = 100 * (Fraction(sum(v >= 7 for v in after), len(after))
                   - Fraction(sum(v >= 7 for v in before), len(before)))
    assert row["delta_pct_agree"] == float(exact)
