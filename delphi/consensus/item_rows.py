"""The ``items`` section: one object per round x item x group (group None = pooled panel)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .batch import safe_divide
from .output import bools, floats, ints, labels, rationals
from .rand import COUNT_RULE_LABELS
from .rules import RULES, combine_groups, groups_disagree, rule_dependent
from .schema import ItemRow, typed_rows

if TYPE_CHECKING:
    from .analyze import Analysis


def combined_codes(a: Analysis, codes: np.ndarray) -> np.ndarray:
    """Return round x item verdict codes after the group rule (the pooled code when ungrouped)."""
    n_rounds, n_slots, n_items = a.shape
    by_slot = codes.reshape(a.shape)
    if a.settings.group_rule == "pooled" or n_slots == 1:
        return by_slot[:, 0]
    groups = by_slot[:, 1:].transpose(1, 0, 2).reshape(n_slots - 1, -1)
    combined = combine_groups(groups, _eligible(a), a.settings.group_rule)
    invited = (a.batch.n_invited.reshape(a.shape)[:, 1:] > 0).any(axis=1)
    return np.where(invited, combined.reshape(n_rounds, n_items), by_slot[:, 0])


def _eligible(a: Analysis) -> np.ndarray:
    """Return groups x (round*item): groups with at least ``min_group_size`` valid ratings."""
    n_slots = a.shape[1]
    valid = a.batch.n_valid.reshape(a.shape)[:, 1:].transpose(1, 0, 2).reshape(n_slots - 1, -1)
    return valid >= a.settings.min_group_size


def _disagreeing_groups(a: Analysis, codes: np.ndarray) -> np.ndarray:
    """Return round x item flags: eligible groups reach different primary verdicts."""
    n_rounds, n_slots, n_items = a.shape
    if n_slots == 1:
        return np.zeros((n_rounds, n_items), dtype=bool)
    groups = codes.reshape(a.shape)[:, 1:].transpose(1, 0, 2).reshape(n_slots - 1, -1)
    return groups_disagree(groups, _eligible(a)).reshape(n_rounds, n_items)


def _selection(a: Analysis) -> tuple[np.ndarray, ...]:
    """Return the batch rows to report, ordered by round, item, group, and their indexes."""
    n_rounds, n_slots, n_items = a.shape
    order = np.arange(n_rounds * n_slots * n_items).reshape(a.shape).transpose(0, 2, 1).ravel()
    sel = order[a.batch.n_invited[order] > 0]
    r, s, i = np.unravel_index(sel, a.shape)
    return sel, r, s, i


def _band_columns(a: Analysis, sel: np.ndarray, den: np.ndarray) -> dict[str, list[Any]]:
    """Return the agree / middle / disagree band counts and percentages."""
    b, scale = a.batch, a.settings.scale_obj
    n_agree, n_disagree = b.n_agree[sel], b.n_disagree[sel]
    n_mid = b.n_valid[sel] - n_agree - n_disagree
    pct = {name: floats(safe_divide(100 * n, den)) for name, n in
           (("agree", n_agree), ("disagree", n_disagree), ("mid", n_mid))}
    counts = b.counts[sel]
    shares = safe_divide(100 * counts, den[:, None]).tolist()
    pcts = [row if d else [None] * len(scale.points) for row, d in zip(shares, den.tolist(),
                                                                        strict=True)]
    return {
        "counts": counts.tolist(), "pcts": pcts,
        "n_agree": ints(n_agree), "n_disagree": ints(n_disagree),
        "pct_agree": pct["agree"], "pct_disagree": pct["disagree"],
        "pct_agree_ci_low": floats(b.ci_low[sel]), "pct_agree_ci_high": floats(b.ci_high[sel]),
        "n_7_9": ints(n_agree), "n_4_6": ints(n_mid), "n_1_3": ints(n_disagree),
        "pct_7_9": pct["agree"], "pct_4_6": pct["mid"], "pct_1_3": pct["disagree"],
    }


def _stat_columns(a: Analysis, sel: np.ndarray) -> dict[str, list[Any]]:
    """Return the location, spread and RAND/UCLA columns."""
    b = a.batch
    ok = b.has_ratings[sel]
    cols: dict[str, list[Any]] = {name: rationals(getattr(b, name).take_rows(sel), ok)
                                  for name in ("median", "p25", "p75", "iqr")}
    cols |= {"mean": floats(b.mean[sel]), "sd": floats(b.sd[sel]), "cv": floats(b.cv[sel])}
    cols |= {name: rationals(getattr(b, name).take_rows(sel), ok) for name in ("p30", "p70")}
    rand, n = b.rand, len(sel)
    for name in ("ipr", "iprcp", "ai", "ipras", "di"):
        cols[name] = floats(getattr(rand, name)[sel], ok) if rand else [None] * n
    cols["rand_disagreement"] = bools(rand.disagreement[sel], ok) if rand else [None] * n
    cols["rand_class"] = labels(rand.rand_class[sel] if rand else None,
                                RULES["rand"].labels, n, ok)
    cols["rand_count_rule"] = labels(rand.count_rule[sel] if rand else None,
                                     COUNT_RULE_LABELS, n, ok)
    return cols


def _verdict_columns(a: Analysis, sel: np.ndarray, r: np.ndarray, s: np.ndarray,
                     i: np.ndarray) -> dict[str, list[Any]]:
    """Return verdicts per rule, the primary (group-combined) verdict and the flags."""
    n, pooled = len(sel), s == 0
    own = {key: labels(None if c is None else c[sel], RULES[key].labels, n)
           for key, c in a.verdicts.items()}
    combined_codes_ = {key: combined_codes(a, c)[r, i] for key, c in a.verdicts.items()
                       if c is not None}
    combined = {key: labels(combined_codes_.get(key), RULES[key].labels, n) for key in RULES}
    own_codes = [c[sel] for c in a.verdicts.values() if c is not None]
    dependent = np.where(pooled, rule_dependent(list(combined_codes_.values())),
                         rule_dependent(own_codes))
    primary = a.settings.primary_rule
    primary_codes = a.verdicts[primary]
    assert primary_codes is not None  # Settings rejects a primary rule the scale lacks
    disagree = _disagreeing_groups(a, primary_codes)[r, i]
    keys = list(RULES)
    return {
        "verdicts": [dict(zip(keys, v, strict=True)) for v in zip(*own.values(), strict=True)],
        "verdict": [c if p else o for c, o, p in zip(combined[primary], own[primary],
                                                    pooled.tolist(), strict=True)],
        "rule_dependent": bools(dependent),
        "combined_verdicts": [dict(zip(keys, v, strict=True)) if p else None for *v, p in
                              zip(*combined.values(), pooled.tolist(), strict=True)],
        "groups_disagree": bools(disagree, pooled),
        "group_eligible": bools(a.batch.n_valid[sel] >= a.settings.min_group_size, ~pooled),
    }


def item_rows(a: Analysis) -> list[ItemRow]:
    """Return the item objects in round, item, group order."""
    sel, r, s, i = _selection(a)
    b, t = a.batch, a.table
    den = b.n_denominator[sel]
    columns: dict[str, list[Any]] = {
        "round": [t.rounds[k] for k in r.tolist()],
        "item": [t.items[k] for k in i.tolist()],
        "group": [t.groups[k - 1] if k else None for k in s.tolist()],
        **{name: ints(getattr(b, name)[sel]) for name in (
            "n_invited", "n_responded", "n_missing", "n_uts", "n_valid", "n_denominator")},
    }
    columns |= _band_columns(a, sel, den)
    columns |= _stat_columns(a, sel)
    columns |= _verdict_columns(a, sel, r, s, i)
    return typed_rows(ItemRow, columns)
