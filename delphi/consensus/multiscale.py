"""Statements rated on different scales in one study: one analysis per scale, merged.

A study may rate some sections on another scale than its own (definitions on 1-9
agreement, outcome domains on GRADE 1-9 importance).  Every statistic of a statement
depends only on its own ratings and its own scale's points and bands, so the table
is split by scale, each part is analysed with the same settings on its scale, and
the per-statement sections (``items``, ``stability``, ``attrition_bias``) are merged
back in the table's order.  Sections about the whole panel are computed as follows:

- ``response`` (who answered at all) from the whole table, whatever the scale;
- ``panel`` (Kendall's W, Krippendorff's alpha, ...) pool ratings across statements,
  which only makes sense on one scale: it is computed over the statements on the
  study's scale (or, if none is, the first scale met), and ``panel_by_scale`` holds
  every scale's rows.

The output adds ``item_scales`` (item label -> scale key), ``scales`` (scale key ->
the scale block) and ``panel_by_scale`` to what ``analyze`` returns (the optional keys
of ``schema.AnalysisResult``); with a single scale it is exactly ``analyze``'s output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from .analyze import _scale_block, settings_block
from .analyze import analyze as analyze_one
from .response import Codes, response_rows
from .schema import SCHEMA_VERSION, AnalysisResult
from .settings import Settings
from .table import ABSENT_CODE, MISSING_CODE, UTS_CODE, RatingsTable

Row = TypeVar("Row", bound=Mapping[str, Any])


def analyze_by_scale(table: RatingsTable, settings: Settings, scale_of: Mapping[str, str],
                     analyze: Callable[..., AnalysisResult] = analyze_one) -> AnalysisResult:
    """Analyse ``table``, each item on ``scale_of[item]`` (default: the settings' scale);
    ``analyze`` analyses one part (the engine's entry point)."""
    keys = [scale_of.get(label, settings.scale) for label in table.items]
    distinct = list(dict.fromkeys(keys))
    if not distinct or distinct == [settings.scale]:
        return analyze(table, settings)
    parts: dict[str, AnalysisResult] = {}
    for key in distinct:
        columns = [i for i, k in enumerate(keys) if k == key]
        part = RatingsTable(
            rounds=table.rounds, items=tuple(table.items[i] for i in columns),
            panellists=table.panellists, groups=table.groups, group_of=table.group_of,
            values=table.values[:, columns, :],
        )
        parts[key] = analyze(part, dataclasses.replace(settings, scale=key))
    order = {label: i for i, label in enumerate(table.items)}
    main = parts.get(settings.scale) or parts[distinct[0]]
    scale_blocks = {key: _scale_block(dataclasses.replace(settings, scale=key))
                    for key in distinct}

    def merged(rows: list[Row], *first: str) -> list[Row]:
        # A stable sort: within one item the groups keep the engine's order.
        return sorted(rows, key=lambda r: (*(r[k] for k in first), order[r["item"]]))

    every = parts.values()
    return AnalysisResult(
        schema_version=SCHEMA_VERSION,
        settings=settings_block(settings),
        scale=_scale_block(settings),
        scales=scale_blocks,
        item_scales=dict(zip(table.items, keys, strict=True)),
        rounds=list(table.rounds),
        groups=list(table.groups),
        items=merged([row for part in every for row in part["items"]], "round"),
        stability=merged([row for part in every for row in part["stability"]], "from_round"),
        panel=main["panel"],
        panel_by_scale={key: part["panel"] for key, part in parts.items()},
        response=response_rows(_presence_codes(table), table.rounds, table.groups),
        attrition_bias=merged([row for part in every for row in part["attrition_bias"]]),
    )


def _presence_codes(table: RatingsTable) -> Codes:
    """The table as codes of one level: any rating is 0, then UTS, missing and absent.

    Response and completion only ask whether a panellist answered, not what.
    """
    values = table.values
    codes = np.select([values == UTS_CODE, values == MISSING_CODE, values == ABSENT_CODE],
                      [1, 2, 3], default=0).astype(np.int8)
    return Codes(values=codes, levels=1, slot_of=table.group_of + 1,
                 n_slots=len(table.groups) + 1)
