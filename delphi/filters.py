"""Jinja filters for numbers as people read them."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from math import isfinite

from flask import Flask


def _half_up(value: float | int, places: int) -> Decimal:
    """Round the number as written (its shortest decimal form) half up: 6.25 -> 6.3, 72.5 -> 73.

    Python's ``round`` rounds half to even on the binary float, so ``round(6.25, 1)``
    is 6.2 and ``round(72.5)`` is 72; a journal reader expects 6.3 and 73.
    """
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def fmt(value: float | int | None, places: int = 1) -> str:
    """A statistic without needless decimals: 7.0 -> '7', 6.25 -> '6.3'; None -> '–'."""
    if value is None or not isfinite(value):
        return "–"
    rounded = _half_up(value, places)
    if rounded == rounded.to_integral_value():
        return str(int(rounded)) if rounded else "0"
    return f"{rounded:f}"


def pct(value: float | None) -> str:
    """A percentage rounded half up to a whole number: 72.22 -> '72%', 72.5 -> '73%'."""
    if value is None or not isfinite(value):
        return "–"
    return f"{int(_half_up(value, 0))}%"


def pval(value: float | None) -> str:
    """A p-value as journals print it, three decimals rounded half up: 0.043, or < 0.001."""
    if value is None or not isfinite(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{_half_up(value, 3):f}"


def reference_links(references: Iterable[object] | None) -> list[dict[str, object]]:
    """A statement's or section's cited sources with links to their records: a DOI to
    doi.org, a PubMed id to PubMed (both when both are given)."""
    out = []
    for ref in references or ():
        if not isinstance(ref, dict):
            continue
        links = []
        if ref.get("doi"):
            links.append((f"doi:{ref['doi']}", f"https://doi.org/{ref['doi']}"))
        if ref.get("pmid"):
            links.append((f"PMID {ref['pmid']}",
                          f"https://pubmed.ncbi.nlm.nih.gov/{ref['pmid']}/"))
        out.append({"text": ref.get("text", ""), "links": links})
    return out


def in_zone(when: object, study: object, fmt: str = "%d %B %Y at %H:%M") -> str:
    """A stored (UTC) time as shown in the study's time zone, with the zone's offset."""
    from .timezones import shown

    return shown(when, getattr(study, "time_zone", "UTC") or "UTC", fmt)  # type: ignore[arg-type]


def init_app(app: Flask) -> None:
    app.jinja_env.filters["in_zone"] = in_zone
    app.jinja_env.filters["fmt"] = fmt
    app.jinja_env.filters["pct"] = pct
    app.jinja_env.filters["pval"] = pval
    app.jinja_env.filters["reference_links"] = reference_links
