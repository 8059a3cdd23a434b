"""The methods text of a report, sentence by sentence, from the settings the engine used.

Each sentence is derived from a ``Settings`` value, never written by hand per
study, so the text cannot drift from what was computed.  ``methods_sentences``
returns (key, sentence) pairs; the keys let tests and templates pick one.
The text is built at render time from the stored settings block; it is never
stored with the round results.
"""

from __future__ import annotations

from .rules import RULES, applicable_rules, num
from .settings import SETTINGS, Settings

HYNDMAN_FAN = {
    "inverted_cdf": 1, "averaged_inverted_cdf": 2, "closest_observation": 3,
    "interpolated_inverted_cdf": 4, "hazen": 5, "weibull": 6, "linear": 7,
    "median_unbiased": 8, "normal_unbiased": 9,
}


def rule_sentence(key: str, settings: Settings) -> str:
    """One sentence stating exactly how rule ``key`` decides, with the study's parameters."""
    return RULES[key].methods_sentence(settings)


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
    return SETTINGS["uts"].phrase(settings.uts)


def wilcoxon_sentence(settings: Settings) -> str:
    correction = SETTINGS["wilcoxon_correction"].phrase(settings.wilcoxon_correction)
    return ("Between rounds, the paired ratings were compared with the Wilcoxon signed-rank "
            "test on the differences (later minus earlier round; V is the sum of the ranks of "
            "the positive differences), two-sided p from the normal approximation with a tie "
            f"correction {correction}; "
            f"{SETTINGS['wilcoxon_zero_method'].phrase(settings.wilcoxon_zero_method)}.")


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


def round_sentences(settings: Settings) -> list[tuple[str, str]]:
    """One sentence per round from which thresholds change, restating each changed rule."""
    out = []
    rules = applicable_rules(settings.scale_obj)
    previous = settings.for_round(1)
    for number in settings.threshold_rounds:
        current = settings.for_round(number)
        changed = [k for k, rule in rules.items()
                   if any(getattr(current, f) != getattr(previous, f) for f in rule.params)]
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

