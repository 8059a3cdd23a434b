"""Small groups stay anonymous: from the whole panel and the groups shown, no hidden group's
answers can be worked out, not even by a panellist who subtracts their own answer."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delphi.consensus import Settings, analyze
from delphi.consensus.disclosure import (
    Tally,
    disclose,
    disclose_rows,
    remainder_is_safe,
    total,
)

MANY = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def tally(*values: int | str, points: int = 9) -> Tally:
    """A tally of single answers: scale points 1..points, or "UTS"."""
    counts = [0] * points
    for v in values:
        if v != "UTS":
            counts[int(v) - 1] += 1
    return Tally(tuple(counts), sum(1 for v in values if v == "UTS"))


def test_a_one_person_group_hides_the_smallest_other_group_too():
    groups = {"clin": tally(8, 8, 7, 9), "nurse": tally(2, 3, 8, 8, 9), "parent": tally(1)}
    pooled = total(groups.values())
    found = disclose(pooled, groups, 3)
    # Without "clin" withheld, whole panel - clin - nurse would be the parent's rating.
    assert found.shown == ("nurse",)
    assert found.small == ("parent",) and found.withheld == ("clin",)
    assert pooled - groups["nurse"] == groups["clin"] + groups["parent"]


def test_nothing_is_withheld_when_the_hidden_groups_together_are_large_enough():
    groups = {"a": tally(1), "b": tally(2, 3, 4), "c": tally(5, 6, 7), "d": tally(9, 9, 9)}
    # hidden a (1 rating), remainder 1: withhold the smallest large group
    assert disclose(total(groups.values()), groups, 3).withheld == ("b",)
    groups = {"a": tally(1, 2), "b": tally(3, 4), "c": tally(5, 6, 7), "d": tally(9, 9, 9)}
    # hidden a and b: remainder of 4 = minimum + 1, mixed from two groups
    found = disclose(total(groups.values()), groups, 3)
    assert found.shown == ("c", "d") and found.withheld == ()


def test_the_own_answer_counts_a_remainder_of_exactly_the_minimum_is_not_enough():
    # Groups of 1 and 2 hidden, remainder 3 = the minimum: the one panellist of "a" would
    # subtract their rating and read group b's two ratings exactly.
    groups = {"a": tally(1), "b": tally(2, 9), "c": tally(5, 6, 7, 8), "d": tally(9, 9, 9, 9)}
    found = disclose(total(groups.values()), groups, 3)
    assert found.small == ("a", "b") and found.withheld == ("c",)
    assert found.shown == ("d",)


def test_an_unable_to_score_answer_is_protected_like_a_rating():
    groups = {"clin": tally(8, 8, 7), "parent": tally("UTS")}
    found = disclose(total(groups.values()), groups, 3)
    assert found.shown == () and found.hidden == ("parent", "clin")


def test_every_group_is_hidden_when_nothing_else_protects_the_small_one():
    groups = {"clin": tally(8, 8, 7, 9), "parent": tally(1)}
    assert disclose(total(groups.values()), groups, 3).shown == ()


def test_groups_without_answers_need_no_protection():
    groups = {"clin": tally(8, 8, 7), "nurse": tally(), "parent": tally()}
    assert disclose(total(groups.values()), groups, 3).shown == ("clin",)


def test_inconsistent_totals_show_no_group():
    groups = {"clin": tally(8, 8, 7), "nurse": tally(5, 5, 5)}
    assert disclose(tally(8, 8, 7), groups, 3).shown == ()


# -- the property over random panels ---------------------------------------------------

@st.composite
def panels(draw):
    """A scale, a minimum, groups (sizes around 0, 1 and the minimum) with their answers."""
    points = draw(st.integers(1, 5))
    minimum = draw(st.integers(1, 6))
    answer = st.one_of(st.integers(1, points), st.just("UTS"))
    size = st.one_of(st.sampled_from([0, 1, minimum - 1, minimum, minimum + 1]),
                     st.integers(0, 3 * minimum + 2))
    groups = {}
    for index in range(draw(st.integers(0, 6))):
        n = max(draw(size), 0)
        values = draw(st.lists(answer, min_size=n, max_size=n))
        groups[f"g{index}"] = tally(*values, points=points)
    return points, minimum, groups


def single_answers(t: Tally) -> list[Tally]:
    """Every kind of single answer in a tally (what one panellist in it may have given)."""
    width = len(t.counts)
    found = [Tally(tuple(int(i == k) for i in range(width)), 0)
             for k in range(width) if t.counts[k] > 0]
    return found + ([Tally((0,) * width, 1)] if t.n_uts > 0 else [])


@MANY
@given(panels())
def test_no_hidden_group_can_be_worked_out_from_what_is_shown(panel):
    _, minimum, groups = panel
    pooled = total(groups.values())
    found = disclose(pooled, groups, minimum)
    # every group is shown, small or withheld, once; shown ones are large enough
    assert sorted(found.shown + found.hidden) == sorted(groups)
    assert all(groups[k].n_valid >= minimum for k in found.shown)
    assert set(found.small) == {k for k, t in groups.items() if t.n_valid < minimum}
    assert list(found.shown) == [k for k in groups if k in found.shown]  # the study's order
    if not found.shown:
        return  # only the whole panel is shown: no group's numbers beside it
    remainder = pooled - total(groups[k] for k in found.shown)
    assert remainder == total(groups[k] for k in found.hidden)
    assert remainder_is_safe(remainder, minimum)
    small = [groups[k] for k in found.hidden if groups[k].n_valid < minimum]
    if not remainder.empty:
        # an outsider: the remainder is never one small group's answers
        assert remainder.n_valid >= minimum + 1
        assert all(remainder != t for t in small if not t.empty)
        # it mixes at least two groups' answers
        assert sum(1 for k in found.hidden if not groups[k].empty) >= 2
        # an insider: a hidden panellist subtracts their own answer and still cannot
        # single out a small group's answers
        for key in found.hidden:
            for own in single_answers(groups[key]):
                rest = remainder - own
                assert rest.n_valid >= minimum
                assert all(rest != t for t in small if not t.empty)


@MANY
@given(panels())
def test_groups_are_withheld_only_when_needed_and_at_most_two(panel):
    _, minimum, groups = panel
    pooled = total(groups.values())
    found = disclose(pooled, groups, minimum)
    large = [k for k, t in groups.items() if t.n_valid >= minimum]
    if remainder_is_safe(pooled - total(groups[k] for k in large), minimum):
        assert found.withheld == ()
    assert len(found.withheld) <= 2 or not found.shown


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                          st.lists(st.one_of(st.integers(1, 9), st.just("UTS"), st.none()),
                                   min_size=2, max_size=2)),
                min_size=1, max_size=14),
       st.integers(1, 5))
def test_the_stored_rows_of_an_analysis_are_disclosed_safely(panellists, minimum):
    """The same property on the item objects the app stores (pooled and group rows)."""
    records = [(1, f"q{i}", f"p{p}", group, value)
               for p, (group, values) in enumerate(panellists)
               for i, value in enumerate(values) if value is not None]
    if not records:
        return
    rows = analyze(records, Settings(min_group_size=minimum))["items"]
    for item in {r["item"] for r in rows}:
        pooled = next(r for r in rows if r["item"] == item and r["group"] is None)
        groups = [(r["group"], r) for r in rows if r["item"] == item and r["group"]]
        found = disclose_rows(pooled, groups, minimum)
        if found.shown:
            remainder = Tally.of(pooled) - total(Tally.of(r) for k, r in groups
                                                 if k in found.shown)
            assert not remainder.negative
            assert remainder.empty or remainder.n_valid >= minimum + 1
