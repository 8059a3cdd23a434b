"""RAND/UCLA appropriateness (Fitch et al. 2001, ch. 8): IPR, IPRAS, DI and the class, exactly.

On the 1-9 scale: IPR = P70 - P30, IPRCP = (P30 + P70)/2, AI = |5 - IPRCP|,
IPRAS = 2.35 + 1.5*AI; disagreement when IPR > IPRAS (strict).  The class is
"uncertain" on disagreement, else "appropriate" for a median >= 7,
"inappropriate" for a median <= 3 and "uncertain" in between (so 3.5 and 6.5
are uncertain).  The classic count rule for panels of 8-16 is reported beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from math import lcm

import numpy as np

from .percentiles import RationalArray, median, percentile

IPRAS_BASE = Fraction(47, 20)  # 2.35; one paper misprints it as 2.5
IPRAS_SLOPE = Fraction(3, 2)
CENTRE = 5
APPROPRIATE_MIN = 7
INAPPROPRIATE_MAX = 3

APPROPRIATE, UNCERTAIN, INAPPROPRIATE = 1, 0, -1
CLASS_LABELS = {APPROPRIATE: "appropriate", UNCERTAIN: "uncertain", INAPPROPRIATE: "inappropriate"}
AGREEMENT, INDETERMINATE, DISAGREEMENT, NOT_APPLICABLE = 1, 0, -1, 9
COUNT_RULE_LABELS = {AGREEMENT: "agreement", INDETERMINATE: "indeterminate",
                     DISAGREEMENT: "disagreement", NOT_APPLICABLE: None}
# Panel size range -> (most panellists allowed outside the median's third, fewest in each extreme).
COUNT_RULE_LIMITS = ((8, 10, 2, 3), (11, 13, 3, 4), (14, 16, 4, 5))


@dataclass(frozen=True)
class RandResult:
    """The RAND/UCLA figures of one item; rationals are exact."""

    median: Fraction
    p30: Fraction
    p70: Fraction
    ipr: Fraction
    iprcp: Fraction
    ai: Fraction
    ipras: Fraction
    di: Fraction
    disagreement: bool
    rand_class: str
    count_rule: str | None


def _median_third(med: Fraction | np.ndarray) -> int | np.ndarray:
    """Return -1, 0 or 1 for a median in 1-3, between, or 7-9 (works on arrays too)."""
    return (med >= APPROPRIATE_MIN) * 1 - (med <= INAPPROPRIATE_MAX) * 1


def count_rule(n_low: int, n_mid: int, n_high: int, med: Fraction) -> str | None:
    """Return the classic 8-16 panel rule: agreement, disagreement, indeterminate, or None."""
    n = n_low + n_mid + n_high
    for first, last, most_outside, fewest_each in COUNT_RULE_LIMITS:
        if first <= n <= last:
            inside = (n_low, n_mid, n_high)[_median_third(med) + 1]
            if n_low >= fewest_each and n_high >= fewest_each:
                return "disagreement"
            return "agreement" if n - inside <= most_outside else "indeterminate"
    return None


def rand_from_percentiles(med: Fraction, p30: Fraction, p70: Fraction,
                          band_counts: tuple[int, int, int]) -> RandResult:
    """Return the RAND/UCLA result from the median, P30, P70 and the 1-3/4-6/7-9 counts."""
    ipr = p70 - p30
    iprcp = (p30 + p70) / 2
    ai = abs(CENTRE - iprcp)
    ipras = IPRAS_BASE + IPRAS_SLOPE * ai
    disagreement = ipr > ipras
    code = UNCERTAIN if disagreement else _median_third(med)
    return RandResult(
        median=med, p30=p30, p70=p70, ipr=ipr, iprcp=iprcp, ai=ai, ipras=ipras,
        di=ipr / ipras, disagreement=disagreement, rand_class=CLASS_LABELS[int(code)],
        count_rule=count_rule(*band_counts, med),
    )


def rand_ucla(values: Iterable[int], method: str = "linear") -> RandResult:
    """Return the RAND/UCLA figures of one item's 1-9 ratings (UTS and missing left out)."""
    xs = [int(v) for v in values]
    if not xs:
        raise ValueError("RAND/UCLA needs at least one rating")
    bands = (sum(v <= 3 for v in xs), sum(4 <= v <= 6 for v in xs), sum(v >= 7 for v in xs))
    return rand_from_percentiles(
        median(xs), percentile(xs, 30, method), percentile(xs, 70, method), bands
    )


@dataclass(frozen=True)
class RandBatch:
    """RAND/UCLA figures for many items: floats for display, codes decided on integers."""

    ipr: np.ndarray
    iprcp: np.ndarray
    ai: np.ndarray
    ipras: np.ndarray
    di: np.ndarray
    disagreement: np.ndarray
    rand_class: np.ndarray
    count_rule: np.ndarray


def rand_batch(med: RationalArray, p30: RationalArray, p70: RationalArray,
               band_counts: np.ndarray) -> RandBatch:
    """Return RAND/UCLA figures per row; ``band_counts`` holds the 1-3, 4-6, 7-9 counts."""
    d = lcm(p30.den, p70.den)
    a, b = p30.num * (d // p30.den), p70.num * (d // p70.den)
    off_centre = np.abs(2 * CENTRE * d - a - b)  # = 2d * AI
    # IPRAS = (94d + 30*off_centre) / 40d, from 2.35 = 94/40 and 1.5 * AI = 30*off_centre/40d.
    ipras_num = int(40 * IPRAS_BASE) * d + int(20 * IPRAS_SLOPE) * off_centre
    disagreement = 40 * (b - a) > ipras_num
    third = (med.ge(APPROPRIATE_MIN) * 1) - (med.le(INAPPROPRIATE_MAX) * 1)
    return RandBatch(
        ipr=(b - a) / d,
        iprcp=(a + b) / (2 * d),
        ai=off_centre / (2 * d),
        ipras=ipras_num / (40 * d),
        di=40 * (b - a) / ipras_num,
        disagreement=disagreement,
        rand_class=np.where(disagreement, UNCERTAIN, third),
        count_rule=_count_rule_batch(band_counts, third),
    )


def _count_rule_batch(band_counts: np.ndarray, third: np.ndarray) -> np.ndarray:
    """Return the classic count-rule code per row (NOT_APPLICABLE outside panels of 8-16)."""
    n = band_counts.sum(axis=1)
    inside = np.take_along_axis(band_counts, (third + 1)[:, None], axis=1)[:, 0]
    out = np.full(n.shape, NOT_APPLICABLE)
    for first, last, most_outside, fewest_each in COUNT_RULE_LIMITS:
        size_fits = (n >= first) & (n <= last)
        split = (band_counts[:, 0] >= fewest_each) & (band_counts[:, 2] >= fewest_each)
        code = np.where(split, DISAGREEMENT,
                        np.where(n - inside <= most_outside, AGREEMENT, INDETERMINATE))
        out = np.where(size_fits, code, out)
    return out
