"""The statistics engine: pure functions over ratings, no web framework and no database.

``analyze(records, settings)`` computes everything a round close or an export
needs; the smaller functions below compute one statistic each and return
frozen dataclasses.
"""

from .analyze import analyze, software_versions
from .inference import (
    chi2_homogeneity,
    mann_whitney_u,
    mcnemar_exact,
    weighted_kappa,
    wilcoxon_signed_rank,
)
from .items import ItemStatistics, item_statistics, wilson_interval
from .panel import fleiss_kappa, icc, kendall_w, krippendorff_alpha
from .percentiles import METHODS, median, percentile
from .rand import RandResult, rand_ucla
from .rules import RULES, item_verdicts
from .scales import SCALES, Band, Scale, get_scale
from .settings import Settings, SettingsError
from .table import RatingsTable

__all__ = [
    "METHODS",
    "RULES",
    "SCALES",
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
    "software_versions",
    "weighted_kappa",
    "wilcoxon_signed_rank",
    "wilson_interval",
]
