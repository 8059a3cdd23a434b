"""Response and attrition per round and group, and the attrition-bias comparison.

A panellist is invited to a round when the round has a record for them,
responded when they gave at least one answer (a rating or UTS), and completed
when they answered every item they were invited to.  Attrition bias compares
the first-round ratings of panellists who responded in the first and the last
round ("stayed") with those who responded in the first but not the last
("dropped out").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .batch import safe_divide
from .percentiles import median_from_counts
from .schema import ResponseRow


@dataclass(frozen=True)
class Codes:
    """Ratings as scale indexes 0..K-1, then UTS = K, MISSING = K+1, ABSENT = K+2."""

    values: np.ndarray  # round x item x panellist
    levels: int
    slot_of: np.ndarray  # 0 for no group, 1 + group index otherwise
    n_slots: int

    @property
    def uts(self) -> int:
        return self.levels

    @property
    def missing(self) -> int:
        return self.levels + 1

    @property
    def absent(self) -> int:
        return self.levels + 2


def panellist_status(codes: Codes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (invited, responded, completed) as round x panellist booleans."""
    v = codes.values
    invited = (v != codes.absent).any(axis=1)
    responded = (v <= codes.uts).any(axis=1)
    completed = invited & ~(v == codes.missing).any(axis=1)
    return np.asarray(invited), np.asarray(responded), np.asarray(completed)


def count_by_group(flags: np.ndarray, codes: Codes) -> np.ndarray:
    """Return round x (pooled, group 1..G) counts of the true flags."""
    per_slot = np.zeros((len(flags), codes.n_slots), dtype=np.int64)
    for r, row in enumerate(flags.astype(float)):
        per_slot[r] = np.bincount(codes.slot_of, weights=row, minlength=codes.n_slots)
    return np.concatenate([per_slot.sum(axis=1, keepdims=True), per_slot[:, 1:]], axis=1)


def response_rows(codes: Codes, rounds: tuple[int, ...],
                  groups: tuple[str, ...]) -> list[ResponseRow]:
    """Return one response object per round and group (group None = whole panel)."""
    invited, responded, completed = (count_by_group(f, codes) for f in panellist_status(codes))
    first = responded[0] if len(rounds) else np.zeros(0)
    rows: list[ResponseRow] = []
    for r, round_no in enumerate(rounds):
        for s, group in enumerate((None, *groups)):
            if s and not invited[r, s]:
                continue
            rows.append(ResponseRow(
                round=round_no, group=group, invited=int(invited[r, s]),
                responded=int(responded[r, s]), completed=int(completed[r, s]),
                response_rate=_ratio(responded[r, s], invited[r, s]),
                completion_rate=_ratio(completed[r, s], invited[r, s]),
                retention=_ratio(responded[r, s], first[s]),
            ))
    return rows


def _ratio(num: int, den: int) -> float | None:
    """Return num/den, or None when den is 0."""
    return float(num / den) if den else None


@dataclass(frozen=True)
class AttritionBatch:
    """Stayed vs dropped-out first-round figures per item; NaN where undefined."""

    n_stayed: np.ndarray
    n_dropped: np.ndarray
    median_stayed: np.ndarray
    median_dropped: np.ndarray
    pct_agree_stayed: np.ndarray
    pct_agree_dropped: np.ndarray
    u: np.ndarray
    p: np.ndarray


def attrition_batch(codes: Codes, agree: np.ndarray, low: int, uts_counts: bool,
                    slot: int | None = None) -> AttritionBatch:
    """Return the attrition-bias comparison of the first and last rounds, per item.

    ``slot`` restricts it to one stakeholder group (1 + group index); None is the panel.
    """
    _, responded, _ = panellist_status(codes)
    status = np.where(responded[-1], 0, np.where(responded[0], 1, 2))  # stayed, dropped, neither
    if slot is not None:
        status = np.where(codes.slot_of == slot, status, 2)
    first = codes.values[0]
    n_items, bins = first.shape[0], codes.levels + 1  # scale points and UTS
    kept = first <= codes.uts
    index = (status[None, :] * n_items + np.arange(n_items)[:, None]) * bins + first
    counts = np.bincount(index[kept], minlength=3 * n_items * bins).reshape(3, n_items, bins)
    stayed, dropped = counts[0, :, : codes.levels], counts[1, :, : codes.levels]
    return AttritionBatch(
        n_stayed=stayed.sum(axis=1), n_dropped=dropped.sum(axis=1),
        median_stayed=_median(stayed, low), median_dropped=_median(dropped, low),
        pct_agree_stayed=_pct_agree(counts[0], agree, uts_counts),
        pct_agree_dropped=_pct_agree(counts[1], agree, uts_counts),
        **dict(zip(("u", "p"), mann_whitney_from_counts(dropped, stayed), strict=True)),
    )


def _median(counts: np.ndarray, low: int) -> np.ndarray:
    """Return the median per row as floats, NaN for rows without ratings."""
    med = median_from_counts(counts.cumsum(axis=1), low).to_float()
    return np.where(counts.sum(axis=1) > 0, med, np.nan)


def _pct_agree(counts: np.ndarray, agree: np.ndarray, uts_counts: bool) -> np.ndarray:
    """Return % in the agree band per row; the last column holds UTS answers."""
    ratings = counts[:, :-1]
    den = ratings.sum(axis=1) + (counts[:, -1] if uts_counts else 0)
    return safe_divide(100 * ratings[:, agree].sum(axis=1), den)


def mann_whitney_from_counts(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return U of the first sample and its two-sided asymptotic p (tie, continuity corrected)."""
    first, second = first.astype(float), second.astype(float)
    both = first + second
    midrank = np.cumsum(both, axis=1) - (both - 1) / 2
    n1, n2 = first.sum(axis=1), second.sum(axis=1)
    n = n1 + n2
    u = (first * midrank).sum(axis=1) - n1 * (n1 + 1) / 2
    ties = (both**3 - both).sum(axis=1)
    var = n1 * n2 / 12 * ((n + 1) - safe_divide(ties, n * (n - 1)))
    z = safe_divide(np.abs(u - n1 * n2 / 2) - 0.5, np.sqrt(np.where(var > 0, var, 0)))
    p = np.where(np.isnan(z), np.nan, np.minimum(1.0, 2 * stats.norm.sf(np.nan_to_num(z))))
    # All values tied (variance 0) in two non-empty samples: p = 1, as scipy's
    # mannwhitneyu(method="asymptotic") gives with its continuity correction.
    both_present = (n1 > 0) & (n2 > 0)
    p = np.where(both_present & ~(var > 0), 1.0, p)
    return np.where(both_present, u, np.nan), p
