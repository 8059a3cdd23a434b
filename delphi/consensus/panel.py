"""Panel-level agreement in one round: Kendall's W, Krippendorff's alpha, Fleiss' kappa, ICC.

Orientation is fixed everywhere: rows are items (subjects, units), columns are
panellists (raters, coders).  Missing values are NaN or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .schema import FleissReason

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _as_matrix(data: Sequence[Sequence[float | None]]) -> np.ndarray:
    """Return ``data`` as a float matrix with NaN for missing values."""
    if isinstance(data, np.ndarray) and data.dtype != object:
        return data.astype(float).reshape(len(data), -1)
    rows = [[np.nan if v is None else float(v) for v in row] for row in data]
    matrix = np.array(rows, dtype=float)
    return matrix.reshape(len(rows), -1)


def _codes(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (distinct values, integer code of each cell); NaN cells get code -1."""
    present = ~np.isnan(matrix)
    values, inverse = np.unique(matrix[present], return_inverse=True)
    codes = np.full(matrix.shape, -1, dtype=np.int64)
    codes[present] = inverse
    return values, codes


@dataclass(frozen=True)
class KendallResult:
    """Kendall's W (tie-corrected) with its chi-square test; None where undefined."""

    w: float | None
    w_uncorrected: float | None
    chi2: float | None
    df: int
    p: float | None
    n_items: int
    n_raters: int


def kendall_w_codes(codes: np.ndarray, levels: int) -> KendallResult:
    """Return Kendall's W of complete integer codes (items x raters), ranks within each rater."""
    n, m = codes.shape
    if n < 2 or m < 2:
        return KendallResult(None, None, None, max(n - 1, 0), None, n, m)
    counts = np.bincount((np.arange(m) * levels + codes).ravel(), minlength=m * levels)
    counts = counts.reshape(m, levels).astype(float)
    midrank = np.cumsum(counts, axis=1) - (counts - 1) / 2
    rank_sums = midrank[np.arange(m)[None, :], codes].sum(axis=1)
    s = float(((rank_sums - m * (n + 1) / 2) ** 2).sum())
    full = m * m * (n**3 - n)
    corrected = full - m * float((counts**3 - counts).sum())
    if corrected <= 0:
        return KendallResult(None, 12 * s / full, None, n - 1, None, n, m)
    w = 12 * s / corrected
    chi2 = m * (n - 1) * w
    return KendallResult(w, 12 * s / full, chi2, n - 1, float(stats.chi2.sf(chi2, n - 1)), n, m)


def kendall_w(matrix: Sequence[Sequence[float | None]]) -> KendallResult:
    """Return Kendall's W with items as rows and raters as columns (raters with gaps dropped)."""
    data = _as_matrix(matrix)
    data = data[:, ~np.isnan(data).any(axis=0)]
    values, codes = _codes(data)
    return kendall_w_codes(codes, max(len(values), 1))


@dataclass(frozen=True)
class AlphaResult:
    """Krippendorff's alpha at one level of measurement; None where undefined."""

    alpha: float | None
    level: str
    n_pairable: int


def _delta(values: np.ndarray, marginals: np.ndarray, level: str) -> np.ndarray:
    """Return the squared difference function between distinct values for ``level``."""
    a, b = values[:, None], values[None, :]
    if level == "nominal":
        return (a != b).astype(float)
    if level == "ordinal":
        mid = np.cumsum(marginals) - marginals / 2
        return (mid[:, None] - mid[None, :]) ** 2
    if level == "interval":
        return (a - b) ** 2
    if level == "ratio":
        total = a + b
        return np.where(total == 0, 0.0, (a - b) ** 2 / np.where(total == 0, 1, total) ** 2)
    raise ValueError(f"unknown level {level!r}; known levels: {', '.join(LEVELS)}")


def alpha_from_counts(counts: np.ndarray, values: np.ndarray, level: str) -> AlphaResult:
    """Return alpha from per-unit value counts (units x distinct values)."""
    counts = np.asarray(counts, dtype=float)
    per_unit = counts.sum(axis=1)
    counts = counts[per_unit >= 2]
    per_unit = per_unit[per_unit >= 2]
    weighted = counts / (per_unit - 1)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    n = marginals.sum()
    delta = _delta(np.asarray(values, dtype=float), marginals, level)
    expected = float(marginals @ delta @ marginals)
    if n < 2 or expected == 0:
        return AlphaResult(None, level, int(n))
    alpha = 1 - float(n - 1) * float((coincidence * delta).sum()) / expected
    return AlphaResult(alpha, level, int(n))


