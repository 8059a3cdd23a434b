"""The engine's entry point: ``analyze(records, settings)`` returns the whole analysis as JSON data.

The output is an ``AnalysisResult`` (``delphi.consensus.schema``): ``schema_version``,
``settings``, ``scale``, ``rounds``, ``groups``, ``items``, ``stability``, ``panel``,
``response`` and ``attrition_bias``; every key is documented in ``docs/statistics.md``
(a test checks both ways).  Codes and numbers only; undefined values are None, never NaN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import scipy

from .batch import ItemBatch, item_batch
from .encode import CellCounts, cell_counts, encode
from .item_rows import item_rows
from .response import Codes, response_rows
from .round_rows import attrition_rows, panel_rows, stability_rows
from .rules import RULES, Rule, applicable_rules
from .schema import SCHEMA_VERSION, AnalysisResult, ScaleBlock, SettingsBlock, typed
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


def _scale_block(settings: Settings) -> ScaleBlock:
    """Return the scale's key, points and bands (its name and labels are the registry's)."""
    scale = settings.scale_obj
    return ScaleBlock(
        key=scale.key, low=scale.low, high=scale.high,
        agree_band=[scale.agree_band.low, scale.agree_band.high],
        disagree_band=[scale.disagree_band.low, scale.disagree_band.high],
    )


def settings_block(settings: Settings) -> SettingsBlock:
    """Return every setting the analysis used and the software that computed it."""
    return typed(SettingsBlock, {**settings.to_dict(), **software_versions()})


def analyze(data: RatingsTable | Iterable[Record],
            settings: Settings | None = None) -> AnalysisResult:
    """Return the full analysis of ``(round, item, panellist, group, rating)`` records."""
    settings = settings or Settings()
    table = data if isinstance(data, RatingsTable) else RatingsTable.from_records(data)
    result = prepare(table, settings)
    return AnalysisResult(
        schema_version=SCHEMA_VERSION,
        settings=settings_block(settings),
        scale=_scale_block(settings),
        rounds=list(table.rounds),
        groups=list(table.groups),
        items=item_rows(result),
        stability=stability_rows(result),
        panel=panel_rows(result),
        response=response_rows(result.codes, table.rounds, table.groups),
        attrition_bias=attrition_rows(result),
    )
