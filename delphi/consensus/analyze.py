"""The engine's entry point: ``analyze(records, settings)`` returns the whole analysis as JSON data.

The output has ``settings``, ``scale``, ``rounds``, ``groups``, ``items``,
``stability``, ``panel``, ``response`` and ``attrition_bias``; every key is
documented in ``docs/statistics.md``.  Undefined values are None, never NaN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import scipy

from .batch import ItemBatch, item_batch
from .encode import CellCounts, cell_counts, encode
from .item_rows import item_rows
from .response import Codes, response_rows
from .round_rows import attrition_rows, panel_rows, stability_rows
from .rules import RULES, Rule, applicable_rules
from .settings import Settings
from .table import RatingsTable, Record


@dataclass(frozen=True)
class Analysis:
    """The intermediate results shared by the output sections."""

    table: RatingsTable
    settings: Settings
    codes: Codes
    cells: CellCounts
    batch: ItemBatch
    verdicts: dict[str, np.ndarray | None]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(rounds, 1 + groups, items): how the batch rows are laid out."""
        return self.cells.counts.shape[:3]


def software_versions() -> dict[str, str]:
    """Return the software name and the versions of delphi, numpy and scipy."""
    try:
        version = metadata.version("delphi")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"software": "delphi", "software_version": version,
            "numpy_version": np.__version__, "scipy_version": scipy.__version__}


def prepare(table: RatingsTable, settings: Settings) -> Analysis:
    """Count every cell and compute the item statistics and verdicts of every rule."""
    scale = settings.scale_obj
    codes = encode(table, scale)
    cells = cell_counts(codes)
    k = codes.levels
    batch = item_batch(cells.ratings.reshape(-1, k), cells.uts.reshape(-1),
                       cells.missing.reshape(-1), settings)
    rules = applicable_rules(scale)
    verdicts = {key: _round_verdicts(rule, batch, settings, table.rounds) if key in rules
                else None for key, rule in RULES.items()}
    return Analysis(table, settings, codes, cells, batch, verdicts)


def _round_verdicts(rule: Rule, batch: ItemBatch, settings: Settings,
                    rounds: tuple[int, ...]) -> np.ndarray:
    """Return the rule's verdict of every batch row, with each round's own thresholds.

    The batch rows are laid out round by round, so a round's rows are one block.
    """
    codes = rule.vectorised(batch, settings)
    if not settings.round_thresholds or not rounds:
        return codes
    per_round = len(codes) // len(rounds)
    for index, number in enumerate(rounds):
        own = settings.for_round(number)
        if own != settings:
            block = slice(index * per_round, (index + 1) * per_round)
            codes[block] = rule.vectorised(batch, own)[block]
    return codes


def _scale_block(settings: Settings) -> dict[str, Any]:
    """Return the scale's points and bands for histograms and labels."""
    scale = settings.scale_obj
    return {
        "key": scale.key, "name": scale.name, "low": scale.low, "high": scale.high,
        "labels": [scale.label(v) for v in scale.points],
        "agree_band": [scale.agree_band.low, scale.agree_band.high],
        "disagree_band": [scale.disagree_band.low, scale.disagree_band.high],
    }


def analyze(data: RatingsTable | Iterable[Record], settings: Settings | None = None) -> dict:
    """Return the full analysis of ``(round, item, panellist, group, rating)`` records."""
    settings = settings or Settings()
    table = data if isinstance(data, RatingsTable) else RatingsTable.from_records(data)
    result = prepare(table, settings)
    return {
        "settings": {**settings.to_dict(), **software_versions()},
        "rule_descriptions": {key: rule.describe(settings)
                              for key, rule in applicable_rules(settings.scale_obj).items()},
        "scale": _scale_block(settings),
        "rounds": list(table.rounds),
        "groups": list(table.groups),
        "items": item_rows(result),
        "stability": stability_rows(result),
        "panel": panel_rows(result),
        "response": response_rows(result.codes, table.rounds, table.groups),
        "attrition_bias": attrition_rows(result),
    }
