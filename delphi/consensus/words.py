"""Words for the codes an analysis holds, rendered when they are shown, never stored.

A stored analysis (``delphi.consensus.schema``) holds a rule's key and the settings,
a scale's key and a reason's code; the sentences come from the registries here, at
display time, so they follow the wording (and, later, the language) of the version
showing them.  ``with_words`` is what ``delphi analyze`` prints: the analysis with each
rule's description and each scale's name and labels added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .rules import rule_descriptions
from .scales import get_scale
from .schema import AnalysisResult, ScaleBlock
from .settings import Settings

# Why Fleiss' kappa is null, by the code in a panel row's ``fleiss_kappa_reason``;
# ``{low}`` and ``{high}`` are the row's ``n_valid_min`` and ``n_valid_max``.
FLEISS_REASON_TEXT = {
    "no_items": "no statement was rated",
    "too_few_ratings": "some statements have fewer than 2 valid ratings",
    "unequal_ratings": "the statements have unequal numbers of valid ratings ({low} to {high}); "
                       "Fleiss' kappa needs the same number for every statement",
    "no_variation": "every rating fell on the same scale point, so chance agreement is 1",
}

# The keys ``with_words`` adds, by section of docs/statistics.md: rendered, not stored.
RENDERED = {"top level": ("rule_descriptions",), "scale": ("name", "labels")}


def fleiss_reason(row: Mapping[str, Any] | None) -> str | None:
    """Why a panel row's Fleiss' kappa is null, in words (None when it is not null)."""
    if row is None or row.get("fleiss_kappa") is not None:
        return None
    code = row.get("fleiss_kappa_reason") or "no_variation"
    return FLEISS_REASON_TEXT[code].format(low=row.get("n_valid_min"),
                                           high=row.get("n_valid_max"))


def scale_with_words(block: ScaleBlock) -> dict[str, Any]:
    """A scale block with the registry's name and point labels, in the order of the keys
    ``delphi analyze`` has always printed."""
    scale = get_scale(block["key"])
    return {"key": block["key"], "name": scale.name, "low": block["low"],
            "high": block["high"], "labels": [scale.label(v) for v in scale.points],
            "agree_band": block["agree_band"], "disagree_band": block["disagree_band"]}


def with_words(result: AnalysisResult) -> dict[str, Any]:
    """The analysis with the words of its codes: ``rule_descriptions`` after ``settings``,
    each scale's ``name`` and ``labels``."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if key == "scale":
            value = scale_with_words(result["scale"])
        elif key == "scales":
            value = {k: scale_with_words(v) for k, v in result.get("scales", {}).items()}
        out[key] = value
        if key == "settings":
            settings = Settings.from_dict(dict(result["settings"]))
            out["rule_descriptions"] = rule_descriptions(settings)
    return out
