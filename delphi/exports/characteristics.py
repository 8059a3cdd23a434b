"""Panel characteristics (ACCORD R3): the extra columns of the panel file, in aggregate only.

Every column other than name, email and group is kept as an attribute of the panellist
and reported here as counts per value (country, role) or, when every value given is a
number (years of experience), as median and interquartile range.  No value is ever
shown beside a person: a value held by fewer than the study's minimum group size is
counted under "other values" (with one more where that count would give a small one
away; ``consensus.disclosure.disclose_counts``), and numbers are summarised only from
that many answers on.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..consensus.disclosure import disclose_counts
from ..extensions import db
from ..models import Panellist, Response, ResponseState, Study

NOT_GIVEN = "not given"


@dataclass(frozen=True)
class Characteristic:
    """One attribute over a set of panellists, as it may be published."""

    name: str
    n: int  # panellists described
    counts: list[tuple[str, int]] = field(default_factory=list)  # shown values, most first
    other: int = 0  # panellists whose value is not shown on its own
    other_values: int = 0  # how many values that is
    median: float | None = None
    p25: float | None = None
    p75: float | None = None
    n_numbers: int = 0

    @property
    def is_numeric(self) -> bool:
        return self.median is not None


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ".")) if text else None
    except ValueError:
        return None
    return value if value is not None and value == value and abs(value) != float("inf") \
        else None


def characteristic(name: str, values: list[str], minimum: int) -> Characteristic:
    """Summarise one attribute's values (one per panellist; "" when not given)."""
    given = [v for v in values if v]
    numbers = [_number(v) for v in given]
    if given and all(x is not None for x in numbers):
        found = sorted(x for x in numbers if x is not None)
        if len(found) < minimum:
            return Characteristic(name, len(values), other=len(values), n_numbers=len(found))
        p25, median, p75 = statistics.quantiles(found, n=4, method="inclusive") \
            if len(found) > 1 else (found[0],) * 3
        return Characteristic(name, len(values), median=median, p25=p25, p75=p75,
                              n_numbers=len(found),
                              counts=[(NOT_GIVEN, len(values) - len(found))]
                              if len(values) - len(found) >= minimum else [],
                              other=len(values) - len(found)
                              if len(values) - len(found) < minimum else 0)
    tally: dict[str, int] = {}
    for value in values:
        key = value.strip() or NOT_GIVEN
        tally[key] = tally.get(key, 0) + 1
    ordered = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
    shown = disclose_counts(ordered, minimum)
    hidden = [(k, n) for k, n in ordered if not shown.is_shown(k)]
    return Characteristic(name, len(values), [(k, n) for k, n in ordered if shown.is_shown(k)],
                          sum(n for _, n in hidden), len(hidden))


def characteristics(panellists: list[Panellist], minimum: int) -> list[Characteristic]:
    """Every attribute of the panellists' files, in the order first met."""
    names: dict[str, None] = {}
    for p in panellists:
        names.update(dict.fromkeys(p.attributes or {}))
    return [characteristic(name, [str((p.attributes or {}).get(name, "") or "").strip()
                                  for p in panellists], minimum) for name in names]


def current_panel(study: Study) -> list[Panellist]:
    """The panel as it stands: not withdrawn (nor declined) and not erased."""
    return [p for p in study.panellists if p.withdrawn_at is None and not p.is_erased]


def participants(study: Study) -> list[Panellist]:
    """The panellists who submitted answers in at least one round (what the report
    describes; a panellist who declined consent never did)."""
    ids = set(db.session.scalars(
        sa.select(Response.panellist_id).join(Panellist)
        .where(Panellist.study_id == study.id, Response.state == ResponseState.SUBMITTED)))
    return [p for p in study.panellists if p.id in ids and not p.is_erased]
