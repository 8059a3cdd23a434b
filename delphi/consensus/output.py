"""Turning aligned numpy columns into JSON-ready rows: NaN becomes null, numpy types plain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .percentiles import RationalArray


def floats(values: np.ndarray, defined: np.ndarray | None = None) -> list[float | None]:
    """Return plain floats, None where NaN or where ``defined`` is false."""
    values = np.asarray(values, dtype=float)
    ok = ~np.isnan(values) if defined is None else (~np.isnan(values) & defined)
    return [v if k else None for v, k in zip(values.tolist(), ok.tolist(), strict=True)]


def rationals(values: RationalArray, defined: np.ndarray) -> list[float | None]:
    """Return exact rationals as floats, None where undefined."""
    return floats(values.to_float(), defined)


def ints(values: np.ndarray, defined: np.ndarray | None = None) -> list[int | None]:
    """Return plain ints, None where ``defined`` is false."""
    out = np.asarray(values).astype(np.int64).tolist()
    if defined is None:
        return out
    return [v if k else None for v, k in zip(out, defined.tolist(), strict=True)]


def bools(values: np.ndarray, defined: np.ndarray | None = None) -> list[bool | None]:
    """Return plain bools, None where ``defined`` is false."""
    out = np.asarray(values, dtype=bool).tolist()
    if defined is None:
        return out
    return [v if k else None for v, k in zip(out, defined.tolist(), strict=True)]


def labels(codes: np.ndarray | None, names: Mapping[int, str | None], n: int,
           defined: np.ndarray | None = None) -> list[str | None]:
    """Return the label of each code (None for no codes or where undefined)."""
    if codes is None:
        return [None] * n
    out = [names[c] for c in np.asarray(codes).tolist()]
    if defined is None:
        return out
    return [v if k else None for v, k in zip(out, defined.tolist(), strict=True)]


def rows(columns: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Return one dict per position from equally long columns, in key order."""
    keys = list(columns)
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]
