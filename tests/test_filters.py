"""Numbers as people read them: half up, as the docstrings say."""

import pytest

from delphi.filters import fmt, pct, pval


@pytest.mark.parametrize(("value", "places", "shown"), [
    (6.25, 1, "6.3"), (7.0, 1, "7"), (0.125, 2, "0.13"), (2.675, 2, "2.68"), (0.5, 0, "1"),
    (-1.25, 1, "-1.3"), (-0.04, 1, "0"), (16.65, 1, "16.7"), (None, 1, "–"),
    (float("nan"), 1, "–"), (3, 3, "3"),
])
def test_fmt_rounds_half_up(value, places, shown):
    assert fmt(value, places) == shown


def test_the_fmt_docstring_example_holds():
    doc = fmt.__doc__
    assert "6.25 -> '6.3'" in doc and fmt(6.25) == "6.3" and fmt(7.0) == "7"


@pytest.mark.parametrize(("value", "shown"), [(72.5, "73%"), (72.22, "72%"), (0.5, "1%"),
                                              (None, "–")])
def test_pct_rounds_half_up(value, shown):
    assert pct(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(0.0425, "0.043"), (0.0005, "< 0.001"),
                                              (1.0, "1.000"), (0.0125, "0.013")])
def test_pval_rounds_half_up(value, shown):
    assert pval(value) == shown
