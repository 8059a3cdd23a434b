"""The shape of an analysis: what ``analyze`` returns and what a round close stores.

Every section is a ``TypedDict``, so mypy checks the code that builds and reads it,
and ``schema_version`` says which shape a stored result has.  The schema holds codes
and numbers only: no English.  A rule's description, a scale's labels and the reason
Fleiss' kappa is undefined are rendered from their codes when they are shown
(``delphi.consensus.words``), so a stored result never goes stale or untranslatable.

Version history (``delphi.consensus.upgrade`` converts between them):

1. No ``schema_version`` key; ``rule_descriptions`` (one English sentence per rule) and
   the scale's ``name`` and ``labels`` stored with the numbers; no reason beside a null
   Fleiss' kappa.
2. ``schema_version``; codes and numbers only; each ``panel`` row says why Fleiss'
   kappa is null (``fleiss_kappa_reason``) with the numbers that reason names.

This module is light (no numpy): the models import it to check a stored result.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict, TypeVar, cast, get_args

SCHEMA_VERSION = 2
# The versions a reader converts on reading (see ``delphi.consensus.upgrade``).
OLDER_VERSIONS = (1,)

# Verdict codes: consensus rules give the first three, RAND/UCLA the last three.
Verdict = Literal["consensus_in", "no_consensus", "consensus_out",
                  "appropriate", "uncertain", "inappropriate"]
RandClass = Literal["appropriate", "uncertain", "inappropriate"]
CountRule = Literal["agreement", "disagreement", "indeterminate"]
# Why Fleiss' kappa is null (see ``delphi.consensus.panel.fleiss_status``).
FleissReason = Literal["no_items", "too_few_ratings", "unequal_ratings", "no_variation"]
FLEISS_REASONS: tuple[str, ...] = get_args(FleissReason)

# A setting's number as ``Settings.to_dict`` writes it: an int, or an exact decimal or
# fraction as a string ("0.15", "200/3").
SettingNumber = int | str


class SettingsBlock(TypedDict):
    """Every setting the analysis used (``Settings.to_dict()``), and the software."""

    scale: str
    primary_rule: str
    comet_agree_pct: SettingNumber
    comet_disagree_pct: SettingNumber
    percent_threshold: SettingNumber
    iqr_max: SettingNumber
    iqr_median_min: SettingNumber | None
    uts: str
    percentile_method: str
    group_rule: str
    wilcoxon_zero_method: str
    wilcoxon_correction: bool
    stability_pp: SettingNumber
    scheibe_threshold: SettingNumber
    min_group_size: int
    round_thresholds: dict[str, dict[str, SettingNumber | None]]
    software: str
    software_version: str
    numpy_version: str
    scipy_version: str


class ScaleBlock(TypedDict):
    """A scale by its registry key, with its points and bands (its words are in the
    registry, ``delphi.consensus.scales``)."""

    key: str
    low: int
    high: int
    agree_band: list[int]
    disagree_band: list[int]


class ItemRow(TypedDict):
    """One round x item x group (group None: the pooled panel)."""

    round: int
    item: str
    group: str | None
    n_invited: int
    n_responded: int
    n_missing: int
    n_uts: int
    n_valid: int
    n_denominator: int
    counts: list[int]
    pcts: list[float | None]
    n_agree: int
    n_disagree: int
    pct_agree: float | None
    pct_disagree: float | None
    pct_agree_ci_low: float | None
    pct_agree_ci_high: float | None
    n_7_9: int
    n_4_6: int
    n_1_3: int
    pct_7_9: float | None
    pct_4_6: float | None
    pct_1_3: float | None
    median: float | None
    p25: float | None
    p75: float | None
    iqr: float | None
    mean: float | None
    sd: float | None
    cv: float | None
    p30: float | None
    p70: float | None
    ipr: float | None
    iprcp: float | None
    ai: float | None
    ipras: float | None
    di: float | None
    rand_disagreement: bool | None
    rand_class: RandClass | None
    rand_count_rule: CountRule | None
    # Keyed by rule (``delphi.consensus.rules.RULES``); None where a rule does not apply.
    verdicts: dict[str, Verdict | None]
    verdict: Verdict | None
    rule_dependent: bool
    combined_verdicts: dict[str, Verdict | None] | None
    groups_disagree: bool | None
    group_eligible: bool | None


class StabilityRow(TypedDict):
    """One item and group between two consecutive rounds."""

    item: str
    group: str | None
    from_round: int
    to_round: int
    n_paired: int
    n_changed: int
    pct_changed: float | None
    mean_abs_change: float | None
    pct_agree_from: float | None
    pct_agree_to: float | None
    delta_pct_agree: float | None
    delta_pct_7_9: float | None
    pct_stable: bool | None
    scheibe_net_change: float | None
    scheibe_stable: bool | None
    wilcoxon_n: int
    wilcoxon_v: float | None
    wilcoxon_z: float | None
    wilcoxon_p: float | None
    mcnemar_b: int
    mcnemar_c: int
    mcnemar_p: float | None
    kappa_quadratic: float | None
    chi2: float | None
    chi2_df: int
    chi2_p: float | None


class PanelRow(TypedDict):
    """The agreement across the panel in one round."""

    round: int
    n_items: int
    n_panellists: int
    n_complete: int
    kendall_w: float | None
    kendall_w_chi2: float | None
    kendall_w_df: int
    kendall_w_p: float | None
    krippendorff_alpha_ordinal: float | None
    krippendorff_alpha_interval: float | None
    fleiss_kappa: float | None
    fleiss_kappa_reason: FleissReason | None
    n_valid_min: int | None
    n_valid_max: int | None
    icc_a1: float | None
    icc_c1: float | None


class ResponseRow(TypedDict):
    """Response and retention in one round, for the whole panel or one group."""

    round: int
    group: str | None
    invited: int
    responded: int
    completed: int
    response_rate: float | None
    completion_rate: float | None
    retention: float | None


class AttritionRow(TypedDict):
    """First-round ratings of those who stayed against those who dropped out."""

    item: str
    group: str | None
    from_round: int
    to_round: int
    n_stayed: int
    n_dropped: int
    median_stayed: float | None
    median_dropped: float | None
    median_diff: float | None
    pct_agree_stayed: float | None
    pct_agree_dropped: float | None
    pct_agree_diff: float | None
    mann_whitney_u: float | None
    mann_whitney_p: float | None


class AnalysisResult(TypedDict):
    """The whole analysis; the three ``NotRequired`` keys appear when statements are
    rated on more than one scale (``delphi.consensus.multiscale``)."""

    schema_version: int
    settings: SettingsBlock
    scale: ScaleBlock
    scales: NotRequired[dict[str, ScaleBlock]]
    item_scales: NotRequired[dict[str, str]]
    rounds: list[int]
    groups: list[str]
    items: list[ItemRow]
    stability: list[StabilityRow]
    panel: list[PanelRow]
    panel_by_scale: NotRequired[dict[str, list[PanelRow]]]
    response: list[ResponseRow]
    attrition_bias: list[AttritionRow]


# The sections of an analysis that are lists of rows, and their row type.
ROW_SECTIONS: dict[str, Any] = {
    "items": ItemRow, "stability": StabilityRow, "panel": PanelRow,
    "response": ResponseRow, "attrition_bias": AttritionRow,
}

Row = TypeVar("Row")


class SchemaError(ValueError):
    """Data that is not an analysis of the schema this code reads."""


class SchemaVersionError(SchemaError):
    """A stored analysis of a schema version this code does not know."""

    def __init__(self, version: object) -> None:
        self.version = version
        super().__init__(
            f"the stored analysis has schema version {version!r}, which this version of "
            f"delphi cannot read (it reads version {SCHEMA_VERSION} and converts "
            f"{', '.join(map(str, OLDER_VERSIONS))}); it was written by another version of "
            "delphi: run that version, or upgrade this one and run 'delphi db upgrade'")


def keys_of(kind: Any) -> tuple[str, ...]:
    """The keys of a TypedDict, required and optional, in declaration order."""
    return tuple(kind.__annotations__)


def typed(kind: Callable[..., Row], values: Mapping[str, Any]) -> Row:
    """Return ``values`` as a ``kind`` (a TypedDict), refusing a missing or an extra key.

    The row builders fill columns by name; this keeps them to exactly the schema.
    """
    wanted = set(kind.__required_keys__)  # type: ignore[attr-defined]
    allowed = wanted | set(kind.__optional_keys__)  # type: ignore[attr-defined]
    got = set(values)
    if not wanted <= got <= allowed:
        name = getattr(kind, "__name__", "row")
        raise SchemaError(f"{name}: missing {sorted(wanted - got)}, "
                          f"unknown {sorted(got - allowed)}")
    return kind(**values)


def typed_rows(kind: Callable[..., Row], columns: Mapping[str, Sequence[Any]]) -> list[Row]:
    """Return one ``kind`` per position of equally long columns, in the columns' key order."""
    typed(kind, dict.fromkeys(columns))  # the keys, checked once for every row
    keys = list(columns)
    return [cast(Row, dict(zip(keys, values, strict=True)))
            for values in zip(*columns.values(), strict=True)]


def version_of(data: Mapping[str, Any]) -> object:
    """The schema version a stored analysis declares (1 when it declares none)."""
    return data.get("schema_version", 1)


def read_result(data: object) -> AnalysisResult:
    """A stored analysis in the current schema: as it is, converted from an older version,
    or refused (``SchemaVersionError``) when its version is unknown, never misread."""
    if not isinstance(data, Mapping) or "items" not in data:
        raise SchemaError("the stored analysis is not an analysis (no 'items')")
    version = version_of(data)
    if type(version) is int and version == SCHEMA_VERSION:
        return cast(AnalysisResult, data)
    if type(version) is int and version in OLDER_VERSIONS:
        from .upgrade import to_current

        return to_current(data)
    raise SchemaVersionError(version)


def as_json(result: AnalysisResult) -> dict[str, Any]:
    """The analysis as the plain JSON object it is (for a JSON column or ``json.dumps``)."""
    return cast(dict[str, Any], result)
