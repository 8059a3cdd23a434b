"""Percentiles in exact arithmetic: the nine Hyndman-Fan types, one value or many items at once.

Type 1-9 follow Hyndman & Fan (1996), with numpy's names for them.  With
sorted values x_1..x_n and p = q/100, the continuous types 4-9 take
h = n*p + m(p), j = floor(h), g = h - j and return x_j + g*(x_(j+1) - x_j),
indexes clipped to 1..n.  Every step is done on integers or Fractions, so
``percentile([1,1,1,1,1,1,6,7,7], 70)`` is exactly 4.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from math import floor, lcm

import numpy as np

HALF = Fraction(1, 2)


@dataclass(frozen=True)
class Method:
    """A Hyndman-Fan quantile type; ``offset`` is m(p) for the continuous types 4-9."""

    key: str
    hf_type: int
    offset: Callable[[Fraction], Fraction] | None = None


METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method("inverted_cdf", 1),
        Method("averaged_inverted_cdf", 2),
        Method("closest_observation", 3),
        Method("interpolated_inverted_cdf", 4, lambda p: Fraction(0)),
        Method("hazen", 5, lambda p: HALF),
        Method("weibull", 6, lambda p: p),
        Method("linear", 7, lambda p: 1 - p),
        Method("median_unbiased", 8, lambda p: (p + 1) / 3),
        Method("normal_unbiased", 9, lambda p: p / 4 + Fraction(3, 8)),
    )
}


def get_method(key: str) -> Method:
    """Return the registered method ``key`` or raise ValueError naming the known ones."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(
            f"unknown percentile method {key!r}; known methods: {', '.join(METHODS)}"
        ) from None


def _probability(q: int | Fraction | str) -> Fraction:
    """Return ``q`` percent as an exact probability, checking 0 <= q <= 100."""
    p = Fraction(q) / 100
    if not 0 <= p <= 1:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    return p


def percentile(values: Iterable[int | Fraction], q: int | Fraction | str,
               method: str = "linear") -> Fraction:
    """Return the exact ``q``-th percentile of ``values`` by the named Hyndman-Fan method."""
    xs = sorted(Fraction(v) for v in values)
    if not xs:
        raise ValueError("percentile of no values")
    n, p, kind = len(xs), _probability(q), get_method(method)

    def x(k: int) -> Fraction:
        return xs[min(max(k, 1), n) - 1]

    if kind.hf_type in (1, 2):
        j, g = floor(n * p), n * p - floor(n * p)
        if g:
            return x(j + 1)
        return x(j) if kind.hf_type == 1 else (x(j) + x(j + 1)) / 2
    if kind.hf_type == 3:
        h = n * p - HALF
        j = floor(h)
        return x(j) if h == j and j % 2 == 0 else x(j + 1)
    assert kind.offset is not None
    h = n * p + kind.offset(p)
    j = floor(h)
    return x(j) + (h - j) * (x(j + 1) - x(j))


def median(values: Iterable[int | Fraction]) -> Fraction:
    """Return the exact median (the mean of the two middle values when n is even)."""
    return percentile(values, 50, "averaged_inverted_cdf")


@dataclass(frozen=True)
class RationalArray:
    """Exact rationals ``num / den`` for many items, with one shared positive denominator."""

    num: np.ndarray
    den: int

    def to_float(self) -> np.ndarray:
        """Return the values as float64 (correctly rounded)."""
        return self.num / self.den

    def minus(self, other: RationalArray) -> RationalArray:
        """Return ``self - other`` exactly."""
        den = lcm(self.den, other.den)
        return RationalArray(self.num * (den // self.den) - other.num * (den // other.den), den)

    def ge(self, bound: int | Fraction) -> np.ndarray:
        """Return ``self >= bound`` elementwise, exactly."""
        b = Fraction(bound)
        return self.num * b.denominator >= b.numerator * self.den

    def le(self, bound: int | Fraction) -> np.ndarray:
        """Return ``self <= bound`` elementwise, exactly."""
        b = Fraction(bound)
        return self.num * b.denominator <= b.numerator * self.den

    def take_rows(self, rows: np.ndarray) -> RationalArray:
        """Return the selected rows."""
        return RationalArray(self.num[rows], self.den)

    def at(self, index: int) -> Fraction:
        """Return one element as a Fraction."""
        return Fraction(int(self.num[index]), self.den)


def _order_statistic(cum: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Return the 0-based scale index of the k-th smallest value (k clipped to 1..n) per row."""
    n = cum[:, -1]
    k = np.clip(k, 1, np.maximum(n, 1))
    return (cum < k[:, None]).sum(axis=1)


def percentile_from_counts(cum: np.ndarray, low: int, q: int | Fraction,
                           method: str = "linear") -> RationalArray:
    """Return each row's exact percentile from cumulative counts at the points low, low+1, ...."""
    n = cum[:, -1].astype(np.int64)
    p, kind = _probability(q), get_method(method)
    if kind.hf_type in (1, 2):
        j, g = np.divmod(n * p.numerator, p.denominator)
        below, above = low + _order_statistic(cum, j), low + _order_statistic(cum, j + 1)
        if kind.hf_type == 1:
            return RationalArray(np.where(g == 0, below, above), 1)
        return RationalArray(np.where(g == 0, below + above, 2 * above), 2)
    if kind.hf_type == 3:
        j, g = np.divmod(2 * n * p.numerator - p.denominator, 2 * p.denominator)
        k = np.where((g == 0) & (j % 2 == 0), j, j + 1)
        return RationalArray(low + _order_statistic(cum, k), 1)
    assert kind.offset is not None
    m = kind.offset(p)
    den = lcm(p.denominator, m.denominator)
    scaled = n * (p.numerator * (den // p.denominator)) + m.numerator * (den // m.denominator)
    j, g = np.divmod(scaled, den)
    below, above = low + _order_statistic(cum, j), low + _order_statistic(cum, j + 1)
    return RationalArray(below * den + g * (above - below), den)


def median_from_counts(cum: np.ndarray, low: int) -> RationalArray:
    """Return each row's exact median from cumulative counts, as halves."""
    n = cum[:, -1].astype(np.int64)
    lower = _order_statistic(cum, (n + 1) // 2)
    upper = _order_statistic(cum, n // 2 + 1)
    return RationalArray(2 * low + lower + upper, 2)
