"""Consensus rules (a registry), the per-group combination and the sensitivity view.

A verdict is a code: IN (1), NONE (0) or OUT (-1); each rule names its codes
(RAND: appropriate / uncertain / inappropriate).  Every rule has an exact
path on one ``ItemStatistics`` and a vectorised one on an ``ItemBatch``;
both test thresholds on integers or exact rationals, never on floats.
A new rule is one subclass of ``Rule`` decorated with ``@register`` (and its tests): the
survey file, the study builder, ``delphi analyze`` and the methods text take their list of
rules from ``RULES``. A rule's parameters are settings (``settings.py``) named in
``params``; its ``methods_sentence`` states it in the report's methods text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from .rand import CLASS_LABELS

if TYPE_CHECKING:
    from .batch import ItemBatch
    from .items import ItemStatistics
    from .scales import Scale
    from .settings import Number, Settings

IN, NONE, OUT = 1, 0, -1
NOT_APPLICABLE = 9
CONSENSUS_LABELS = {IN: "consensus_in", NONE: "no_consensus", OUT: "consensus_out"}


def share_at_least(count: Any, pct: Number, den: Any) -> Any:
    """Return whether count/den >= pct% (ints or arrays), as 100*q*count >= p*den for pct = p/q."""
    f = Fraction(pct)
    return 100 * f.denominator * count >= f.numerator * den


def _code(is_in: bool, is_out: bool) -> int:
    """Return IN or OUT when exactly one holds, else NONE."""
    return IN if is_in and not is_out else OUT if is_out and not is_in else NONE


def _codes(is_in: np.ndarray, is_out: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """Vectorised ``_code``, NONE where the item has no ratings."""
    return np.where(defined & is_in & ~is_out, IN, np.where(defined & is_out & ~is_in, OUT, NONE))


def num(value: Number | None) -> str:
    """A setting's number as the survey file writes it: 70, 0.15, 200/3."""
    from .settings import number_to_json

    return "–" if value is None else str(number_to_json(value))


def band_words(settings: Settings, which: str) -> str:
    """``agree band (7-9)``: a band of the study's scale as the methods text names it."""
    band = getattr(settings.scale_obj, f"{which}_band")
    return f"{which} band ({band.label})"


def share_words(settings: Settings) -> str:
    """What a percentage is taken over, by the UTS rule."""
    if settings.uts == "exclude":
        return "of the valid ratings"
    return "of the answers, 'unable to score' included"


class Rule(ABC):
    """A consensus rule: how to decide one item, exactly and for many items at once."""

    key: ClassVar[str]
    name: ClassVar[str]
    labels: ClassVar[dict[int, str]] = CONSENSUS_LABELS
    # The settings the rule reads (its thresholds); the methods text restates the rule
    # from a round on when one of them changes.
    params: ClassVar[tuple[str, ...]] = ()

    def applies_to(self, scale: Scale) -> bool:
        """Return whether the rule is defined on ``scale``."""
        return True

    @abstractmethod
    def exact(self, stats: ItemStatistics, settings: Settings) -> int:
        """Return the verdict code of one item."""

    @abstractmethod
    def vectorised(self, batch: ItemBatch, settings: Settings) -> np.ndarray:
        """Return the verdict code of every row of ``batch``."""

    @abstractmethod
    def describe(self, settings: Settings) -> str:
        """Return one sentence stating the rule and its parameters."""

    @abstractmethod
    def methods_sentence(self, settings: Settings) -> str:
        """The report's methods sentence: exactly how the rule decides, with the study's
        parameters, bands and "unable to score" rule."""


RULES: dict[str, Rule] = {}

R = TypeVar("R", bound=type[Rule])


def register(cls: R) -> R:
    """Class decorator: add a rule to ``RULES`` (its ``key`` must be new)."""
    if cls.key in RULES:
        raise ValueError(f"a rule with the key {cls.key!r} is already registered")
    RULES[cls.key] = cls()
    return cls


def unregister(key: str) -> None:
    """Remove a rule from ``RULES`` (tests that register a rule of their own)."""
    del RULES[key]


