"""The methods text of a report, sentence by sentence, from the settings the engine used.

Each sentence is derived from a ``Settings`` value, never written by hand per
study, so the text cannot drift from what was computed.  ``methods_sentences``
returns (key, sentence) pairs; the keys let tests and templates pick one.
The text is built at render time from the stored settings block; it is never
stored with the round results.
"""

from __future__ import annotations

from .rules import RULES, _iqr_median_bounds, applicable_rules
from .settings import Number, Settings, number_to_json

HYNDMAN_FAN = {
    "inverted_cdf": 1, "averaged_inverted_cdf": 2, "closest_observation": 3,
    "interpolated_inverted_cdf": 4, "hazen": 5, "weibull": 6, "linear": 7,
    "median_unbiased": 8, "normal_unbiased": 9,
}
ZERO_METHOD_TEXT = {
    "wilcox": "zero differences were dropped before ranking (Wilcoxon's method, R's default)",
    "pratt": "zero differences were ranked with the others and their ranks then dropped "
             "(Pratt's method)",
    "zsplit": "zero differences were ranked with the others and their ranks split equally "
              "between the positive and negative sums (zsplit)",
}


def num(value: Number | None) -> str:
    """A setting's number as the survey file writes it: 70, 0.15, 200/3."""
    return "–" if value is None else str(number_to_json(value))


def _band(settings: Settings, which: str) -> str:
    band = getattr(settings.scale_obj, f"{which}_band")
    return f"{which} band ({band.label})"


def _share(settings: Settings) -> str:
    """What a percentage is taken over, by the UTS rule."""
    if settings.uts == "exclude":
        return "of the valid ratings"
    return "of the answers, 'unable to score' included"


def rule_sentence(key: str, settings: Settings) -> str:
    """One sentence stating exactly how rule ``key`` decides, with the study's parameters."""
    agree, disagree, share = _band(settings, "agree"), _band(settings, "disagree"), _share(settings)
    if key == "comet":
        a, d = num(settings.comet_agree_pct), num(settings.comet_disagree_pct)
        return (f"COMET {a}/{d}: consensus in when at least {a}% {share} fall in the {agree} "
                f"and fewer than {d}% in the {disagree}; consensus out when at least {a}% fall "
                f"in the {disagree} and fewer than {d}% in the {agree}; otherwise no consensus.")
    if key == "percent":
        t = num(settings.percent_threshold)
        both = ("; when both hold there is no consensus" if settings.percent_threshold <= 50
                else "")
        return (f"Percent agreement {t}%: consensus in when at least {t}% {share} fall in the "
                f"{agree}; consensus out when at least {t}% fall in the {disagree}{both}; "
                "otherwise no consensus.")
    if key == "iqr":
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
    if key == "rand":
        return ("RAND/UCLA (Fitch et al. 2001): disagreement when the interpercentile range "
                "P70 − P30 exceeds IPRAS = 2.35 + 1.5 × |5 − (P30 + P70)/2|; a statement "
                "with disagreement is uncertain, otherwise median 7–9 appropriate, 1–3 "
                "inappropriate, 4–6 uncertain; appropriate counts as consensus in and "
                "inappropriate as consensus out.")
    raise KeyError(key)


def group_sentence(settings: Settings) -> str:
    """How the stakeholder groups enter the verdict, as the engine combines them."""
    m = settings.min_group_size
    if settings.group_rule == "pooled":
        return ("Group rule: pooled. The verdict is taken on the whole panel counted together; "
                "nobody's ratings are excluded, whatever the size of their group. Group verdicts "
                f"are reported for information; groups with fewer than {m} valid ratings on a "
                "statement are not compared with each other.")
    eligible = (f"Only groups with at least {m} valid ratings on a statement count; the "
                "ratings of smaller groups still count in the pooled panel")
    if settings.group_rule == "all":
        return (f"Group rule: every group. A statement reaches consensus in (out) only when "
                f"every eligible group reaches it on its own. {eligible}; with no eligible "
                "group there is no consensus.")
    return (f"Group rule: any group. A statement reaches consensus in (out) when at least one "
            f"eligible group reaches it and no eligible group reaches the opposite. {eligible}; "
            "with no eligible group there is no consensus.")


def rule_in_words(settings: Settings) -> str:
    """The primary rule, the "unable to score" rule and the group rule in plain sentences:
    what the study page, the builder and ``ConsensusSettings.describe()`` show."""
    return " ".join((rule_sentence(settings.primary_rule, settings), uts_sentence(settings),
                     group_sentence(settings)))


