"""The ``stability``, ``panel`` and ``attrition_bias`` sections of the analysis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .batch import band_count, safe_divide
from .encode import paired_tables
from .output import bools, floats, ints
from .panel import alpha_from_counts, fleiss_kappa, fleiss_status, icc, kendall_w_codes
from .response import AttritionBatch, attrition_batch
from .schema import AttritionRow, PanelRow, StabilityRow, typed_rows
from .stability import change_is_stable, chi2_rows, stability_batch

if TYPE_CHECKING:
    from .analyze import Analysis


def agree_mask(a: Analysis) -> np.ndarray:
    """Return which scale indexes lie in the agree band."""
    scale = a.settings.scale_obj
    return np.array([v in scale.agree_band for v in scale.points])


def _band_counts(a: Analysis, batch_rows: np.ndarray) -> np.ndarray:
    """Return the counts in each band of the scale for the given batch rows."""
    scale, counts = a.settings.scale_obj, a.batch.counts[batch_rows]
    return np.stack([band_count(counts, scale, band.low, band.high) for band in scale.bands],
                    axis=1)


def _pair_selection(a: Analysis, first: int, second: int) -> tuple[np.ndarray, ...]:
    """Return the (slot, item) cells present in both rounds, ordered by item then group."""
    _, n_slots, n_items = a.shape
    invited = a.batch.n_invited.reshape(a.shape)
    present = (invited[first] > 0) & (invited[second] > 0)
    order = np.arange(n_slots * n_items).reshape(n_slots, n_items).T.ravel()
    cells = order[present.T.ravel()]
    slot, item = np.unravel_index(cells, (n_slots, n_items))
    return cells, slot, item


def _pair_rows(a: Analysis, first: int, second: int) -> list[StabilityRow]:
    """Return the stability objects of one pair of consecutive rounds."""
    _, n_slots, n_items = a.shape
    cells, slot, item = _pair_selection(a, first, second)
    levels = a.codes.levels
    tables = paired_tables(a.codes, first, second).reshape(-1, levels, levels)[cells]
    st = stability_batch(tables, agree_mask(a), a.settings)
    before, after = (r * n_slots * n_items + cells for r in (first, second))
    b, t, paired = a.batch, a.table, st.n_paired > 0
    agree, dens = (b.n_agree[before], b.n_agree[after]), (b.n_denominator[before],
                                                          b.n_denominator[after])
    pct_from, pct_to = (safe_divide(100 * n, d) for n, d in zip(agree, dens, strict=True))
    # The change in percentage points as one exact fraction, rounded once: the difference of
    # two rounded percentages is off in the last bits (66.67 - 33.33 is not 100/3).
    delta = safe_divide(100 * (agree[1] * dens[0] - agree[0] * dens[1]), dens[0] * dens[1])
    stable = change_is_stable(agree, dens, a.settings.stability_pp)
    chi2, df, chi2_p = chi2_rows(_band_counts(a, before), _band_counts(a, after))
    return typed_rows(StabilityRow, {
        "item": [t.items[i] for i in item.tolist()],
        "group": [t.groups[g - 1] if g else None for g in slot.tolist()],
        "from_round": [t.rounds[first]] * len(cells), "to_round": [t.rounds[second]] * len(cells),
        "n_paired": ints(st.n_paired), "n_changed": ints(st.n_changed),
        "pct_changed": floats(st.pct_changed), "mean_abs_change": floats(st.mean_abs_change),
        "pct_agree_from": floats(pct_from), "pct_agree_to": floats(pct_to),
        "delta_pct_agree": floats(delta), "delta_pct_7_9": floats(delta),
        "pct_stable": bools(stable, (dens[0] > 0) & (dens[1] > 0)),
        "scheibe_net_change": floats(st.scheibe),
        "scheibe_stable": bools(st.scheibe_stable, paired),
        "wilcoxon_n": ints(st.wilcoxon_n), "wilcoxon_v": floats(st.wilcoxon_v, paired),
        "wilcoxon_z": floats(st.wilcoxon_z), "wilcoxon_p": floats(st.wilcoxon_p),
        "mcnemar_b": ints(st.mcnemar_b), "mcnemar_c": ints(st.mcnemar_c),
        "mcnemar_p": floats(st.mcnemar_p, paired), "kappa_quadratic": floats(st.kappa),
        "chi2": floats(chi2), "chi2_df": ints(df), "chi2_p": floats(chi2_p),
    })


def stability_rows(a: Analysis) -> list[StabilityRow]:
    """Return stability objects for every pair of consecutive rounds."""
    out: list[StabilityRow] = []
    for first in range(len(a.table.rounds) - 1):
        out.extend(_pair_rows(a, first, first + 1))
    return out


def _optional(value: float | None) -> float | None:
    """Return a plain float or None."""
    return None if value is None else float(value)


def _panel_round(a: Analysis, r: int) -> PanelRow:
    """Return the panel-level agreement of round index ``r``."""
    scale, k = a.settings.scale_obj, a.codes.levels
    items = np.flatnonzero(a.cells.invited[r, 0] > 0)
    codes = a.codes.values[r][items]
    complete = codes[:, (codes < k).all(axis=0)] if len(items) else codes
    kendall = kendall_w_codes(complete.astype(np.int64), k)
    counts = a.cells.ratings[r, 0][items]
    per_item = counts.sum(axis=1)
    points = np.arange(scale.low, scale.high + 1)
    n_valid = [int(n) for n in per_item.tolist()]
    equal = fleiss_status(n_valid, 0.0) is None
    kappa = fleiss_kappa(counts).kappa if equal else None
    intraclass = icc(complete + scale.low)
    return PanelRow(
        round=a.table.rounds[r], n_items=int(len(items)),
        n_panellists=int((codes < k).any(axis=0).sum()), n_complete=int(complete.shape[1]),
        kendall_w=_optional(kendall.w), kendall_w_chi2=_optional(kendall.chi2),
        kendall_w_df=kendall.df, kendall_w_p=_optional(kendall.p),
        krippendorff_alpha_ordinal=alpha_from_counts(counts, points, "ordinal").alpha,
        krippendorff_alpha_interval=alpha_from_counts(counts, points, "interval").alpha,
        fleiss_kappa=kappa, fleiss_kappa_reason=fleiss_status(n_valid, kappa),
        n_valid_min=min(n_valid, default=None), n_valid_max=max(n_valid, default=None),
        icc_a1=intraclass.icc_a1, icc_c1=intraclass.icc_c1,
    )


def panel_rows(a: Analysis) -> list[PanelRow]:
    """Return one panel object per round."""
    return [_panel_round(a, r) for r in range(len(a.table.rounds))]


def attrition_rows(a: Analysis) -> list[AttritionRow]:
    """Return the attrition-bias objects (first vs last round), per item: the whole panel
    (group None), then each group with first-round ratings; empty with a single round."""
    t = a.table
    if len(t.rounds) < 2:
        return []
    sel = np.flatnonzero(a.cells.invited[0, 0] > 0)
    invited = a.cells.invited[0]
    slots = [s for s in range(a.shape[1]) if s == 0 or (invited[s] > 0).any()]
    found = {s: attrition_batch(a.codes, agree_mask(a), a.settings.scale_obj.low,
                                a.settings.uts == "include", None if s == 0 else s)
             for s in slots}
    out: list[AttritionRow] = []
    for k in sel.tolist():
        for s in slots:
            if s and not invited[s, k]:
                continue
            at = found[s]
            out.append(_attrition_row(at, k, t.items[k], t.groups[s - 1] if s else None,
                                      (t.rounds[0], t.rounds[-1])))
    return out


def _attrition_row(at: AttritionBatch, k: int, item: str, group: str | None,
                   rounds: tuple[int, int]) -> AttritionRow:
    """Return item k's counts, medians, % agreement, their differences and Mann-Whitney test."""
    def one(values: np.ndarray) -> float | None:
        return floats(np.asarray([values[k]]))[0]
    return AttritionRow(
        item=item, group=group, from_round=rounds[0], to_round=rounds[1],
        n_stayed=int(at.n_stayed[k]), n_dropped=int(at.n_dropped[k]),
        median_stayed=one(at.median_stayed), median_dropped=one(at.median_dropped),
        median_diff=one(at.median_dropped - at.median_stayed),
        pct_agree_stayed=one(at.pct_agree_stayed),
        pct_agree_dropped=one(at.pct_agree_dropped),
        pct_agree_diff=one(at.pct_agree_dropped - at.pct_agree_stayed),
        mann_whitney_u=one(at.u), mann_whitney_p=one(at.p),
    )