def krippendorff_alpha(units: Sequence[Sequence[float | None]],
                       level: str = "ordinal") -> AlphaResult:
    """Return Krippendorff's alpha of ``units`` (rows: items, columns: coders; None missing)."""
    values, codes = _codes(_as_matrix(units))
    n_units, n_values = codes.shape[0], max(len(values), 1)
    present = codes >= 0
    unit_index = np.broadcast_to(np.arange(n_units)[:, None], codes.shape)[present]
    counts = np.bincount(unit_index * n_values + codes[present], minlength=n_units * n_values)
    return alpha_from_counts(counts.reshape(n_units, n_values), values[:n_values], level) if len(
        values) else AlphaResult(None, level, 0)


@dataclass(frozen=True)
class FleissResult:
    """Fleiss' kappa with irr's z test and the kappa of each category."""

    kappa: float | None
    z: float | None
    p: float | None
    per_category: tuple[float | None, ...]
    n_subjects: int
    n_raters: int


def fleiss_status(ratings_per_item: Sequence[int],
                  kappa: float | None = None) -> FleissReason | None:
    """Return why Fleiss' kappa is undefined (a code of FLEISS_REASONS), or None.

    ``ratings_per_item`` is the number of valid ratings of each item; pass the
    kappa found (or None) to tell "no variation" (every rating in one category)
    from an applicable kappa.
    """
    n = [int(v) for v in ratings_per_item]
    if not n:
        return "no_items"
    if min(n) < 2:
        return "too_few_ratings"
    if len(set(n)) > 1:
        return "unequal_ratings"
    return "no_variation" if kappa is None else None


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> FleissResult:
    """Return Fleiss' kappa of subjects x categories counts; every row must sum alike."""
    table = np.asarray(counts, dtype=float)
    totals = table.sum(axis=1)
    if table.ndim != 2 or not table.size or (totals != totals[0]).any() or totals[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings per subject")
    n_subj, raters = table.shape[0], float(totals[0])
    p = table.sum(axis=0) / (n_subj * raters)
    agreement = ((table**2).sum(axis=1) - raters) / (raters * (raters - 1))
    chance, spread = float((p**2).sum()), p * (1 - p)
    per_cat = tuple(
        None if s == 0 else float(1 - (col * (raters - col)).sum()
                                  / (n_subj * raters * (raters - 1) * s))
        for col, s in zip(table.T, spread, strict=True)
    )
    if chance >= 1:
        return FleissResult(None, None, None, per_cat, n_subj, int(raters))
    kappa = (float(agreement.mean()) - chance) / (1 - chance)
    se = (np.sqrt(2) / (spread.sum() * np.sqrt(n_subj * raters * (raters - 1)))
          * np.sqrt(spread.sum() ** 2 - (spread * (1 - 2 * p)).sum()))
    z = kappa / float(se)
    return FleissResult(kappa, z, float(2 * stats.norm.sf(abs(z))), per_cat, n_subj, int(raters))


@dataclass(frozen=True)
class IccResult:
    """Single-measure intraclass correlations from the two-way model (McGraw & Wong)."""

    icc_a1: float | None
    icc_c1: float | None
    n_subjects: int
    n_raters: int


def icc(matrix: Sequence[Sequence[float | None]]) -> IccResult:
    """Return ICC(A,1) and ICC(C,1) with subjects as rows and raters as columns (complete)."""
    data = _as_matrix(matrix)
    data = data[:, ~np.isnan(data).any(axis=0)]
    n, k = data.shape
    if n < 2 or k < 2:
        return IccResult(None, None, n, k)
    grand = data.mean()
    ss_rows = k * float(((data.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((data.mean(axis=0) - grand) ** 2).sum())
    ss_error = float(((data - grand) ** 2).sum()) - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    consistency = msr + (k - 1) * mse
    agreement = consistency + k * (msc - mse) / n
    return IccResult(
        None if agreement == 0 else (msr - mse) / agreement,
        None if consistency == 0 else (msr - mse) / consistency, n, k,
    )
