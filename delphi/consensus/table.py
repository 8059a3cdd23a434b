"""The ratings of a study as one array (round x item x panellist), built from long records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

# Codes stored beside the ratings; ratings themselves are the scale points.
UTS_CODE = -1  # "unable to score"
MISSING_CODE = -2  # invited to the item, no answer
ABSENT_CODE = -3  # not invited to the item in that round (no record)
NO_GROUP = -1

Record = tuple[int, str, str, "str | None", "int | str | None"]


@dataclass(frozen=True)
class RatingsTable:
    """Ratings as ``values[round, item, panellist]`` with the codes above; groups per panellist.

    ``rounds`` are sorted, ``items`` and ``panellists`` keep their first
    appearance, ``groups`` are sorted and ``group_of[p]`` indexes them
    (NO_GROUP for a panellist without a group).
    """

    rounds: tuple[int, ...]
    items: tuple[str, ...]
    panellists: tuple[str, ...]
    groups: tuple[str, ...]
    group_of: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.rounds), len(self.items), len(self.panellists))
        if self.values.shape != shape:
            raise ValueError(f"values has shape {self.values.shape}, expected {shape}")
        if self.group_of.shape != (len(self.panellists),):
            raise ValueError("group_of needs one entry per panellist")
        if list(self.rounds) != sorted(set(self.rounds)):
            raise ValueError("rounds must be sorted and distinct")
        if self.group_of.size and not (
            NO_GROUP <= self.group_of.min() and self.group_of.max() < len(self.groups)
        ):
            raise ValueError("group_of indexes a group that does not exist")

    @classmethod
    def from_records(cls, records: Iterable[Record]) -> RatingsTable:
        """Build the table from ``(round, item, panellist, group, rating)`` records."""
        rows = records if isinstance(records, list) else list(records)
        if not rows:
            return cls((), (), (), (), np.zeros(0, np.int64), np.zeros((0, 0, 0), np.int16))
        if set(map(len, rows)) != {5}:
            raise ValueError("a record is (round, item, panellist, group, rating)")
        columns = [tuple(map(itemgetter(k), rows)) for k in range(5)]
        rounds, round_pos = _index(columns[0], "round", (int,), ordered=True)
        items, item_pos = _index(columns[1], "item", (str,))
        panellists, panellist_pos = _index(columns[2], "panellist", (str,))
        groups, group_pos = _index(columns[3], "group", (str, type(None)))
        shape = (len(rounds), len(items), len(panellists))
        flat = np.ravel_multi_index((round_pos, item_pos, panellist_pos), shape)
        _reject_repeats(flat, shape, rounds, items, panellists)
        values = np.full(shape, ABSENT_CODE, dtype=np.int16)
        values.reshape(-1)[flat] = _rating_codes(columns[4])
        names = sorted(g for g in groups if g is not None)
        renumber = np.array([NO_GROUP if g is None else names.index(g) for g in groups])
        return cls(
            rounds=tuple(rounds), items=tuple(items), panellists=tuple(panellists),
            groups=tuple(names), values=values,
            group_of=renumber[_group_of(panellist_pos, group_pos, panellists, groups)],
        )


def _index(column: tuple, name: str, types: tuple[type, ...],
           ordered: bool = False) -> tuple[list, np.ndarray]:
    """Return a column's distinct values (first appearance, or sorted) and each row's index."""
    distinct = list(dict.fromkeys(column))
    for value in distinct:
        if type(value) not in types:
            expected = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise ValueError(f"{name} {value!r} is not {expected}")
    if ordered:
        distinct.sort()
    lookup = {value: k for k, value in enumerate(distinct)}
    return distinct, np.fromiter(map(lookup.__getitem__, column), np.int64, len(column))


def _group_of(panellist_pos: np.ndarray, group_pos: np.ndarray, panellists: list[str],
              groups: list[str | None]) -> np.ndarray:
    """Return each panellist's group index, raising ValueError when a panellist has two."""
    first = np.empty(len(panellists), dtype=np.int64)
    first[panellist_pos[::-1]] = group_pos[::-1]  # the last write is the first record
    clash = np.flatnonzero(first[panellist_pos] != group_pos)
    if clash.size:
        row = int(clash[0])
        p = int(panellist_pos[row])
        raise ValueError(f"panellist {panellists[p]!r} is in group {groups[first[p]]!r} "
                         f"and {groups[group_pos[row]]!r}")
    return first


_SPECIAL: dict[object, int] = {None: MISSING_CODE, "UTS": UTS_CODE}
_BAD = -99


def _rating_codes(ratings: tuple) -> np.ndarray:
    """Return the stored code of every rating, raising ValueError on anything else."""
    codes = [r if type(r) is int else _SPECIAL.get(r, _BAD) if type(r) in (str, type(None))
             else _BAD for r in ratings]
    array = np.array(codes, dtype=np.int64)
    bad = (array < UTS_CODE) & (array != MISSING_CODE) | (array >= 2**15)
    if bad.any():
        raise ValueError(f"rating {ratings[int(np.argmax(bad))]!r} is not a whole number "
                         "from 0, 'UTS' or None")
    return array.astype(np.int16)


def _reject_repeats(flat: np.ndarray, shape: tuple[int, int, int], rounds: list[int],
                    items: list[str], panellists: list[str]) -> None:
    """Raise ValueError naming the first (round, item, panellist) that occurs twice."""
    ordered = np.sort(flat)
    repeats = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeats.size:
        r, i, p = np.unravel_index(int(repeats[0]), shape)
        raise ValueError(f"round {int(rounds[r])}, item {items[i]!r}, panellist "
                         f"{panellists[p]!r} occurs twice")
