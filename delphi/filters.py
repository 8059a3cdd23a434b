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


def init_app(app: Flask) -> None:
    app.jinja_env.filters["fmt"] = fmt
    app.jinja_env.filters["pct"] = pct
    app.jinja_env.filters["pval"] = pval