@register
class CometRule(Rule):
    """COMET: in when >= A% rate in the agree band and < D% in the disagree band; out mirrors."""

    key, name = "comet", "COMET"
    params = ("comet_agree_pct", "comet_disagree_pct")

    def exact(self, stats: ItemStatistics, settings: Settings) -> int:
        a, d, den = settings.comet_agree_pct, settings.comet_disagree_pct, stats.n_denominator
        if den == 0:
            return NONE
        agree, disagree = stats.n_agree, stats.n_disagree
        is_in = share_at_least(agree, a, den) and not share_at_least(disagree, d, den)
        is_out = share_at_least(disagree, a, den) and not share_at_least(agree, d, den)
        return _code(is_in, is_out)

    def vectorised(self, batch: ItemBatch, settings: Settings) -> np.ndarray:
        a, d, den = settings.comet_agree_pct, settings.comet_disagree_pct, batch.n_denominator
        agree, disagree = batch.n_agree, batch.n_disagree
        is_in = share_at_least(agree, a, den) & ~share_at_least(disagree, d, den)
        is_out = share_at_least(disagree, a, den) & ~share_at_least(agree, d, den)
        return _codes(is_in, is_out, den > 0)

    def describe(self, settings: Settings) -> str:
        return (f"COMET {settings.comet_agree_pct}/{settings.comet_disagree_pct}: consensus in "
                f"when at least {settings.comet_agree_pct}% rate in the agree band and fewer "
                f"than {settings.comet_disagree_pct}% in the disagree band; out is the mirror.")

    def methods_sentence(self, settings: Settings) -> str:
        agree, disagree = band_words(settings, "agree"), band_words(settings, "disagree")
        a, d, share = num(settings.comet_agree_pct), num(settings.comet_disagree_pct), \
            share_words(settings)
        return (f"COMET {a}/{d}: consensus in when at least {a}% {share} fall in the {agree} "
                f"and fewer than {d}% in the {disagree}; consensus out when at least {a}% fall "
                f"in the {disagree} and fewer than {d}% in the {agree}; otherwise no consensus.")


@register
class PercentRule(Rule):
    """Percent agreement: in when >= T% rate in the agree band, out when >= T% disagree."""

    key, name = "percent", "Percent agreement"
    params = ("percent_threshold",)

    def exact(self, stats: ItemStatistics, settings: Settings) -> int:
        t, den = settings.percent_threshold, stats.n_denominator
        if den == 0:
            return NONE
        return _code(share_at_least(stats.n_agree, t, den),
                     share_at_least(stats.n_disagree, t, den))

    def vectorised(self, batch: ItemBatch, settings: Settings) -> np.ndarray:
        t, den = settings.percent_threshold, batch.n_denominator
        return _codes(share_at_least(batch.n_agree, t, den),
                      share_at_least(batch.n_disagree, t, den), den > 0)

    def describe(self, settings: Settings) -> str:
        t = settings.percent_threshold
        return (f"Percent agreement {t}%: consensus in when at least {t}% rate in the agree "
                f"band, out when at least {t}% rate in the disagree band.")

    def methods_sentence(self, settings: Settings) -> str:
        agree, disagree = band_words(settings, "agree"), band_words(settings, "disagree")
        t = num(settings.percent_threshold)
        both = ("; when both hold there is no consensus" if settings.percent_threshold <= 50
                else "")
        return (f"Percent agreement {t}%: consensus in when at least {t}% {share_words(settings)} "
                f"fall in the {agree}; consensus out when at least {t}% fall in the "
                f"{disagree}{both}; otherwise no consensus.")


def _iqr_median_bounds(settings: Settings) -> tuple[Number, Number]:
    """Return (least median for in, greatest median for out) of the IQR rule."""
    scale = settings.scale_obj
    if settings.iqr_median_min is None:
        return scale.agree_band.low, scale.disagree_band.high
    return settings.iqr_median_min, scale.low + scale.high - settings.iqr_median_min


@register
class IqrRule(Rule):
    """IQR: agreement when IQR <= k; in when the median is high enough, out when low enough."""

    key, name = "iqr", "Interquartile range"
    params = ("iqr_max", "iqr_median_min")

    def exact(self, stats: ItemStatistics, settings: Settings) -> int:
        if stats.iqr is None or stats.median is None or stats.iqr > settings.iqr_max:
            return NONE
        high, low = _iqr_median_bounds(settings)
        return _code(stats.median >= high, stats.median <= low)

    def vectorised(self, batch: ItemBatch, settings: Settings) -> np.ndarray:
        high, low = _iqr_median_bounds(settings)
        agreed = batch.iqr.le(settings.iqr_max) & batch.has_ratings
        return _codes(batch.median.ge(high), batch.median.le(low), agreed)

    def describe(self, settings: Settings) -> str:
        high, low = _iqr_median_bounds(settings)
        return (f"IQR <= {settings.iqr_max} ({settings.percentile_method} percentiles): "
                f"consensus in with a median of at least {high}, out with at most {low}.")

    def methods_sentence(self, settings: Settings) -> str:
        high, low = _iqr_median_bounds(settings)
        k = num(settings.iqr_max)
        source = ("the agree band's lower bound and the disagree band's upper bound"
                  if settings.iqr_median_min is None else
                  f"the study's median threshold {num(settings.iqr_median_min)} and its mirror "
                  "image on the scale")
        return (f"Interquartile range: consensus in when the IQR is at most {k} and the median "
                f"is at least {num(high)}; consensus out when the IQR is at most {k} and the "
                f"median is at most {num(low)} (median bounds: {source}); otherwise no "
                "consensus.")


