"""The statistics engine: pure functions over ratings, no web framework and no database.

``analyze(records, settings)`` computes everything a round close or an export
needs, as an ``AnalysisResult`` of the versioned schema in ``schema.py``; the smaller
functions below compute one statistic each and return frozen dataclasses.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# Each public name and the module it lives in. They are imported on first use (PEP 562):
# importing a light module such as ``delphi.consensus.scales`` (the models do) must not
# load numpy and scipy, which made ``delphi --help`` take seconds.
_WHERE = {
    "analyze": "analyze", "software_versions": "analyze",
    "chi2_homogeneity": "inference", "mann_whitney_u": "inference",
    "mcnemar_exact": "inference", "weighted_kappa": "inference",
    "wilcoxon_signed_rank": "inference",
    "ItemStatistics": "items", "item_statistics": "items", "wilson_interval": "items",
    "fleiss_kappa": "panel", "icc": "panel", "kendall_w": "panel",
    "krippendorff_alpha": "panel",
    "METHODS": "percentiles", "median": "percentiles", "percentile": "percentiles",
    "RandResult": "rand", "rand_ucla": "rand",
    "RULES": "rules", "item_verdicts": "rules",
    "SCHEMA_VERSION": "schema", "AnalysisResult": "schema", "read_result": "schema",
    "SCALES": "scales", "Band": "scales", "Scale": "scales", "get_scale": "scales",
    "Settings": "settings", "SettingsError": "settings",
    "RatingsTable": "table",
}


class _Package(types.ModuleType):
    """This package, whose ``analyze`` is always the function.

    The submodule ``analyze`` shares the function's name, and Python sets a package's
    attribute to a submodule when that submodule is first imported: with lazy names, an
    ``import delphi.consensus.analyze`` anywhere would turn ``from delphi.consensus import
    analyze`` into the module. (The eager imports this replaced rebound it by accident.)
    """

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name == "analyze" and isinstance(value, types.ModuleType):
            return value.analyze
        return value


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "METHODS",
    "RULES",
    "SCALES",
    "SCHEMA_VERSION",
    "AnalysisResult",
    "Band",
    "ItemStatistics",
    "RandResult",
    "RatingsTable",
    "Scale",
    "Settings",
    "SettingsError",
    "analyze",
    "chi2_homogeneity",
    "fleiss_kappa",
    "get_scale",
    "icc",
    "item_statistics",
    "item_verdicts",
    "kendall_w",
    "krippendorff_alpha",
    "mann_whitney_u",
    "mcnemar_exact",
    "median",
    "percentile",
    "rand_ucla",
    "read_result",
    "software_versions",
    "weighted_kappa",
    "wilcoxon_signed_rank",
    "wilson_interval",
]
