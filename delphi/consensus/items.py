"""Per-item statistics of one round and one group, computed exactly from a list of answers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from math import sqrt

import numpy as np
from scipy.special import ndtri

from .percentiles import median, percentile
from .rand import RandResult, rand_from_percentiles
from .scales import Scale
from .settings import Settings

UTS = "UTS"
Answer = int | str | None


@dataclass(frozen=True)
class Interval:
    """A confidence interval."""

    low: float
    high: float


def wilson_bounds(k: np.ndarray, n: np.ndarray,
                  confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Return Wilson score bounds for proportions k/n (n > 0), as scipy's binomtest computes."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = ndtri(0.5 + 0.5 * confidence)
    p = k / n
    denom = 2 * (n + z**2)
    centre = (2 * n * p + z**2) / denom
    delta = z / denom * np.sqrt(4 * n * p * (1 - p) + z**2)
    return np.where(k == 0, 0.0, centre - delta), np.where(k == n, 1.0, centre + delta)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Return the Wilson score interval of the proportion k/n."""
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    low, high = wilson_bounds(np.array(k), np.array(n), confidence)
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class ItemStatistics:
    """Everything the engine reports about one item; None where undefined."""

    n_invited: int
    n_responded: int
    n_missing: int
    n_uts: int
    n_valid: int
    n_denominator: int
    counts: tuple[int, ...]
    n_agree: int
    n_disagree: int
    pct_agree: float | None
    pct_disagree: float | None
    pct_agree_ci: Interval | None
    median: Fraction | None
    p25: Fraction | None
    p75: Fraction | None
    iqr: Fraction | None
    p30: Fraction | None
    p70: Fraction | None
    mean: float | None
    sd: float | None
    cv: float | None
    rand: RandResult | None


def split_answers(values: Iterable[Answer], scale: Scale) -> tuple[list[int], int, int]:
    """Return (valid ratings, number of UTS, number of missing), rejecting anything else."""
    ratings: list[int] = []
    n_uts = n_missing = 0
    for value in values:
        if value is None:
            n_missing += 1
        elif value == UTS:
            n_uts += 1
        elif isinstance(value, int) and not isinstance(value, bool) and value in scale.points:
            ratings.append(value)
        else:
            raise ValueError(f"rating {value!r} is not on the {scale.range_label} scale")
    return ratings, n_uts, n_missing


def _spread(xs: list[int]) -> tuple[float | None, float | None, float | None]:
    """Return mean, SD (ddof=1) and CV = SD/mean, None where undefined."""
    n = len(xs)
    if n == 0:
        return None, None, None
    total = sum(xs)
    mean = Fraction(total, n)
    if n == 1:
        return float(mean), None, None
    sd = sqrt(Fraction(n * sum(x * x for x in xs) - total * total, n * (n - 1)))
    return float(mean), sd, (sd / float(mean) if mean else None)


def _pct(count: int, den: int) -> float | None:
    """Return 100*count/den, or None when den is 0."""
    return 100 * count / den if den else None


def item_statistics(values: Iterable[Answer], settings: Settings | None = None) -> ItemStatistics:
    """Return the statistics of one item from its answers (int rating, "UTS" or None)."""
    settings = settings or Settings()
    scale = settings.scale_obj
    answers = list(values)
    xs, n_uts, n_missing = split_answers(answers, scale)
    n = len(xs)
    den = n + (n_uts if settings.uts == "include" else 0)
    n_agree = sum(v in scale.agree_band for v in xs)
    n_disagree = sum(v in scale.disagree_band for v in xs)
    q = {k: percentile(xs, k, settings.percentile_method) for k in (25, 30, 70, 75)} if xs else {}
    mean, sd, cv = _spread(xs)
    return ItemStatistics(
        n_invited=len(answers), n_responded=n + n_uts, n_missing=n_missing, n_uts=n_uts,
        n_valid=n, n_denominator=den, counts=tuple(xs.count(v) for v in scale.points),
        n_agree=n_agree, n_disagree=n_disagree,
        pct_agree=_pct(n_agree, den), pct_disagree=_pct(n_disagree, den),
        pct_agree_ci=_percent_interval(n_agree, den),
        median=median(xs) if xs else None,
        p25=q.get(25), p75=q.get(75), iqr=q[75] - q[25] if q else None,
        p30=q.get(30), p70=q.get(70), mean=mean, sd=sd, cv=cv,
        rand=_rand(xs, q.get(30), q.get(70), scale),
    )


def _percent_interval(k: int, n: int) -> Interval | None:
    """Return the Wilson 95% interval of k/n in percent, or None when n is 0."""
    if n == 0:
        return None
    ci = wilson_interval(k, n)
    return Interval(100 * ci.low, 100 * ci.high)


def _rand(xs: list[int], p30: Fraction | None, p70: Fraction | None,
          scale: Scale) -> RandResult | None:
    """Return the RAND/UCLA result on a 1-9 scale with ratings, else None."""
    if not xs or p30 is None or p70 is None or (scale.low, scale.high) != (1, 9):
        return None
    bands = (sum(v <= 3 for v in xs), sum(4 <= v <= 6 for v in xs), sum(v >= 7 for v in xs))
    return rand_from_percentiles(median(xs), p30, p70, bands)
