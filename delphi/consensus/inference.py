"""Paired and two-sample tests on one item: Wilcoxon, McNemar, weighted kappa, Mann-Whitney, chi2.

These take plain sequences and return frozen dataclasses; the engine uses
vectorised twins (``stability.py``, ``response.py``) that the tests check
against these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALTERNATIVES = ("two-sided", "less", "greater")


@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test; ``v`` is R's V = R+, ``t`` = min(R+, R-)."""

    n: int
    n_zero: int
    v: float
    r_minus: float
    t: float
    z: float | None
    p: float | None
    method: str


def _tie_term(values: np.ndarray) -> float:
    """Return sum(t^3 - t) over groups of equal values."""
    _, t = np.unique(values, return_counts=True)
    return float((t.astype(float) ** 3 - t).sum())


def normal_p(z: float | np.ndarray, alternative: str) -> float | np.ndarray:
    """Return the normal-approximation p-value of ``z`` for the alternative."""
    if alternative == "less":
        return stats.norm.cdf(z)
    if alternative == "greater":
        return stats.norm.sf(z)
    return np.minimum(1.0, 2 * stats.norm.sf(np.abs(z)))


def _signed_ranks(d: np.ndarray, zero_method: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Return (ranked differences, their ranks, R+, R-) with zeros treated by ``zero_method``."""
    kept = d[d != 0] if zero_method == "wilcox" else d
    ranks = stats.rankdata(np.abs(kept)) if kept.size else np.zeros(0)
    v, r_minus = float(ranks[kept > 0].sum()), float(ranks[kept < 0].sum())
    if zero_method == "zsplit":
        half_zero = float(ranks[kept == 0].sum()) / 2
        v, r_minus = v + half_zero, r_minus + half_zero
    return kept, ranks, v, r_minus


def _null_moments(kept: np.ndarray, n_zero: int, zero_method: str) -> tuple[float, float]:
    """Return the mean and standard error of R+ under the null, tie-corrected."""
    n = kept.size
    mean, var24 = n * (n + 1) / 4, float(n * (n + 1) * (2 * n + 1))
    tied = np.abs(kept)
    if zero_method == "pratt":  # Cureton's adjustment; zeros take no part in the ties
        mean -= n_zero * (n_zero + 1) / 4
        var24 -= n_zero * (n_zero + 1) * (2 * n_zero + 1)
        tied = tied[tied != 0]
    return mean, float(np.sqrt(max(var24 - _tie_term(tied) / 2, 0.0) / 24))


def wilcoxon_signed_rank(d: Sequence[float], zero_method: str = "wilcox", correction: bool = True,
                         method: str = "asymptotic",
                         alternative: str = "two-sided") -> WilcoxonResult:
    """Return the Wilcoxon signed-rank test of differences ``d`` (R's defaults by default)."""
    if zero_method not in ("wilcox", "pratt", "zsplit") or alternative not in ALTERNATIVES:
        raise ValueError(f"unknown zero_method {zero_method!r} or alternative {alternative!r}")
    diffs = np.asarray(d, dtype=float)
    n_zero = int((diffs == 0).sum())
    kept, _, v, r_minus = _signed_ranks(diffs, zero_method)
    t = min(v, r_minus)
    if method == "exact":
        has_ties = n_zero > 0 or kept.size != np.unique(np.abs(kept)).size
        p = _exact_p(kept.size, v, alternative, has_ties)
        return WilcoxonResult(kept.size, n_zero, v, r_minus, t, None, p, method)
    if method != "asymptotic":
        raise ValueError(f"unknown method {method!r}")
    mean, se = _null_moments(kept, n_zero, zero_method)
    if se == 0:
        return WilcoxonResult(kept.size, n_zero, v, r_minus, t, None, None, method)
    shift = v - mean
    step = {"two-sided": float(np.sign(shift)), "less": -1.0, "greater": 1.0}[alternative]
    z = (shift - (0.5 * step if correction else 0.0)) / se
    return WilcoxonResult(kept.size, n_zero, v, r_minus, t, z,
                          float(normal_p(z, alternative)), method)


def _exact_p(n: int, v: float, alternative: str, has_ties: bool) -> float:
    """Return the exact p-value of R+ = v among n untied, non-zero differences."""
    if has_ties:
        raise ValueError("the exact Wilcoxon test needs differences without ties or zeros")
    freq = np.zeros(n * (n + 1) // 2 + 1)
    freq[0] = 1.0
    for k in range(1, n + 1):
        freq[k:] = freq[k:] + freq[:-k].copy()
    dist = freq / freq.sum()
    k = int(round(v))
    less, greater = float(dist[: k + 1].sum()), float(dist[k:].sum())
    if alternative == "less":
        return less
    if alternative == "greater":
        return greater
    return min(1.0, 2 * min(less, greater))


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test: b = changes not-agree -> agree, c = agree -> not-agree."""

    b: int
    c: int
    p: float


def mcnemar_exact(b: int, c: int) -> McNemarResult:
    """Return the exact (binomial) McNemar p-value; b + c = 0 gives p = 1."""
    if b < 0 or c < 0:
        raise ValueError("b and c are counts and cannot be negative")
    p = 1.0 if b + c == 0 else float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)
    return McNemarResult(b, c, p)


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa (weighted or not); None where chance agreement is perfect."""

    kappa: float | None
    n: int
    weights: str | None


def kappa_weights(levels: int, weights: str | None) -> np.ndarray:
    """Return the disagreement weights between level indexes (0 on the diagonal)."""
    i = np.arange(levels)
    gap = np.abs(i[:, None] - i[None, :]).astype(float)
    if weights == "quadratic":
        return gap**2
    if weights == "linear":
        return gap
    if weights is None:
        return (gap > 0).astype(float)
    raise ValueError(f"unknown weights {weights!r}")


def weighted_kappa(x: Sequence[float], y: Sequence[float], levels: Sequence[float] | None = None,
                   weights: str | None = "quadratic") -> KappaResult:
    """Return Cohen's kappa of paired ratings, the categories fixed to ``levels`` if given."""
    first, second = np.asarray(x), np.asarray(y)
    if first.shape != second.shape:
        raise ValueError("x and y must be paired")
    cats = np.asarray(levels) if levels is not None else np.union1d(first, second)
    if not (np.isin(first, cats).all() and np.isin(second, cats).all()):
        raise ValueError("a rating is not one of the levels")
    k = len(cats)
    table = np.zeros((k, k))
    np.add.at(table, (np.searchsorted(cats, first), np.searchsorted(cats, second)), 1)
    w = kappa_weights(k, weights)
    n = table.sum()
    expected = np.outer(table.sum(1), table.sum(0)) / n if n else table
    chance = float((w * expected).sum())
    kappa = None if chance == 0 else 1 - float((w * table).sum()) / chance
    return KappaResult(kappa, int(n), weights)


@dataclass(frozen=True)
class MannWhitneyResult:
    """Mann-Whitney U of the first sample, with the asymptotic two-sided p (tie-corrected)."""

    u: float | None
    z: float | None
    p: float | None


def mann_whitney_u(x: Sequence[float], y: Sequence[float],
                   correction: bool = True) -> MannWhitneyResult:
    """Return U of ``x`` vs ``y`` and the two-sided normal-approximation p (as scipy's)."""
    first, second = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = first.size, second.size
    if n1 == 0 or n2 == 0:
        return MannWhitneyResult(None, None, None)
    both = np.concatenate([first, second])
    u = float(stats.rankdata(both)[:n1].sum() - n1 * (n1 + 1) / 2)
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - _tie_term(both) / (n * (n - 1)))
    if var <= 0:
        # Every value tied: no evidence of a difference.  scipy's asymptotic test gives
        # p = 1 with the continuity correction (z = -0.5/0 clips to 1) and NaN without it;
        # we follow it, with z undefined in both cases.
        return MannWhitneyResult(u, None, 1.0 if correction else None)
    shift = abs(u - n1 * n2 / 2) - (0.5 if correction else 0.0)
    z = shift / np.sqrt(var)
    return MannWhitneyResult(u, float(z), float(min(1.0, 2 * stats.norm.sf(z))))


@dataclass(frozen=True)
class Chi2Result:
    """Chi-square test of homogeneity (no continuity correction)."""

    statistic: float | None
    df: int
    p: float | None


def chi2_homogeneity(table: Sequence[Sequence[int]]) -> Chi2Result:
    """Return the chi-square test that the rows of a count table share one distribution."""
    t = np.asarray(table, dtype=float)
    t = t[:, t.sum(axis=0) > 0]
    t = t[t.sum(axis=1) > 0]
    df = (t.shape[0] - 1) * (t.shape[1] - 1) if t.size else 0
    if df <= 0:
        return Chi2Result(None, 0, None)
    expected = np.outer(t.sum(1), t.sum(0)) / t.sum()
    statistic = float(((t - expected) ** 2 / expected).sum())
    return Chi2Result(statistic, df, float(stats.chi2.sf(statistic, df)))
