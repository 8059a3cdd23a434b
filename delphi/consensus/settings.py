"""The study's analysis settings: a frozen, validated value that round-trips through JSON.

This is the one place a setting is declared. Each field of ``Settings`` carries a
``Spec`` (``setting(...)``): its default, its allowed values or range (for the engine and
for a study), where the survey file holds it, its database column, its command-line
option, its builder label, its help text and the methods text's words for each choice.
The survey file's schema, the model's CHECK constraints and lock, the ``delphi analyze``
options, the builder's settings form and the docs are derived from ``SETTINGS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .percentiles import METHODS
from .rules import RULES
from .scales import SCALE_ALIASES, SCALES, Scale, get_scale

Number = int | Fraction
RoundThresholds = tuple[tuple[int, tuple[tuple[str, "Number | None"], ...]], ...]

# Keys that ``analyze`` adds to its settings block; ``from_dict`` accepts and ignores them.
METADATA_KEYS = frozenset({"software", "software_version", "numpy_version", "scipy_version"})

MAX_DENOMINATOR = 10**6
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_RATIO = re.compile(r"^-?[0-9]+/[1-9][0-9]*$")


class SettingsError(ValueError):
    """A setting that is unknown, of the wrong type or out of range."""


def parse_number(key: str, value: object) -> Number:
    """Return ``value`` as an exact int or Fraction, raising SettingsError naming ``key``."""
    if isinstance(value, bool):
        raise SettingsError(f"setting {key!r} must be a number, not {value!r}")
    if isinstance(value, int | Fraction):
        number = Fraction(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SettingsError(f"setting {key!r} must be a finite number, not {value!r}")
        number = Fraction(repr(value))  # the decimal the user wrote, not the binary float
    elif isinstance(value, str) and (_DECIMAL.match(value.strip()) or _RATIO.match(value.strip())):
        number = Fraction(value.strip())
    else:
        raise SettingsError(f"setting {key!r} must be a number, not {value!r}")
    if number.denominator > MAX_DENOMINATOR:
        # Thresholds are compared on integers; keep their products within 64 bits.
        raise SettingsError(f"setting {key!r} needs at most 6 decimals (or a denominator up to "
                            f"{MAX_DENOMINATOR}), not {value!r}")
    return int(number) if number.denominator == 1 else number


def number_to_json(value: Number) -> int | str:
    """Return an int as itself and a Fraction as an exact decimal or ``a/b`` string."""
    f = Fraction(value)
    if f.denominator == 1:
        return int(f)
    places = next((k for k in range(40) if (f * 10**k).denominator == 1), None)
    if places is None:  # not a terminating decimal, e.g. 200/3
        return f"{f.numerator}/{f.denominator}"
    return format(Decimal(int(f * 10**places)).scaleb(-places), "f")


def _check_range(key: str, value: Number, low: Number, high: Number | None) -> None:
    """Raise SettingsError unless ``low <= value <= high``."""
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and {number_to_json(high)}"
        raise SettingsError(
            f"setting {key!r} must be between {number_to_json(low)}{upper}, not "
            f"{number_to_json(value)}"
        )


def _check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise SettingsError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise SettingsError(f"setting {key!r} must be one of {', '.join(choices)}; got {value!r}")


Choices = tuple[str, ...] | Callable[[], tuple[str, ...]]


@dataclass(frozen=True)
class Spec:
    """How one setting is declared: what it is, what it may be and where it appears.

    ``kind`` is ``number`` (an exact int or fraction), ``integer``, ``choice``, ``flag``,
    ``scale`` or ``rounds``. ``low``/``high`` bound what the engine accepts (None: no bound;
    ``on_scale``: the scale's points); ``study`` bounds what a study's survey file and its
    database row may hold (default: the engine's bounds), as whole numbers unless ``stored``
    is float. ``column`` is the study's database column ("": the name; None: not stored
    with the consensus settings), ``cli`` the ``delphi analyze`` option ("": from the name;
    None: none of its own), ``check`` the name of its CHECK constraint, ``label`` the study
    builder's label ("": not in the builder), ``phrases`` the methods text's words for each
    value. ``choices`` may be
    a callable, read each time, so a rule registered later is a valid ``primary_rule``.
    """

    kind: str
    default: Any
    help: str
    name: str = ""
    choices: Choices = ()
    labels: Mapping[str, str] | Callable[[], Mapping[str, str]] = field(default_factory=dict)
    low: Number | None = None
    high: Number | None = None
    study: tuple[Number, Number] | None = None
    on_scale: bool = False
    stored: type | None = None
    survey: tuple[str, ...] = ()
    column: str | None = ""
    per_round: bool = False
    cli: str | None = ""
    check: str = ""
    label: str = ""
    phrases: Mapping[Any, str] = field(default_factory=dict)

    def options(self) -> tuple[str, ...]:
        """The allowed values of a choice, as they are now."""
        return self.choices() if callable(self.choices) else self.choices

    def option_labels(self) -> dict[str, str]:
        """Each choice and the words the builder shows for it (the value itself by default)."""
        labels = self.labels() if callable(self.labels) else self.labels
        return {value: labels.get(value, value) for value in self.options()}

    @property
    def study_range(self) -> tuple[Number, Number | None]:
        """The least and greatest value a study may hold."""
        if self.study is not None:
            return self.study
        return (0 if self.low is None else self.low), self.high

    @property
    def study_default(self) -> Any:
        """The default as the survey file and the database hold it."""
        if self.kind == "rounds":
            return {}
        if self.stored is float and self.default is not None:
            return float(self.default)
        return self.default

    @property
    def option(self) -> str | None:
        """The ``delphi analyze`` option, or None when it has none of its own."""
        return None if self.cli is None else self.cli or "--" + self.name.replace("_", "-")

    def phrase(self, value: Any) -> str:
        """The methods text's words for ``value`` of this setting."""
        return self.phrases[value]


def setting(kind: str, default: Any, **spec: Any) -> Any:
    """A field of ``Settings`` with its ``Spec`` (the name and the column are filled in)."""
    return field(default=default, metadata={"spec": Spec(kind, default, **spec)})


@dataclass(frozen=True)
class Settings:
    """Every convention the analysis follows, fixed before round 1 and printed in every export."""

    scale: str = setting(
        "scale", "grade-1-9", choices=lambda: (*SCALES, *SCALE_ALIASES), column=None,
        help="Rating scale (registry key or its points, e.g. 1-9).")
    primary_rule: str = setting(
        "choice", "comet", choices=lambda: tuple(RULES), survey=("primary_rule",),
        labels=lambda: {key: rule.name for key, rule in RULES.items()}, check="primary_rule_known",
        label="Consensus rule", help="The rule whose verdict is the item's verdict.")
    comet_agree_pct: Number = setting(
        "number", 70, low=1, high=100, survey=("comet", "agree_pct"), per_round=True, cli=None,
        check="comet_agree_range", label="COMET: % in the top band at least",
        help="COMET: in when at least this % rate in the agree band (and fewer than the "
             "disagree threshold in the disagree band); out mirrors it.")
    comet_disagree_pct: Number = setting(
        "number", 15, low=0, high=100, study=(1, 100), survey=("comet", "disagree_pct"),
        per_round=True, cli=None, check="comet_disagree_range",
        label="COMET: % in the bottom band fewer than",
        help="COMET: in only when fewer than this % rate in the disagree band.")
    percent_threshold: Number = setting(
        "number", 75, low=1, high=100, survey=("percent", "threshold"), per_round=True,
        check="percent_range", label="Percent agreement: % at least",
        help="Percent-agreement rule: % in the agree band needed.")
    iqr_max: Number = setting(
        "number", 1, low=0, study=(0, 100), survey=("iqr", "max_iqr"), per_round=True,
        check="iqr_max_range", label="IQR: interquartile range at most",
        help="IQR rule: the largest interquartile range that counts as agreement.")
    iqr_median_min: Number | None = setting(
        "number", None, study=(0, 100), on_scale=True, survey=("iqr", "median_min"),
        per_round=True, check="iqr_median_min_range", label="IQR: median at least (optional)",
        help="IQR rule: least median for consensus in (out mirrors it); default the agree "
             "band's lowest point.")
    uts: str = setting(
        "choice", "exclude", choices=("exclude", "include"), survey=("uts",), column="uts_rule",
        check="uts_rule_known", label="\u201cUnable to score\u201d answers",
        labels={"exclude": "left out of every percentage",
                "include": "count in every percentage"},
        phrases={"exclude": "Answers of 'unable to score' were left out of the denominators "
                            "of every percentage and reported as their own count.",
                 "include": "Answers of 'unable to score' were counted in the denominators "
                            "of every percentage (lowering the share in each band) and "
                            "reported as their own count."},
        help="Leave 'unable to score' out of the denominators, or count it in.")
    percentile_method: str = setting(
        "choice", "linear", choices=lambda: tuple(METHODS), survey=("percentile_method",),
        cli="--percentile", check="percentile_known", label="Percentile method",
        help="Percentile method (Hyndman-Fan type, numpy's names; linear = type 7).")
    group_rule: str = setting(
        "choice", "pooled", choices=("pooled", "all", "any"), survey=("group_rule",),
        check="group_rule_known", label="Group rule",
        labels={"pooled": "pooled: the whole panel together",
                "all": "all: every stakeholder group must agree",
                "any": "any: one stakeholder group is enough"},
        help="Consensus from the pooled panel, all groups, or any group.")
    wilcoxon_zero_method: str = setting(
        "choice", "wilcox", choices=("wilcox", "pratt", "zsplit"),
        survey=("wilcoxon", "zero_method"), check="zero_method_known",
        phrases={"wilcox": "zero differences were dropped before ranking (Wilcoxon's method, "
                           "R's default)",
                 "pratt": "zero differences were ranked with the others and their ranks then "
                          "dropped (Pratt's method)",
                 "zsplit": "zero differences were ranked with the others and their ranks "
                           "split equally between the positive and negative sums (zsplit)"},
        help="How the Wilcoxon test treats zero differences (R: wilcox).")
    wilcoxon_correction: bool = setting(
        "flag", True, survey=("wilcoxon", "correction"),
        phrases={True: "and a continuity correction of 0.5",
                 False: "and no continuity correction"},
        help="Continuity correction of the Wilcoxon normal approximation (R: on).")
    stability_pp: Number = setting(
        "number", 15, low=0, high=100, study=(1, 100), survey=("stability_pp",),
        check="stability_range",
        label="Stable when the % agreement changes by less than (points)",
        help="Stable when % agreement changes by less than this many percentage points.")
    scheibe_threshold: Number = setting(
        "number", Fraction(3, 20), low=0, high=1, stored=float, survey=("scheibe_threshold",),
        check="scheibe_range",
        help="Stable when Scheibe's net change is below this fraction.")
    min_group_size: int = setting(
        "integer", 3, low=1, study=(1, 1000), survey=("min_group_size",),
        check="consensus_min_group_size_range",
        help="Groups with fewer valid ratings are left out of the all/any group rules.")
    # Thresholds that change from a round on, fixed before round 1: {2: {"comet_agree_pct": 75}}
    # means COMET 75/15 from round 2 on.  Stored as a sorted tuple so the settings stay hashable.
    round_thresholds: Any = setting(
        "rounds", (), survey=("by_round",), stored=dict, cli="--round-thresholds",
        help="Thresholds that change from a round on, fixed before round 1.")

    def __post_init__(self) -> None:
        self._normalise_scale()
        object.__setattr__(self, "round_thresholds", _round_thresholds(self.round_thresholds))
        for spec in SETTINGS.values():
            value = getattr(self, spec.name)
            if spec.kind == "number" and value is not None:
                object.__setattr__(self, spec.name, parse_number(spec.name, value))
        self._validate_choices()
        self._validate_ranges()

    def _normalise_scale(self) -> None:
        """Replace a scale alias such as ``1-9`` by its registry key."""
        if not isinstance(self.scale, str) or (
            self.scale not in SCALES and self.scale not in SCALE_ALIASES
        ):
            known = ", ".join([*SCALES, *SCALE_ALIASES])
            raise SettingsError(f"setting 'scale' must be one of {known}; got {self.scale!r}")
        object.__setattr__(self, "scale", get_scale(self.scale).key)

    def _validate_choices(self) -> None:
        """Check the settings that name one of a few options, and the flags."""
        for spec in SETTINGS.values():
            value = getattr(self, spec.name)
            if spec.kind == "choice":
                _check_choice(spec.name, value, spec.options())
            elif spec.kind == "flag" and not isinstance(value, bool):
                raise SettingsError(f"setting {spec.name!r} must be true or false, not {value!r}")
        if not RULES[self.primary_rule].applies_to(self.scale_obj):
            raise SettingsError(
                f"setting 'primary_rule': {self.primary_rule} is not defined on the "
                f"{self.scale_obj.range_label} scale"
            )

    def _validate_ranges(self) -> None:
        """Check that every number lies in its meaningful range."""
        for spec in SETTINGS.values():
            value = getattr(self, spec.name)
            if spec.kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
                raise SettingsError(f"setting {spec.name!r} must be an integer, not {value!r}")
            if spec.kind not in ("number", "integer") or value is None:
                continue
            if spec.on_scale:
                _check_range(spec.name, value, self.scale_obj.low, self.scale_obj.high)
            else:
                _check_range(spec.name, value, spec.low or 0, spec.high)
        for number, _ in self.round_thresholds:
            try:
                self.for_round(number)
            except SettingsError as error:
                raise SettingsError(f"round_thresholds, from round {number}: {error}") from None

    def for_round(self, number: int) -> Settings:
        """The settings of round ``number``: every threshold change up to that round applied."""
        changes: dict[str, Any] = {}
        for start, values in self.round_thresholds:
            if start <= number:
                changes.update(values)
        return replace(self, round_thresholds=(), **changes) if changes else self

    @property
    def threshold_rounds(self) -> list[int]:
        """The rounds from which thresholds change (empty when they never do)."""
        return [number for number, _ in self.round_thresholds]

    @property
    def scale_obj(self) -> Scale:
        """The registered Scale this study rates on."""
        return get_scale(self.scale)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build validated settings from ``to_dict()`` output (or any subset of its keys)."""
        if not isinstance(data, dict):
            raise SettingsError(f"settings must be a mapping, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known and key not in METADATA_KEYS:
                raise SettingsError(
                    f"unknown setting {key!r}; known settings: {', '.join(sorted(known))}"
                )
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-safe values (exact non-integers as decimal strings)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Fraction):
                value = number_to_json(value)
            out[f.name] = value
        out["round_thresholds"] = {
            str(number): {k: None if v is None else number_to_json(v) for k, v in values}
            for number, values in self.round_thresholds}
        return out


SETTINGS: dict[str, Spec] = {
    f.name: replace(f.metadata["spec"], name=f.name,
                    column=f.name if f.metadata["spec"].column == "" else
                    f.metadata["spec"].column)
    for f in fields(Settings)
}
# The thresholds a study may change from one round to the next (``round_thresholds``).
ROUND_KEYS = tuple(name for name, spec in SETTINGS.items() if spec.per_round)
# The settings a study stores with its consensus settings (all of them locked at launch).
STUDY_SETTINGS = {name: spec for name, spec in SETTINGS.items() if spec.column}


def _round_thresholds(value: Any) -> RoundThresholds:
    """Normalise ``{round: {key: number}}`` (round keys may be strings, as in JSON)."""
    if isinstance(value, tuple):
        items = [(n, dict(v)) for n, v in value]
    elif isinstance(value, dict):
        items = list(value.items())
    elif value is None:
        items = []
    else:
        raise SettingsError(f"setting 'round_thresholds' must be a mapping of round numbers to "
                            f"thresholds, not {value!r}")
    out = []
    for raw_number, values in items:
        try:
            number = int(raw_number)
        except (TypeError, ValueError):
            number = 0
        if isinstance(raw_number, bool) or number < 2 or str(number) != str(raw_number).strip():
            raise SettingsError(f"setting 'round_thresholds': {raw_number!r} is not a round "
                                "number of 2 or more (round 1 uses the main thresholds)")
        if not isinstance(values, dict) or not values:
            raise SettingsError(f"setting 'round_thresholds', round {number}: give at least one "
                                f"of {', '.join(ROUND_KEYS)}")
        parsed = []
        for key, v in values.items():
            if key not in ROUND_KEYS:
                raise SettingsError(f"setting 'round_thresholds', round {number}: {key!r} cannot "
                                    f"change between rounds; one of {', '.join(ROUND_KEYS)}")
            parsed.append((key, None if v is None and key == "iqr_median_min"
                           else parse_number(key, v)))
        out.append((number, tuple(sorted(parsed))))
    numbers = [n for n, _ in out]
    if len(set(numbers)) != len(numbers):
        raise SettingsError("setting 'round_thresholds' names a round twice")
    return tuple(sorted(out))
