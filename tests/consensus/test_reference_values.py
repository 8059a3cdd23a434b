"""Every value of tests/data/reference/README.md, through the public functions."""

from fractions import Fraction

import numpy as np
import pytest

from delphi.consensus import (
    chi2_homogeneity,
    fleiss_kappa,
    icc,
    kendall_w,
    krippendorff_alpha,
    rand_ucla,
    weighted_kappa,
    wilcoxon_signed_rank,
)

from .helpers import reference_matrix, reference_rows


def _category_counts(matrix, categories):
    data = np.array(matrix)
    return np.stack([(data == c).sum(axis=1) for c in categories], axis=1)


def test_fleiss_kappa_of_the_diagnoses_data():
    result = fleiss_kappa(_category_counts(reference_matrix("irr_diagnoses.csv"), range(1, 6)))
    assert result.kappa == pytest.approx(0.4302445201, abs=1e-10)
    assert round(result.kappa, 7) == 0.4302445
    assert result.z == pytest.approx(17.65183058, abs=1e-8)
    assert round(result.z, 5) == 17.65183
    expected = [0.2447552448, 0.2447552448, 0.52, 0.4711272727, 0.5661178068]
    assert result.per_category == pytest.approx(expected, abs=1e-10)
    assert [round(k, 3) for k in result.per_category] == [0.245, 0.245, 0.520, 0.471, 0.566]
    assert (result.n_subjects, result.n_raters) == (30, 6)


def test_kendall_w_of_the_anxiety_data_items_as_subjects():
    result = kendall_w(reference_matrix("irr_anxiety.csv"))
    assert (result.n_items, result.n_raters, result.df) == (20, 3, 19)
    assert result.w == pytest.approx(0.539656876, abs=1e-9)
    assert result.chi2 == pytest.approx(30.76044193, abs=1e-8)
    assert result.p == pytest.approx(0.04288347313, abs=1e-11)
    assert (round(result.w, 2), round(result.chi2, 1), round(result.p, 4)) == (0.54, 30.8, 0.0429)
    assert result.w_uncorrected == pytest.approx(0.5019214703, abs=1e-10)


def test_cohen_kappa_of_anxiety_raters_2_and_3():
    rows = reference_rows("irr_anxiety.csv")
    result = weighted_kappa([int(r["rater2"]) for r in rows], [int(r["rater3"]) for r in rows],
                            weights=None)
    assert result.kappa == pytest.approx(-0.006289308176, abs=1e-12)


def test_icc_agreement_of_the_anxiety_data():
    result = icc(reference_matrix("irr_anxiety.csv"))
    assert result.icc_a1 == pytest.approx(0.1979982594, abs=1e-10)
    assert round(result.icc_a1, 3) == 0.198


@pytest.mark.parametrize(("level", "published", "full"), [
    ("nominal", 0.743, 0.7434210526),
    ("ordinal", 0.815, 0.8153875038),
    ("interval", 0.849, 0.8491071429),
    ("ratio", 0.797, 0.7974027747),
])
def test_krippendorff_alpha_of_the_four_coder_data(level, published, full):
    result = krippendorff_alpha(reference_matrix("krippendorff_nmm_4coders.csv"), level)
    assert result.alpha == pytest.approx(full, abs=1e-10)
    assert round(result.alpha, 3) == published


def test_rand_ucla_of_the_bmj_open_table():
    ratings = [int(r["rating"]) for r in reference_rows("rand_ucla_bmjopen2012_table1.csv")]
    result = rand_ucla(ratings)
    assert (result.median, result.p30, result.p70, result.ipr) == (7, 7, 8, 1)
    assert (result.iprcp, result.ai, result.ipras) == (Fraction("7.5"), Fraction("2.5"),
                                                       Fraction("6.1"))
    assert result.disagreement is False
    assert result.rand_class == "appropriate"


def test_wilcoxon_exact_of_the_scipy_corn_differences():
    d = [float(r["d"]) for r in reference_rows("wilcoxon_scipy_doc_corn_differences.csv")]
    two_sided = wilcoxon_signed_rank(d, method="exact")
    assert two_sided.t == 24
    assert two_sided.p == pytest.approx(0.041259765625, abs=1e-15)
    greater = wilcoxon_signed_rank(d, method="exact", alternative="greater")
    assert greater.v == 96
    assert greater.p == pytest.approx(0.0206298828125, abs=1e-15)


@pytest.mark.parametrize(("alternative", "correction", "expected"), [
    ("less", False, 0.7031847043),
    ("less", True, 0.7233656429),
    ("greater", False, 0.2968152957),
    ("greater", True, 0.3176446594),
])
def test_wilcoxon_normal_approximation_matches_r(alternative, correction, expected):
    rows = reference_rows("wilcoxon_R_paired_ties_zero.csv")
    d = [int(r["x"]) - int(r["y"]) for r in rows]
    result = wilcoxon_signed_rank(d, correction=correction, alternative=alternative)
    assert result.v == 27
    assert result.p == pytest.approx(expected, abs=1e-10)


def test_kendall_w_of_the_proofwiki_example_judges_as_raters():
    judges_by_objects = np.array(reference_matrix("kendallW_proofwiki_example.csv"))
    result = kendall_w(judges_by_objects.T)
    assert result.w == pytest.approx(0.0625, abs=1e-15)
    assert (result.n_items, result.n_raters) == (3, 4)


def test_dajani_group_stability_chi_square():
    table = [[int(v) for v in list(r.values())[1:]]
             for r in reference_rows("dajani1979_table3_pooled_distributions.csv")]
    result = chi2_homogeneity(table)
    assert result.statistic == pytest.approx(0.1385281385, abs=1e-10)
    assert round(result.statistic, 7) == 0.1385281
    assert result.df == 2
