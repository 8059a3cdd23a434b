"""The study's analysis settings: a frozen, validated value that round-trips through JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .percentiles import METHODS
from .rules import RULES
from .scales import SCALE_ALIASES, SCALES, Scale, get_scale

Number = int | Fraction

UTS_CHOICES = ("exclude", "include")
GROUP_RULES = ("pooled", "all", "any")
ZERO_METHODS = ("wilcox", "pratt", "zsplit")
# The thresholds a study may change from one round to the next (``round_thresholds``).
ROUND_KEYS = ("comet_agree_pct", "comet_disagree_pct", "percent_threshold", "iqr_max",
              "iqr_median_min")
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


@dataclass(frozen=True)
class Settings:
    """Every convention the analysis follows, fixed before round 1 and printed in every export."""

    scale: str = "grade-1-9"
    primary_rule: str = "comet"
    comet_agree_pct: Number = 70
    comet_disagree_pct: Number = 15
    percent_threshold: Number = 75
    iqr_max: Number = 1
    iqr_median_min: Number | None = None
    uts: str = "exclude"
    percentile_method: str = "linear"
    group_rule: str = "pooled"
    wilcoxon_zero_method: str = "wilcox"
    wilcoxon_correction: bool = True
    stability_pp: Number = 15
    scheibe_threshold: Number = Fraction(3, 20)
    min_group_size: int = 3
    # Thresholds that change from a round on, fixed before round 1: {2: {"comet_agree_pct": 75}}
    # means COMET 75/15 from round 2 on.  Stored as a sorted tuple so the settings stay hashable.
    round_thresholds: Any = ()

    def __post_init__(self) -> None:
        self._normalise_scale()
        object.__setattr__(self, "round_thresholds", _round_thresholds(self.round_thresholds))
        for key in ("comet_agree_pct", "comet_disagree_pct", "percent_threshold",
                    "iqr_max", "stability_pp", "scheibe_threshold"):
            object.__setattr__(self, key, parse_number(key, getattr(self, key)))
        if self.iqr_median_min is not None:
            object.__setattr__(
                self, "iqr_median_min", parse_number("iqr_median_min", self.iqr_median_min)
            )
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
        """Check the settings that name one of a few options."""
        _check_choice("primary_rule", self.primary_rule, tuple(RULES))
        _check_choice("uts", self.uts, UTS_CHOICES)
        _check_choice("percentile_method", self.percentile_method, tuple(METHODS))
        _check_choice("group_rule", self.group_rule, GROUP_RULES)
        _check_choice("wilcoxon_zero_method", self.wilcoxon_zero_method, ZERO_METHODS)
        if not isinstance(self.wilcoxon_correction, bool):
            raise SettingsError(
                f"setting 'wilcoxon_correction' must be true or false, not "
                f"{self.wilcoxon_correction!r}"
            )
        if not RULES[self.primary_rule].applies_to(self.scale_obj):
            raise SettingsError(
                f"setting 'primary_rule': {self.primary_rule} is not defined on the "
                f"{self.scale_obj.range_label} scale"
            )

    def _validate_ranges(self) -> None:
        """Check that every number lies in its meaningful range."""
        _check_range("comet_agree_pct", self.comet_agree_pct, 1, 100)
        _check_range("comet_disagree_pct", self.comet_disagree_pct, 0, 100)
        _check_range("percent_threshold", self.percent_threshold, 1, 100)
        _check_range("iqr_max", self.iqr_max, 0, None)
        if self.iqr_median_min is not None:
            _check_range("iqr_median_min", self.iqr_median_min, self.scale_obj.low,
                         self.scale_obj.high)
        _check_range("stability_pp", self.stability_pp, 0, 100)
        _check_range("scheibe_threshold", self.scheibe_threshold, 0, 1)
        if isinstance(self.min_group_size, bool) or not isinstance(self.min_group_size, int):
            raise SettingsError(
                f"setting 'min_group_size' must be an integer, not {self.min_group_size!r}"
            )
        _check_range("min_group_size", self.min_group_size, 1, None)
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