@register
class RandRule(Rule):
    """RAND/UCLA: appropriate / uncertain / inappropriate by median and IPR vs IPRAS (1-9)."""

    key, name = "rand", "RAND/UCLA"
    labels = CLASS_LABELS

    def applies_to(self, scale: Scale) -> bool:
        return (scale.low, scale.high) == (1, 9)

    def exact(self, stats: ItemStatistics, settings: Settings) -> int:
        if stats.rand is None:
            return NONE
        return {v: k for k, v in CLASS_LABELS.items()}[stats.rand.rand_class]

    def vectorised(self, batch: ItemBatch, settings: Settings) -> np.ndarray:
        assert batch.rand is not None
        return np.where(batch.has_ratings, batch.rand.rand_class, NONE)

    def describe(self, settings: Settings) -> str:
        return (f"RAND/UCLA ({settings.percentile_method} percentiles): disagreement when "
                "IPR > IPRAS = 2.35 + 1.5*|5 - IPRCP|; else median 7-9 appropriate, "
                "1-3 inappropriate, otherwise uncertain.")

    def methods_sentence(self, settings: Settings) -> str:
        return ("RAND/UCLA (Fitch et al. 2001): disagreement when the interpercentile range "
                "P70 − P30 exceeds IPRAS = 2.35 + 1.5 × |5 − (P30 + P70)/2|; a statement "
                "with disagreement is uncertain, otherwise median 7–9 appropriate, 1–3 "
                "inappropriate, 4–6 uncertain; appropriate counts as consensus in and "
                "inappropriate as consensus out.")


def applicable_rules(scale: Scale) -> dict[str, Rule]:
    """Return the registered rules defined on ``scale``."""
    return {key: rule for key, rule in RULES.items() if rule.applies_to(scale)}


def rule_descriptions(settings: Settings) -> dict[str, str]:
    """One sentence per rule defined on the settings' scale, keyed by rule, rendered from the
    rule's key and the settings when shown (a stored analysis holds no descriptions)."""
    return {key: rule.describe(settings)
            for key, rule in applicable_rules(settings.scale_obj).items()}


def item_verdicts(stats: ItemStatistics, settings: Settings) -> dict[str, str | None]:
    """Return one item's verdict label under every rule (None where a rule does not apply)."""
    scale = settings.scale_obj
    return {
        key: rule.labels[rule.exact(stats, settings)] if rule.applies_to(scale) else None
        for key, rule in RULES.items()
    }


def combine_groups(codes: np.ndarray, eligible: np.ndarray, group_rule: str) -> np.ndarray:
    """Combine per-group codes (groups x items) by ``all`` or ``any`` over eligible groups.

    all: IN (OUT) when every eligible group is IN (OUT); any: IN when some group
    is IN and none is OUT, and the mirror; otherwise, or with no eligible group, NONE.
    """
    n_eligible = eligible.sum(axis=0)
    n_in = ((codes == IN) & eligible).sum(axis=0)
    n_out = ((codes == OUT) & eligible).sum(axis=0)
    if group_rule == "all":
        is_in, is_out = n_in == n_eligible, n_out == n_eligible
    elif group_rule == "any":
        is_in, is_out = (n_in > 0) & (n_out == 0), (n_out > 0) & (n_in == 0)
    else:
        raise ValueError(f"unknown group rule {group_rule!r}")
    return _codes(is_in, is_out, n_eligible > 0)


def groups_disagree(codes: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Return, per item, whether eligible groups reach different verdicts."""
    high = np.where(eligible, codes, -2).max(axis=0)
    low = np.where(eligible, codes, 2).min(axis=0)
    return (eligible.sum(axis=0) > 1) & (high != low)


def rule_dependent(codes_by_rule: list[np.ndarray]) -> np.ndarray:
    """Return, per item, whether the verdict (in / none / out) differs between rules."""
    stacked = np.stack(codes_by_rule)
    return (stacked != stacked[0]).any(axis=0)
