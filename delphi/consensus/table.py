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
        rounds, items, panellists, groups, ratings = (
            tuple(map(itemgetter(k), rows)) for k in range(5)
        )
        _check_types(rounds, items, panellists, groups)
        item_index = {item: k for k, item in enumerate(dict.fromkeys(items))}
        panellist_index = {p: k for k, p in enumerate(dict.fromkeys(panellists))}
        group_names = _groups_of(panellists, groups, panellist_index)
        round_values, round_pos = np.unique(np.array(rounds, dtype=np.int64), return_inverse=True)
        shape = (len(round_values), len(item_index), len(panellist_index))
        flat = np.ravel_multi_index((round_pos, _positions(items, item_index),
                                     _positions(panellists, panellist_index)), shape)
        _reject_repeats(flat, shape, round_values, tuple(item_index), tuple(panellist_index))
        values = np.full(shape, ABSENT_CODE, dtype=np.int16)
        values.reshape(-1)[flat] = _rating_codes(ratings)
        names = tuple(sorted({g for g in group_names if g is not None}))
        index = {g: k for k, g in enumerate(names)}
        return cls(
            rounds=tuple(int(r) for r in round_values), items=tuple(item_index),
            panellists=tuple(panellist_index), groups=names,
            group_of=np.array([NO_GROUP if g is None else index[g] for g in group_names],
                              dtype=np.int64),
            values=values,
        )


def _positions(names: tuple[str, ...], index: dict[str, int]) -> np.ndarray:
    """Return the index of every name."""
    return np.fromiter(map(index.__getitem__, names), dtype=np.int64, count=len(names))


def _check_types(rounds: tuple, items: tuple, panellists: tuple, groups: tuple) -> None:
    """Raise ValueError unless rounds are ints, names strings and groups strings or None."""
    for name, column, types in (("round", rounds, (int,)), ("item", items, (str,)),
                                ("panellist", panellists, (str,)),
                                ("group", groups, (str, type(None)))):
        for value in set(column):
            if type(value) not in types:
                expected = " or ".join("None" if t is type(None) else t.__name__ for t in types)
                raise ValueError(f"{name} {value!r} is not {expected}")


def _groups_of(panellists: tuple, groups: tuple, index: dict[str, int]) -> list[str | None]:
    """Return each panellist's group, raising ValueError when a panellist has two."""
    pairs = set(zip(panellists, groups, strict=True))
    out: dict[str, str | None] = {}
    for panellist, group in sorted(pairs, key=lambda pg: (pg[0], pg[1] or "")):
        if panellist in out:
            raise ValueError(
                f"panellist {panellist!r} is in group {out[panellist]!r} and {group!r}"
            )
        out[panellist] = group
    return [out[p] for p in index]


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


def _reject_repeats(flat: np.ndarray, shape: tuple[int, int, int], rounds: np.ndarray,
                    items: tuple[str, ...], panellists: tuple[str, ...]) -> None:
    """Raise ValueError naming the first (round, item, panellist) that occurs twice."""
    ordered = np.sort(flat)
    repeats = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeats.size:
        r, i, p = np.unravel_index(int(repeats[0]), shape)
        raise ValueError(f"round {int(rounds[r])}, item {items[i]!r}, panellist "
                         f"{panellists[p]!r} occurs twice")
