"""Properties over random studies: order invariance, ranges, no NaN, vectorised == exact."""

import json
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delphi.consensus import METHODS, Settings, analyze, item_statistics, item_verdicts

# The package's autouse network guard is function-scoped; it is harmless across examples.
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

answer = st.one_of(st.integers(1, 9), st.just("UTS"), st.none())
item_answers = st.lists(answer, min_size=1, max_size=24)
percent = st.one_of(st.integers(1, 100),
                    st.fractions(Fraction(1), Fraction(100), max_denominator=1000))
any_settings = st.builds(
    Settings,
    percentile_method=st.sampled_from(list(METHODS)),
    uts=st.sampled_from(["exclude", "include"]),
    comet_agree_pct=percent,
    comet_disagree_pct=st.integers(0, 100),
    percent_threshold=percent,
    iqr_max=st.one_of(st.integers(0, 3), st.just(Fraction(1, 2))),
    iqr_median_min=st.one_of(st.none(), st.integers(1, 9), st.just(Fraction(13, 2))),
)


@st.composite
def studies(draw):
    """Return records of a random study: 1-3 rounds, 1-5 items, up to 3 groups."""
    n_panellists = draw(st.integers(1, 14))
    groups = [draw(st.sampled_from([None, "a", "b", "c"])) for _ in range(n_panellists)]
    records = []
    for round_no in range(1, draw(st.integers(1, 3)) + 1):
        for item in range(draw(st.integers(1, 5))):
            for p in range(n_panellists):
                value = draw(st.one_of(answer, st.just("absent")))
                if value != "absent":
                    records.append((round_no, f"q{item}", f"p{p}", groups[p], value))
    return records


@FAST
@given(st.lists(item_answers, min_size=1, max_size=6), any_settings)
def test_vectorised_verdicts_equal_the_exact_ones(items, options):
    records = [(1, f"q{i}", f"p{k}", None, v) for i, values in enumerate(items)
               for k, v in enumerate(values)]
    by_item = {row["item"]: row for row in analyze(records, options)["items"]}
    for i, values in enumerate(items):
        row, exact = by_item[f"q{i}"], item_statistics(values, options)
        assert row["verdicts"] == item_verdicts(exact, options)
        for key in ("median", "p25", "p75", "iqr", "p30", "p70"):
            value = getattr(exact, key)
            assert row[key] == (None if value is None else float(value))
        assert row["rand_disagreement"] == (exact.rand.disagreement if exact.rand else None)
        assert row["counts"] == list(exact.counts)
        assert row["n_denominator"] == exact.n_denominator


@FAST
@given(studies(), any_settings, st.randoms(use_true_random=False))
def test_panellist_order_does_not_matter(records, options, rng: random.Random):
    shuffled = records[:]
    rng.shuffle(shuffled)
    first, second = analyze(records, options), analyze(shuffled, options)
    for section in ("items", "stability", "response", "attrition_bias", "panel"):
        for a, b in zip(_sorted(first[section]), _sorted(second[section]), strict=True):
            assert a.keys() == b.keys()
            for key, value in a.items():
                # Sums over panellists may round differently in another order (panel level).
                assert b[key] == (pytest.approx(value, rel=1e-9, abs=1e-12)
                                  if isinstance(value, float) else value), key


def _row_key(row):
    """A row's identity: round, item, group and pair of rounds."""
    return json.dumps({k: row[k] for k in ("round", "item", "group", "from_round") if k in row})


def _sorted(rows):
    """Rows in a canonical order, flattened to scalar values."""
    return [_flat(r) for r in sorted(rows, key=_row_key)]


def _flat(row):
    out = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out |= {f"{key}.{k}": v for k, v in value.items()}
        elif isinstance(value, list):
            out |= {f"{key}.{k}": v for k, v in enumerate(value)}
        else:
            out[key] = value
    return out


@FAST
@given(studies(), any_settings)
def test_ranges_and_no_nan(records, options):
    result = analyze(records, options)
    json.dumps(result, allow_nan=False)
    for row in result["items"]:
        points = [v for v, n in zip(range(1, 10), row["counts"], strict=True) if n]
        if points:
            assert min(points) <= row["median"] <= max(points)
            assert min(points) <= row["p25"] <= row["p75"] <= max(points)
            assert row["iqr"] >= 0 and row["ipr"] >= 0
        for key in ("pct_agree", "pct_disagree", "pct_7_9", "pct_4_6", "pct_1_3",
                    "pct_agree_ci_low", "pct_agree_ci_high"):
            assert row[key] is None or 0 <= row[key] <= 100
        assert row["n_valid"] + row["n_uts"] + row["n_missing"] == row["n_invited"]
    for row in result["stability"]:
        assert row["pct_changed"] is None or 0 <= row["pct_changed"] <= 100
        assert row["wilcoxon_p"] is None or 0 <= row["wilcoxon_p"] <= 1
        assert row["mcnemar_p"] is None or 0 <= row["mcnemar_p"] <= 1
        assert row["scheibe_net_change"] is None or 0 <= row["scheibe_net_change"] <= 1
    for row in result["response"]:
        assert 0 <= row["response_rate"] <= 1


@pytest.mark.parametrize("scale", ["grade-1-9", "agree-5", "agree-7", "yes-no"])
def test_every_scale_runs_through_every_section(scale):
    rng = random.Random(scale)
    low, high = {"grade-1-9": (1, 9), "agree-5": (1, 5), "agree-7": (1, 7), "yes-no": (1, 2)}[scale]
    groups = [rng.choice(["a", "b", None]) for _ in range(15)]
    records = [(r, f"q{i}", f"p{k}", groups[k], rng.choice([*range(low, high + 1), "UTS", None]))
               for r in (1, 2) for i in range(4) for k in range(15)]
    result = analyze(records, Settings(scale=scale, group_rule="any"))
    json.dumps(result, allow_nan=False)
    assert all(len(row["counts"]) == high - low + 1 for row in result["items"])
    assert all(row["verdicts"]["comet"] for row in result["items"])
    assert len(result["stability"]) >= 4 and len(result["panel"]) == 2
