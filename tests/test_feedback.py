"""Two full rounds: round 2 shows each panellist how the panel answered round 1."""

from __future__ import annotations

import re

import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import RoundResult

from .flows import close, launch, link_for_panellist, open_link, vote

ROUND_1 = {  # panellist index -> ratings of the three items; 0-2 are clinicians, 3-5 parents
    0: (8, 2, 5), 1: (9, 3, 5), 2: (7, 9, "uts"),
    3: (8, 8, 5), 4: (7, 8, 5), 5: (2, 8, None),
}


def _round_one(app, study, panel):
    launch(study)
    items = study.items
    for index, values in ROUND_1.items():
        client = app.test_client()
        open_link(client, link_for_panellist(study, panel[index].id))
        ratings = {i.id: v for i, v in zip(items, values, strict=True) if v is not None}
        extra = {f"comment-{items[0].id}": f"Comment number {index} on the first"} \
            if index in (0, 3) else {}
        assert vote(client, ratings, extra=extra).status_code == 302
    close(study)


def test_round_two_shows_distribution_own_rating_groups_and_anonymous_comments(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    first = study.items[0]
    block = html[html.index(f'id="item-{first.id}"'):html.index(f'id="item-{study.items[1].id}"')]
    # the distribution of round 1 as an SVG with a text alternative
    assert "<svg" in block and "6 ratings: 1: 0; 2: 1; 3: 0" in block
    assert "7: 2; 8: 2; 9: 1" in block
    # median and IQR (linear percentiles of 2,7,7,8,8,9), % in 7-9 (5 of 6)
    assert "median <strong>7.5</strong>, IQR 7–8" in block
    assert "<strong>83%</strong> rated 7–9" in block
    # the panellist's own rating is said, and marked on the histogram (the 8th point)
    assert "Your rating: <strong>8</strong>" in block
    assert re.search(rf'id="item-{first.id}" data-own-at="8"', block)
    assert '<path class="p8" d=' in block
    # per stakeholder group (both have 3 ratings, the minimum)
    assert "<strong>Clinician</strong>" in block and "<strong>Parent</strong>" in block
    # comments without names
    assert "Comment number 0 on the first" in block and "Comment number 3 on the first" in block
    assert all(p.name not in html and p.email not in html for p in panel[1:])
    # a reason is asked for when the rating moves to another band
    assert f'name="reason-{first.id}"' in block


def test_groups_below_the_minimum_are_not_shown_on_their_own(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    third = study.items[2]
    block = html[html.index(f'id="item-{third.id}"'):]
    # item 3: clinicians 5, 5, UTS -> 2 valid ratings; parents 5, 5 -> 2 valid
    assert "<strong>Clinician</strong>" not in block.split("</fieldset>")[0]
    assert "2 groups with fewer than 3 ratings are not shown separately" in block


def test_round_two_answers_with_a_reason_and_stability_is_stored(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    launch(study)
    items = study.items
    for index in range(6):
        client = app.test_client()
        open_link(client, link_for_panellist(study, panel[index].id))
        extra = {f"reason-{items[1].id}": "Persuaded by the comments"} if index == 0 else {}
        assert vote(client, {i.id: 8 for i in items}, extra=extra).status_code == 302
    rnd = close(study)
    stored = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    stability = {(s["item"], s["from_round"]): s for s in stored.data["stability"]
                 if s["group"] is None}
    first = stability[("a-01", 1)]
    assert first["n_paired"] == 6 and first["n_changed"] == 4
    round_two = [r for r in stored.data["items"] if r["round"] == 2 and r["group"] is None]
    assert all(r["verdict"] == "consensus_in" for r in round_two)


def test_the_feedback_page_needs_no_statistics_per_view(app, factory, monkeypatch):
    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    launch(study)
    import delphi.results.tables as round_ops

    def fail(*_args, **_kwargs):
        raise AssertionError("statistics recomputed on a page view")

    monkeypatch.setattr(round_ops, "analyze", fail)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    assert client.get("/vote").status_code == 200
