"""Which stakeholder groups may be shown beside the whole panel without exposing anyone.

Panellists (between rounds) and readers of the published exports see the whole
panel's numbers for a statement, and the numbers of each stakeholder group that
is large enough.  Hiding the small groups alone is not enough: the whole panel
minus the groups shown is exactly what the hidden groups answered together (the
*hidden remainder*).  With one hidden group of one patient, everyone could read
that patient's rating off the page.  This is complementary suppression, as in
statistical disclosure control of published tables.

The rule, for one statement in one round (``minimum`` = the study's
``min_group_size``):

1. A group with fewer than ``minimum`` valid ratings is hidden (*small*).
2. The hidden remainder is the whole panel minus the groups still shown, in
   every number that is shown: the count at each scale point and the "unable
   to score" count (the median, IQR and percentages all follow from these).
3. The remainder is safe when it is empty (no rating, no "unable to score") or
   holds at least ``minimum + 1`` valid ratings.  While it is not safe, one more
   group is hidden (*withheld*): the shown group with the fewest valid ratings
   (then fewest answers, then the first in the study's order).  When no group
   is left to hide, no group is shown: the whole panel alone discloses no group.

Why ``minimum + 1`` and not ``minimum``: a panellist knows their own answer.
A panellist inside the hidden remainder can subtract it, and must still be
left with at least ``minimum`` ratings, so that what they work out can never be
one small group's answers on their own.  Example with ``minimum`` 3: groups of
1 and 2 hidden, remainder 3; the one patient of the first group subtracts their
own rating and reads the second group's two ratings exactly.  With the rule
above a third group is withheld, and the patient is left with at least 3
ratings from at least two groups.  Anyone outside the remainder sees at least
``minimum + 1`` ratings in it.

Since every group shown has at least ``minimum`` valid ratings and every group
hidden for being small has fewer, a safe non-empty remainder is never one small
group's answers: it mixes at least two groups (a withheld group is hidden only
when something else is already in the remainder).

What this does not protect against (see docs/exports.md and docs/security.md):
several panellists pooling what they know (a coalition of ``minimum - 1``
members of a shown group learns the last member's rating, as without groups);
answers so uniform that a group's aggregate is everyone's answer ("all rated
9"); and the whole panel itself, which is always shown, however small.  The
protection therefore means little with ``minimum`` below 3.

Pure: plain numbers in, a frozen dataclass out; no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class Tally:
    """What is shown of a set of answers: valid ratings per scale point, and "unable to score".

    Two tallies are equal when they hold the same answers (missing points count as 0).
    """

    counts: tuple[int, ...]
    n_uts: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tally):
            return NotImplemented
        difference = self - other
        return difference.n_uts == 0 and not any(difference.counts)

    def __hash__(self) -> int:
        counts = list(self.counts)
        while counts and counts[-1] == 0:
            counts.pop()
        return hash((tuple(counts), self.n_uts))

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Tally:
        """The tally of a stored item object (``counts`` and ``n_uts``)."""
        return cls(tuple(int(c) for c in row["counts"]), int(row.get("n_uts") or 0))

    @property
    def n_valid(self) -> int:
        return sum(self.counts)

    @property
    def empty(self) -> bool:
        return self.n_valid == 0 and self.n_uts == 0

    @property
    def negative(self) -> bool:
        """True for a difference that no set of answers can have (inconsistent inputs)."""
        return self.n_uts < 0 or any(c < 0 for c in self.counts)

    def __add__(self, other: Tally) -> Tally:
        return Tally(_combine(self.counts, other.counts, 1), self.n_uts + other.n_uts)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(_combine(self.counts, other.counts, -1), self.n_uts - other.n_uts)


def _combine(a: tuple[int, ...], b: tuple[int, ...], sign: int) -> tuple[int, ...]:
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return tuple(x + sign * y for x, y in zip(a, b, strict=True))


def total(tallies: Iterable[Tally]) -> Tally:
    found = Tally(())
    for tally in tallies:
        found = found + tally
    return found


def remainder_is_safe(remainder: Tally, minimum: int) -> bool:
    """Empty, or at least ``minimum + 1`` valid ratings (see the module docstring)."""
    if remainder.negative:
        return False
    return remainder.empty or remainder.n_valid >= minimum + 1


@dataclass(frozen=True)
class Disclosure:
    """Which groups of one statement may be shown, and why the others are not."""

    minimum: int
    shown: tuple[str, ...]
    small: tuple[str, ...]  # fewer valid ratings than the minimum
    withheld: tuple[str, ...]  # large enough, hidden so that the small ones stay hidden

    @property
    def hidden(self) -> tuple[str, ...]:
        return self.small + self.withheld

    def is_shown(self, key: str) -> bool:
        return key in self.shown


def disclose(pooled: Tally, groups: Mapping[str, Tally] | Sequence[tuple[str, Tally]],
             minimum: int) -> Disclosure:
    """Decide which of ``groups`` (key -> tally, in the study's order) may be shown beside
    ``pooled`` (the whole panel, which is always shown) with ``minimum`` as the smallest
    group size; see the module docstring for the rule and its reasoning."""
    tallies = list(groups.items()) if isinstance(groups, Mapping) else list(groups)
    order = {key: index for index, (key, _) in enumerate(tallies)}
    by_key = dict(tallies)
    shown = [key for key, tally in tallies if tally.n_valid >= minimum]
    small = tuple(key for key, tally in tallies if tally.n_valid < minimum)
    withheld: list[str] = []
    while shown and not remainder_is_safe(pooled - total(by_key[k] for k in shown), minimum):
        smallest = min(shown, key=lambda k: (by_key[k].n_valid,
                                             by_key[k].n_valid + by_key[k].n_uts, order[k]))
        shown.remove(smallest)
        withheld.append(smallest)
    return Disclosure(minimum, tuple(shown), small,
                      tuple(sorted(withheld, key=order.__getitem__)))


def disclose_rows(pooled: Mapping[str, Any], groups: Sequence[tuple[str, Mapping[str, Any]]],
                  minimum: int) -> Disclosure:
    """``disclose`` for stored item objects (the pooled row and (key, row) per group)."""
    return disclose(Tally.of(pooled), [(key, Tally.of(row)) for key, row in groups], minimum)


def disclose_counts(counts: Sequence[tuple[str, int]], minimum: int) -> Disclosure:
    """Which categories of a panel characteristic (country, role...) may be shown with
    their number of panellists, the panel's total always being shown: each category is
    a group with a single count, under the same rule (a category of fewer than
    ``minimum`` panellists is hidden, and one more while the hidden remainder could be
    one small category's)."""
    pooled = Tally((sum(n for _, n in counts),))
    return disclose(pooled, [(key, Tally((n,))) for key, n in counts], minimum)