def percentile_sentence(settings: Settings) -> str:
    method = settings.percentile_method
    ht = HYNDMAN_FAN.get(method)
    kind = f" (Hyndman and Fan type {ht})" if ht else ""
    return (f"Percentiles, and so the IQR and the RAND/UCLA interpercentile range, used the "
            f"{method} method{kind}, computed with exact fractions; the median is the usual "
            "median.")


def uts_sentence(settings: Settings) -> str:
    if settings.uts == "exclude":
        return ("Answers of 'unable to score' were left out of the denominators of every "
                "percentage and reported as their own count.")
    return ("Answers of 'unable to score' were counted in the denominators of every "
            "percentage (lowering the share in each band) and reported as their own count.")


def wilcoxon_sentence(settings: Settings) -> str:
    correction = ("and a continuity correction of 0.5" if settings.wilcoxon_correction
                  else "and no continuity correction")
    return ("Between rounds, the paired ratings were compared with the Wilcoxon signed-rank "
            "test on the differences (later minus earlier round; V is the sum of the ranks of "
            "the positive differences), two-sided p from the normal approximation with a tie "
            f"correction {correction}; "
            f"{ZERO_METHOD_TEXT[settings.wilcoxon_zero_method]}.")


def stability_sentence(settings: Settings) -> str:
    return (f"A statement was called stable when its % agreement changed by less than "
            f"{num(settings.stability_pp)} percentage points between rounds (each round's "
            "share over that round's respondents), and, separately, when Scheibe's net change "
            f"among the paired panellists was below {num(settings.scheibe_threshold)}.")


def paired_sentence(settings: Settings) -> str:
    return ("McNemar's exact (binomial) test compared moves into and out of the agree band; "
            "quadratic-weighted kappa measured agreement between rounds with the levels fixed "
            f"to the whole {settings.scale_obj.range_label} scale.")


def attrition_sentence(settings: Settings) -> str:
    return ("Attrition bias: the first-round ratings of panellists who did not answer the last "
            "round were compared with those who did (difference in median and in % agreement; "
            "Mann-Whitney U, two-sided, normal approximation with tie and continuity "
            "correction), for the whole panel and per group.")


def panel_sentence(settings: Settings) -> str:
    return ("Agreement across the panel in each round: Kendall's W with tie correction "
            "(statements as subjects, panellists who rated every statement as raters; "
            "chi-square test), Krippendorff's alpha, ordinal and interval (coincidence matrix, "
            "'unable to score' and blanks as missing), and Fleiss' kappa over the scale points "
            "where every statement has the same number of valid ratings (otherwise not "
            "applicable); 95% Wilson intervals for % agreement.")


RULE_KEYS = {"comet": ("comet_agree_pct", "comet_disagree_pct"),
             "percent": ("percent_threshold",), "iqr": ("iqr_max", "iqr_median_min"),
             "rand": ()}


def round_sentences(settings: Settings) -> list[tuple[str, str]]:
    """One sentence per round from which thresholds change, restating each changed rule."""
    out = []
    rules = applicable_rules(settings.scale_obj)
    previous = settings.for_round(1)
    for number in settings.threshold_rounds:
        current = settings.for_round(number)
        changed = [k for k in rules if any(getattr(current, f) != getattr(previous, f)
                                           for f in RULE_KEYS[k])]
        if changed:
            text = " ".join(rule_sentence(k, current) for k in changed)
            out.append((f"from_round_{number}",
                        f"From round {number} on, with thresholds fixed before round 1: {text}"))
        previous = current
    return out


def methods_sentences(settings: Settings) -> list[tuple[str, str]]:
    """Every methods sentence, primary rule first, then every other rule and each convention."""
    primary = settings.primary_rule
    others = [k for k in applicable_rules(settings.scale_obj) if k != primary]
    first = settings.for_round(1)
    when = " In round 1:" if settings.round_thresholds else ""
    out = [("primary_rule", f"The primary consensus rule was {RULES[primary].name}.{when} "
                            + rule_sentence(primary, first))]
    out += [(f"rule_{k}", rule_sentence(k, first)) for k in others]
    out += round_sentences(settings)
    out += [("uts", uts_sentence(settings)), ("percentiles", percentile_sentence(settings)),
            ("group_rule", group_sentence(settings)), ("stability", stability_sentence(settings)),
            ("wilcoxon", wilcoxon_sentence(settings)), ("paired", paired_sentence(settings)),
            ("attrition", attrition_sentence(settings)), ("panel", panel_sentence(settings))]
    return out

