"""Per-item statistics for many items at once, from their counts at each scale point.

The rows are (round, group, item) cells.  Every percentile is an exact
rational (``RationalArray``), so the verdicts built on them equal the ones
``items.item_statistics`` computes with Fractions.  Floats carry NaN where a
value is undefined; the output layer turns NaN into null.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .items import wilson_bounds
from .percentiles import RationalArray, median_from_counts, percentile_from_counts
from .rand import RandBatch, rand_batch
from .scales import Scale
from .settings import Settings


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Return num/den as floats, NaN where den is 0 (and no RuntimeWarning)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    return np.divide(num, den, out=out, where=den != 0)


def band_count(counts: np.ndarray, scale: Scale, low: int, high: int) -> np.ndarray:
    """Return the number of ratings from ``low`` to ``high`` per row."""
    return counts[:, low - scale.low: high - scale.low + 1].sum(axis=1)


@dataclass(frozen=True)
class ItemBatch:
    """The statistics of many items; arrays are aligned on rows."""

    counts: np.ndarray
    n_invited: np.ndarray
    n_responded: np.ndarray
    n_missing: np.ndarray
    n_uts: np.ndarray
    n_valid: np.ndarray
    n_denominator: np.ndarray
    n_agree: np.ndarray
    n_disagree: np.ndarray
    median: RationalArray
    p25: RationalArray
    p75: RationalArray
    iqr: RationalArray
    p30: RationalArray
    p70: RationalArray
    mean: np.ndarray
    sd: np.ndarray
    cv: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rand: RandBatch | None

    @property
    def has_ratings(self) -> np.ndarray:
        """Rows with at least one valid rating."""
        return self.n_valid > 0


def _spread(counts: np.ndarray, n: np.ndarray, scale: Scale) -> tuple[np.ndarray, ...]:
    """Return mean, SD (ddof=1) and CV per row from integer sums, NaN where undefined."""
    points = np.arange(scale.low, scale.high + 1, dtype=np.int64)
    s1, s2 = counts @ points, counts @ (points * points)
    mean = safe_divide(s1, n)
    var = safe_divide(n * s2 - s1 * s1, n * (n - 1))
    sd = np.sqrt(var)
    return mean, sd, safe_divide(sd, np.where(np.isnan(mean), 0.0, mean))


def _percent_ci(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return Wilson 95% bounds in percent, NaN where n is 0."""
    ok = n > 0
    low, high = wilson_bounds(k, np.where(ok, n, 1))
    return np.where(ok, 100 * low, np.nan), np.where(ok, 100 * high, np.nan)


def item_batch(counts: np.ndarray, n_uts: np.ndarray, n_missing: np.ndarray,
               settings: Settings) -> ItemBatch:
    """Return the statistics of each row of ``counts`` (ratings at each scale point)."""
    scale = settings.scale_obj
    counts = np.asarray(counts, dtype=np.int64)
    cum = counts.cumsum(axis=1)
    n = cum[:, -1]
    den = n + (n_uts if settings.uts == "include" else 0)
    agree, disagree = scale.agree_band, scale.disagree_band
    n_agree = band_count(counts, scale, agree.low, agree.high)
    method = settings.percentile_method
    p25, p75 = (percentile_from_counts(cum, scale.low, q, method) for q in (25, 75))
    p30, p70 = (percentile_from_counts(cum, scale.low, q, method) for q in (30, 70))
    med = median_from_counts(cum, scale.low)
    mean, sd, cv = _spread(counts, n, scale)
    ci_low, ci_high = _percent_ci(n_agree, den)
    return ItemBatch(
        counts=counts, n_invited=n + n_uts + n_missing, n_responded=n + n_uts,
        n_missing=n_missing, n_uts=n_uts, n_valid=n, n_denominator=den, n_agree=n_agree,
        n_disagree=band_count(counts, scale, disagree.low, disagree.high),
        median=med, p25=p25, p75=p75, iqr=p75.minus(p25), p30=p30, p70=p70,
        mean=mean, sd=sd, cv=cv, ci_low=ci_low, ci_high=ci_high,
        rand=_rand(counts, med, p30, p70, scale),
    )


def _rand(counts: np.ndarray, med: RationalArray, p30: RationalArray, p70: RationalArray,
          scale: Scale) -> RandBatch | None:
    """Return the RAND/UCLA figures on a 1-9 scale, else None."""
    if (scale.low, scale.high) != (1, 9):
        return None
    thirds = np.stack([band_count(counts, scale, lo, lo + 2) for lo in (1, 4, 7)], axis=1)
    return rand_batch(med, p30, p70, thirds)
