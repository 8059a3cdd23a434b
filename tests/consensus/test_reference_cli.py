"""The reference values again, through ``delphi analyze`` on long-format files where they fit."""

import pytest

from .helpers import (
    analyze_file,
    matrix_records,
    ratings_csv,
    reference_matrix,
    reference_rows,
)


def test_rand_table_as_one_item(tmp_path):
    rows = reference_rows("rand_ucla_bmjopen2012_table1.csv")
    path = ratings_csv(tmp_path / "rand.csv",
                       [(1, "q1", f"p{r['panellist']}", None, r["rating"]) for r in rows])
    (item,) = analyze_file(path, "--scale", "1-9")["items"]
    assert (item["median"], item["p30"], item["p70"], item["ipr"]) == (7, 7, 8, 1)
    assert (item["iprcp"], item["ai"], item["ipras"]) == (7.5, 2.5, pytest.approx(6.1, abs=1e-12))
    assert item["di"] == pytest.approx(1 / 6.1, abs=1e-12)
    assert item["rand_disagreement"] is False
    assert item["rand_class"] == "appropriate"
    assert item["verdicts"]["rand"] == "appropriate"
    assert item["rand_count_rule"] == "agreement"  # 15 panellists, 3 outside 7-9 (at most 4)


def test_fleiss_kappa_of_the_diagnoses_as_30_items_on_a_1_5_scale(tmp_path):
    path = ratings_csv(tmp_path / "dx.csv", matrix_records(reference_matrix("irr_diagnoses.csv")))
    (panel,) = analyze_file(path, "--scale", "1-5")["panel"]
    assert panel["fleiss_kappa"] == pytest.approx(0.4302445201, abs=1e-10)
    assert (panel["n_items"], panel["n_complete"]) == (30, 6)


@pytest.mark.parametrize("blank", [None, "UTS"])
def test_krippendorff_alpha_with_gaps_as_missing_or_uts(tmp_path, blank):
    matrix = reference_matrix("krippendorff_nmm_4coders.csv")
    path = ratings_csv(tmp_path / "k.csv", matrix_records(matrix, blank=blank))
    (panel,) = analyze_file(path, "--scale", "agree-5")["panel"]
    assert panel["krippendorff_alpha_ordinal"] == pytest.approx(0.8153875038, abs=1e-10)
    assert panel["krippendorff_alpha_interval"] == pytest.approx(0.8491071429, abs=1e-10)
    assert panel["fleiss_kappa"] is None  # units have 1 to 4 ratings: not applicable


def test_kendall_w_of_anxiety_and_icc_through_the_cli(tmp_path):
    path = ratings_csv(tmp_path / "anx.csv", matrix_records(reference_matrix("irr_anxiety.csv")))
    (panel,) = analyze_file(path)["panel"]
    assert panel["kendall_w"] == pytest.approx(0.539656876, abs=1e-9)
    assert panel["kendall_w_chi2"] == pytest.approx(30.76044193, abs=1e-8)
    assert panel["kendall_w_df"] == 19
    assert panel["kendall_w_p"] == pytest.approx(0.04288347313, abs=1e-11)
    assert panel["icc_a1"] == pytest.approx(0.1979982594, abs=1e-10)


def test_kendall_w_of_the_proofwiki_judges(tmp_path):
    rows = reference_rows("kendallW_proofwiki_example.csv")
    records = [(1, obj, r["judge"], None, r[obj]) for r in rows for obj in ("X", "Y", "Z")]
    (panel,) = analyze_file(ratings_csv(tmp_path / "w.csv", records))["panel"]
    assert panel["kendall_w"] == pytest.approx(0.0625, abs=1e-15)


def test_dajani_distributions_as_two_rounds(tmp_path):
    # Categories 1-3 become ratings 2, 5 and 8 (one per band of the 1-9 scale).
    records = []
    for row in reference_rows("dajani1979_table3_pooled_distributions.csv"):
        round_no = int(row["round"].split("_")[1])
        ratings = [2] * int(row["cat_1"]) + [5] * int(row["cat_2"]) + [8] * int(row["cat_3"])
        records += [(round_no, "q", f"p{k}", None, v) for k, v in enumerate(ratings)]
    (stability,) = analyze_file(ratings_csv(tmp_path / "d.csv", records))["stability"]
    assert stability["chi2"] == pytest.approx(0.1385281385, abs=1e-10)
    assert stability["chi2_df"] == 2


def _rank_preserving_pairs():
    """The R example's differences mapped to 1-9 keeping signs, |d| ranks and ties."""
    rows = reference_rows("wilcoxon_R_paired_ties_zero.csv")
    d = [int(r["x"]) - int(r["y"]) for r in rows]
    levels = {a: k + 1 for k, a in enumerate(sorted({abs(v) for v in d if v}))}
    pairs = []
    for v in d:
        step = levels.get(abs(v), 0)
        pairs.append((5, 5) if v == 0 else (1, 1 + step) if v > 0 else (9, 9 - step))
    return pairs


@pytest.mark.parametrize(("option", "one_sided"), [
    ("--wilcoxon-correction", 0.3176446594), ("--no-wilcoxon-correction", 0.2968152957),
])
def test_wilcoxon_of_the_r_example_as_two_rounds(tmp_path, option, one_sided):
    records = []
    for k, (before, after) in enumerate(_rank_preserving_pairs()):
        records += [(1, "q", f"p{k}", None, before), (2, "q", f"p{k}", None, after)]
    (stability,) = analyze_file(ratings_csv(tmp_path / "w.csv", records), option)["stability"]
    assert stability["wilcoxon_v"] == 27
    assert stability["wilcoxon_n"] == 9
    # V lies above its mean, so the two-sided p is twice R's "greater" p.
    assert stability["wilcoxon_p"] == pytest.approx(2 * one_sided, abs=2e-10)
