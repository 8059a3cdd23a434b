"""Jinja filters for numbers as people read them."""

from __future__ import annotations

from flask import Flask


def fmt(value: float | int | None, places: int = 1) -> str:
    """A statistic without needless decimals: 7.0 -> '7', 6.25 -> '6.3'; None -> '–'."""
    if value is None:
        return "–"
    rounded = round(float(value), places)
    return f"{rounded:g}" if rounded == int(rounded) else f"{rounded:.{places}f}"


def pct(value: float | None) -> str:
    """A percentage rounded to a whole number: 72.22 -> '72%'."""
    if value is None:
        return "–"
    return f"{round(float(value))}%"


def pval(value: float | None) -> str:
    """A p-value as journals print it: 0.0429, or < 0.001."""
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def reference_links(references: object) -> list[dict[str, object]]:
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


def init_app(app: Flask) -> None:
    app.jinja_env.filters["fmt"] = fmt
    app.jinja_env.filters["pct"] = pct
    app.jinja_env.filters["pval"] = pval
    app.jinja_env.filters["reference_links"] = reference_links
