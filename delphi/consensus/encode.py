"""From a RatingsTable to scale codes and per-cell counts, in a few numpy passes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .response import Codes
from .scales import Scale
from .table import ABSENT_CODE, MISSING_CODE, UTS_CODE, RatingsTable


def encode(table: RatingsTable, scale: Scale) -> Codes:
    """Return the table's ratings as scale indexes, raising ValueError on an off-scale rating."""
    k = scale.high - scale.low + 1
    values = table.values
    top = max(int(values.max()) if values.size else 0, scale.high)
    lut = np.full(top + 4, -1, dtype=np.int8)
    lut[scale.low + 3: scale.high + 4] = np.arange(k)
    for code, index in ((UTS_CODE, k), (MISSING_CODE, k + 1), (ABSENT_CODE, k + 2)):
        lut[code + 3] = index
    codes = lut[values.astype(np.intp) + 3]
    bad = np.argwhere(codes < 0)
    if bad.size:
        r, i, p = bad[0]
        raise ValueError(
            f"rating {int(values[r, i, p])} is not on the {scale.range_label} scale (round "
            f"{table.rounds[r]}, item {table.items[i]!r}, panellist {table.panellists[p]!r})"
        )
    return Codes(values=codes, levels=k, slot_of=table.group_of + 1,
                 n_slots=len(table.groups) + 1)


@dataclass(frozen=True)
class CellCounts:
    """Counts per round x (pooled, group 1..G) x item x code (points, UTS, missing, absent)."""

    counts: np.ndarray
    levels: int

    @property
    def ratings(self) -> np.ndarray:
        return self.counts[..., : self.levels]

    @property
    def uts(self) -> np.ndarray:
        return self.counts[..., self.levels]

    @property
    def missing(self) -> np.ndarray:
        return self.counts[..., self.levels + 1]

    @property
    def invited(self) -> np.ndarray:
        return self.counts[..., : self.levels + 2].sum(axis=-1)


def cell_counts(codes: Codes) -> CellCounts:
    """Return the counts of every code per round, group slot and item (one bincount)."""
    n_rounds, n_items, _ = codes.values.shape
    n_codes = codes.levels + 3
    item_term = (np.arange(n_items, dtype=np.int64) * n_codes)[None, :, None]
    slot_term = (codes.slot_of * (n_items * n_codes))[None, None, :]
    round_term = (np.arange(n_rounds, dtype=np.int64) * (codes.n_slots * n_items * n_codes))
    index = codes.values + (round_term[:, None, None] + item_term + slot_term)
    size = n_rounds * codes.n_slots * n_items * n_codes
    by_slot = np.bincount(index.ravel(), minlength=size)
    by_slot = by_slot.reshape(n_rounds, codes.n_slots, n_items, n_codes)
    pooled = by_slot.sum(axis=1, keepdims=True)
    return CellCounts(np.concatenate([pooled, by_slot[:, 1:]], axis=1), codes.levels)


def paired_tables(codes: Codes, first: int, second: int) -> np.ndarray:
    """Return (pooled, group 1..G) x item x K x K tables of paired ratings of two rounds."""
    k, x, y = codes.levels, codes.values[first], codes.values[second]
    n_items = x.shape[0]
    paired = (x < k) & (y < k)
    cell = np.where(paired, x.astype(np.int64) * k + y, k * k)
    index = (codes.slot_of[None, :] * n_items + np.arange(n_items)[:, None]) * (k * k + 1) + cell
    size = codes.n_slots * n_items * (k * k + 1)
    flat = np.bincount(index.ravel(), minlength=size).reshape(codes.n_slots, n_items, -1)
    by_slot = flat[:, :, : k * k].reshape(codes.n_slots, n_items, k, k)
    return np.concatenate([by_slot.sum(axis=0, keepdims=True), by_slot[1:]], axis=0)
