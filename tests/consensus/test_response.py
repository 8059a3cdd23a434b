"""Response and attrition per round and group, and the attrition-bias comparison."""

import pytest
from scipy import stats

from delphi.consensus import analyze, mann_whitney_u


def study():
    """Round 1: 6 panellists (4 clinicians, 2 patients); round 2: 2 of them stop answering."""
    records = []
    ratings = {"c1": 8, "c2": 9, "c3": 7, "c4": 2, "x1": 3, "x2": 4}
    for p, v in ratings.items():
        group = "clinicians" if p.startswith("c") else "patients"
        records += [(1, "q1", p, group, v), (1, "q2", p, group, None if p == "c3" else v)]
        answer = None if p in ("c4", "x2") else v
        records += [(2, "q1", p, group, answer), (2, "q2", p, group, answer)]
    return records


def test_response_rows_per_round_and_group():
    rows = {(r["round"], r["group"]): r for r in analyze(study())["response"]}
    assert set(rows) == {(1, None), (1, "clinicians"), (1, "patients"),
                         (2, None), (2, "clinicians"), (2, "patients")}
    first = rows[(1, None)]
    assert (first["invited"], first["responded"], first["completed"]) == (6, 6, 5)
    assert first["response_rate"] == 1.0 and first["retention"] == 1.0
    second = rows[(2, None)]
    assert (second["invited"], second["responded"], second["completed"]) == (6, 4, 4)
    assert second["response_rate"] == pytest.approx(4 / 6)
    assert second["retention"] == pytest.approx(4 / 6)
    assert rows[(2, "patients")]["retention"] == 0.5


def test_attrition_bias_compares_round_1_ratings_of_leavers_and_stayers():
    rows = {r["item"]: r for r in analyze(study())["attrition_bias"] if r["group"] is None}
    q1 = rows["q1"]
    assert (q1["from_round"], q1["to_round"]) == (1, 2)
    assert (q1["n_stayed"], q1["n_dropped"]) == (4, 2)
    assert q1["median_stayed"] == 7.5 and q1["median_dropped"] == 3.0
    assert q1["median_diff"] == -4.5
    assert q1["pct_agree_stayed"] == 75.0 and q1["pct_agree_dropped"] == 0.0
    reference = stats.mannwhitneyu([2, 4], [8, 9, 7, 3], method="asymptotic")
    assert q1["mann_whitney_u"] == reference.statistic
    assert q1["mann_whitney_p"] == pytest.approx(reference.pvalue, abs=1e-12)
    assert rows["q2"]["n_stayed"] == 3  # c3 left q2 blank in round 1


def test_single_round_has_no_attrition_bias():
    assert analyze([(1, "q", "p", None, 7)])["attrition_bias"] == []


def test_mann_whitney_matches_scipy_with_ties():
    x, y = [1, 2, 2, 5, 7, 7], [2, 3, 7, 9, 9]
    ours = mann_whitney_u(x, y)
    theirs = stats.mannwhitneyu(x, y, method="asymptotic")
    assert ours.u == theirs.statistic
    assert ours.p == pytest.approx(theirs.pvalue, abs=1e-12)
    assert mann_whitney_u([], [1]).p is None


def test_an_empty_study_has_empty_sections():
    result = analyze([])
    assert [result[k] for k in ("items", "stability", "panel", "response", "attrition_bias")] == [
        [], [], [], [], []]


def test_attrition_bias_is_also_computed_per_group():
    rows = {(r["item"], r["group"]): r for r in analyze(study())["attrition_bias"]}
    assert set(rows) == {(q, g) for q in ("q1", "q2") for g in (None, "clinicians", "patients")}
    clin, pat = rows[("q1", "clinicians")], rows[("q1", "patients")]
    # clinicians: c1-c3 stayed (8, 9, 7), c4 left (2); patients: x1 stayed (3), x2 left (4)
    assert (clin["n_stayed"], clin["n_dropped"]) == (3, 1)
    assert clin["median_stayed"] == 8.0 and clin["median_dropped"] == 2.0
    assert (pat["n_stayed"], pat["n_dropped"]) == (1, 1)
    assert pat["pct_agree_diff"] == 0.0
    reference = stats.mannwhitneyu([2], [8, 9, 7], method="asymptotic")
    assert clin["mann_whitney_p"] == pytest.approx(reference.pvalue, abs=1e-12)


@pytest.mark.parametrize(("x", "y"), [([5, 5], [5, 5, 5]), ([3], [3]), ([9, 9, 9], [9])])
def test_mann_whitney_of_all_tied_samples_agrees_with_scipy(x, y):
    theirs = stats.mannwhitneyu(x, y, method="asymptotic")
    ours = mann_whitney_u(x, y)
    assert ours.u == theirs.statistic and ours.p == theirs.pvalue == 1.0
    # the batched attrition comparison gives the same p
    records = [(1, "q", f"s{i}", None, v) for i, v in enumerate(y)]
    records += [(1, "q", f"d{i}", None, v) for i, v in enumerate(x)]
    records += [(2, "q", f"s{i}", None, v) for i, v in enumerate(y)]
    (row,) = [r for r in analyze(records)["attrition_bias"] if r["group"] is None]
    assert row["mann_whitney_p"] == 1.0
