"""Converting a stored analysis between schema versions: pure functions, one per step.

Each step is frozen once released (a later version adds a step, it does not edit one),
because the database migration that applied it calls it by name
(``delphi/migrations/versions/0006_analysis_schema_v2.py``).  ``to_current`` chains
the steps; readers call it through ``schema.read_result``.

- ``upgrade_v1``: version 1 (no ``schema_version``) -> 2. Drops the English
  ``rule_descriptions`` and the scale's ``name`` and ``labels`` (rendered from the
  registries when shown, ``delphi.consensus.words``) and gives each ``panel`` row the
  reason its Fleiss' kappa is null and the fewest and most valid ratings of a
  statement, from the round's pooled item rows, as ``analyze`` computes them.
  A result stored before a key existed gets it: a setting at its default (in practice
  only ``round_thresholds``, ``{}``: thresholds did not change between rounds then), a
  section as empty, a row's statistic as null (what the readers showed for it).
- ``downgrade_v2``: version 2 -> 1, for a database downgrade. Exact: the words come back
  from the registries (as this version words them) and the added keys go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .schema import (
    ROW_SECTIONS,
    SCHEMA_VERSION,
    AnalysisResult,
    PanelRow,
    SchemaVersionError,
    keys_of,
    version_of,
)

ADDED_TO_PANEL = ("fleiss_kappa_reason", "n_valid_min", "n_valid_max")


def _complete(row: Mapping[str, Any], kind: Any) -> dict[str, Any]:
    """A row with every key of ``kind``, in the schema's order (null where it lacked one)."""
    return {key: row.get(key) for key in keys_of(kind)}


def _panel_v2(row: Mapping[str, Any], n_valid: list[int]) -> dict[str, Any]:
    """A version-1 panel row with the reason its Fleiss' kappa is null."""
    from .panel import fleiss_status  # scipy: load on use

    return _complete({**row, "fleiss_kappa_reason": fleiss_status(n_valid, row.get("fleiss_kappa")),
                      "n_valid_min": min(n_valid, default=None),
                      "n_valid_max": max(n_valid, default=None)}, PanelRow)


def _panel_rows_v2(data: Mapping[str, Any], rows: list[Mapping[str, Any]],
                   items: set[str] | None) -> list[dict[str, Any]]:
    """Version-2 panel rows over ``items`` (None: every item), one per round."""
    n_valid: dict[int, list[int]] = {}
    for row in data["items"]:
        if row["group"] is None and (items is None or row["item"] in items):
            n_valid.setdefault(row["round"], []).append(int(row["n_valid"]))
    return [_panel_v2(row, n_valid.get(row["round"], [])) for row in rows]


def _main_scale(data: Mapping[str, Any]) -> str | None:
    """The scale ``panel`` was computed on: the study's when a statement uses it, else the
    first scale met (``multiscale.analyze_by_scale``); None for a one-scale analysis."""
    scale_of = data.get("item_scales")
    if not scale_of:
        return None
    study = data["settings"]["scale"]
    return study if study in scale_of.values() else next(iter(scale_of.values()))


def upgrade_v1(data: Mapping[str, Any]) -> AnalysisResult:
    """Return a version-1 analysis in version 2 (``data`` is left as it is)."""
    if version_of(data) != 1:
        raise SchemaVersionError(version_of(data))
    scale_of: dict[str, str] = data.get("item_scales") or {}
    main = _main_scale(data)
    from .settings import Settings

    out: dict[str, Any] = {"schema_version": 2}
    data = {**data, **{k: [] for k in ROW_SECTIONS if k not in data}}
    for key, value in data.items():
        if key == "rule_descriptions":
            continue
        if key == "settings":
            value = {**Settings().to_dict(), **value}
        elif key in ("items", "stability", "response", "attrition_bias"):
            value = [_complete(row, ROW_SECTIONS[key]) for row in value]
        elif key == "scale":
            value = _scale_v2(value)
        elif key == "scales":
            value = {k: _scale_v2(v) for k, v in value.items()}
        elif key == "panel":
            value = _panel_rows_v2(data, value, None if main is None else
                                   {i for i, s in scale_of.items() if s == main})
        elif key == "panel_by_scale":
            value = {k: _panel_rows_v2(data, rows, {i for i, s in scale_of.items() if s == k})
                     for k, rows in value.items()}
        out[key] = value
    return cast(AnalysisResult, out)


def _scale_v2(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k not in ("name", "labels")}


def downgrade_v2(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a version-2 analysis in version 1 (``data`` is left as it is)."""
    if version_of(data) != 2:
        raise SchemaVersionError(version_of(data))
    from .words import with_words

    out = with_words(cast(AnalysisResult, data))
    del out["schema_version"]
    out["panel"] = [_panel_v1(row) for row in out["panel"]]
    if "panel_by_scale" in out:
        out["panel_by_scale"] = {k: [_panel_v1(row) for row in rows]
                                 for k, rows in out["panel_by_scale"].items()}
    return out


def _panel_v1(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ADDED_TO_PANEL}


def to_current(data: Mapping[str, Any]) -> AnalysisResult:
    """Return a stored analysis of a known version in the current one."""
    version = version_of(data)
    if version == 1:
        data = upgrade_v1(data)
        version = 2
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(version)
    return cast(AnalysisResult, data)
