"""Stability between two rounds for many items at once, from paired contingency tables.

Each row is one item (pooled or one group); ``tables[row, x, y]`` counts the
paired panellists who rated x in the earlier round and y in the later one
(scale indexes).  Everything, the Wilcoxon ranks included, follows from
these tables, so the cost does not grow with the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import stats

from .batch import safe_divide
from .inference import kappa_weights, normal_p
from .settings import Number, Settings


@dataclass(frozen=True)
class StabilityBatch:
    """Between-round figures per row; floats are NaN where undefined."""

    n_paired: np.ndarray
    n_changed: np.ndarray
    pct_changed: np.ndarray
    mean_abs_change: np.ndarray
    scheibe: np.ndarray
    scheibe_stable: np.ndarray
    wilcoxon_n: np.ndarray
    wilcoxon_v: np.ndarray
    wilcoxon_z: np.ndarray
    wilcoxon_p: np.ndarray
    mcnemar_b: np.ndarray
    mcnemar_c: np.ndarray
    mcnemar_p: np.ndarray
    kappa: np.ndarray


def difference_counts(tables: np.ndarray) -> np.ndarray:
    """Return counts of d = later - earlier per row, for d = -(K-1) .. K-1."""
    k = tables.shape[1]
    x, y = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    onehot = np.zeros((k * k, 2 * k - 1), dtype=np.int64)
    onehot[np.arange(k * k), (y - x + k - 1).ravel()] = 1
    return tables.reshape(len(tables), k * k) @ onehot


def wilcoxon_from_differences(dcounts: np.ndarray, zero_method: str,
                              correction: bool) -> tuple[np.ndarray, ...]:
    """Return (n, V = R+, z, two-sided p) per row from counts of each difference."""
    k = (dcounts.shape[1] + 1) // 2
    zeros = dcounts[:, k - 1].astype(float)
    pos = dcounts[:, k:].astype(float)
    neg = dcounts[:, : k - 1][:, ::-1].astype(float)
    size = pos + neg  # |d| = 1 .. K-1
    ties = (size**3 - size).sum(axis=1)
    below = np.cumsum(size, axis=1) - size
    n_nonzero = size.sum(axis=1)
    if zero_method == "wilcox":
        v = (pos * (below + (size + 1) / 2)).sum(axis=1)
        n, mean, var24 = n_nonzero, n_nonzero * (n_nonzero + 1) / 4, _var24(n_nonzero)
    else:
        v = (pos * (zeros[:, None] + below + (size + 1) / 2)).sum(axis=1)
        n = n_nonzero + zeros
        mean, var24 = n * (n + 1) / 4, _var24(n)
        if zero_method == "pratt":
            mean, var24 = mean - zeros * (zeros + 1) / 4, var24 - _var24(zeros)
        else:  # zsplit: half of the zeros' rank sum to each side; zeros tie among themselves
            v, ties = v + zeros * (zeros + 1) / 4, ties + zeros**3 - zeros
    se = np.sqrt(np.maximum(var24 - ties / 2, 0.0) / 24)
    shift = v - mean
    z = safe_divide(shift - (0.5 * np.sign(shift) if correction else 0.0), se)
    p = np.where(np.isnan(z), np.nan, normal_p(np.nan_to_num(z), "two-sided"))
    return n, v, z, p


def _var24(n: np.ndarray) -> np.ndarray:
    """Return n(n+1)(2n+1), 24 times the variance of R+ without ties."""
    return n * (n + 1) * (2 * n + 1)


def mcnemar_p(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Return exact McNemar p-values, 1 where b + c = 0."""
    return np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, c), b + c, 0.5))


def quadratic_kappa(tables: np.ndarray) -> np.ndarray:
    """Return quadratic-weighted kappa per row over the whole scale, NaN where undefined."""
    w = kappa_weights(tables.shape[1], "quadratic")
    n = tables.sum(axis=(1, 2)).astype(float)
    observed = (tables * w).sum(axis=(1, 2))
    chance = np.einsum("ri,ij,rj->r", tables.sum(axis=2), w, tables.sum(axis=1))
    return 1 - safe_divide(observed * n, chance)


def stability_batch(tables: np.ndarray, agree: np.ndarray, settings: Settings) -> StabilityBatch:
    """Return the stability figures of each row; ``agree`` marks the agree band's indexes."""
    tables = np.asarray(tables, dtype=np.int64)
    n = tables.sum(axis=(1, 2))
    n_changed = n - np.trace(tables, axis1=1, axis2=2)
    dcounts = difference_counts(tables)
    k = tables.shape[1]
    gaps = np.abs(np.arange(-(k - 1), k))
    spread = np.abs(tables.sum(axis=1) - tables.sum(axis=2)).sum(axis=1)  # 2n * Scheibe
    t = settings.scheibe_threshold
    b = tables[:, ~agree][:, :, agree].sum(axis=(1, 2))
    c = tables[:, agree][:, :, ~agree].sum(axis=(1, 2))
    w_n, w_v, w_z, w_p = wilcoxon_from_differences(
        dcounts, settings.wilcoxon_zero_method, settings.wilcoxon_correction
    )
    return StabilityBatch(
        n_paired=n, n_changed=n_changed, pct_changed=safe_divide(100 * n_changed, n),
        mean_abs_change=safe_divide(dcounts @ gaps, n),
        scheibe=safe_divide(spread, 2 * n),
        scheibe_stable=spread * t.denominator < 2 * n * t.numerator,
        wilcoxon_n=w_n, wilcoxon_v=w_v, wilcoxon_z=w_z, wilcoxon_p=w_p,
        mcnemar_b=b, mcnemar_c=c, mcnemar_p=mcnemar_p(b, c),
        kappa=quadratic_kappa(tables),
    )


def change_is_stable(agree: tuple[np.ndarray, np.ndarray], den: tuple[np.ndarray, np.ndarray],
                     threshold_pp: Number) -> np.ndarray:
    """Return |100*a1/n1 - 100*a0/n0| < threshold per row, tested on integers."""
    (a0, a1), (n0, n1) = agree, den
    t = Fraction(threshold_pp)
    gap = np.abs(a1 * n0 - a0 * n1) * 100 * t.denominator
    return (gap < t.numerator * n0 * n1) & (n0 > 0) & (n1 > 0)


def chi2_rows(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return chi2 of homogeneity, df and p per row for two count vectors (empty columns out)."""
    both = np.stack([first, second], axis=1).astype(float)  # rows x 2 x B
    col = both.sum(axis=1)
    row = both.sum(axis=2)
    total = row.sum(axis=1)
    expected = row[:, :, None] * col[:, None, :] / np.where(total > 0, total, 1)[:, None, None]
    cells = safe_divide((both - expected) ** 2, expected)
    statistic = np.nansum(cells, axis=(1, 2))
    # Both factors at least 0: with no valid rating in either round, (0 - 1) * (0 - 1) is
    # not one degree of freedom; the test is undefined (null), not chi2 0, df 1, p 1.
    df = (np.maximum((col > 0).sum(axis=1) - 1, 0)
          * np.maximum((row > 0).sum(axis=1) - 1, 0))
    ok = df > 0
    p = np.where(ok, stats.chi2.sf(statistic, np.maximum(df, 1)), np.nan)
    return np.where(ok, statistic, np.nan), np.where(ok, df, 0), p
