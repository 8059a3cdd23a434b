"""Decisions between rounds, the results page they are made on, and the next round's preview."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from delphi.decisions import operations as ops
from delphi.extensions import db
from delphi.models import (
    AuditEvent,
    DomainError,
    DropOutcome,
    ItemLink,
    ItemOrigin,
    ItemStatus,
    OutboxMessage,
    StudyState,
    Suggestion,
)

from .conftest import csrf_token, login
from .flows import close, confirm_in_console, launch, link_for_panellist, open_link, vote
from .test_feedback import _round_one


@pytest.fixture
def after_round_one(app, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    _round_one(app, study, panel)
    return study, panel, owner


def _items(study):
    return {i.label: i for i in study.items}


def test_every_decision_changes_the_statement_and_keeps_its_lineage(after_round_one):
    study, _, owner = after_round_one
    items = _items(study)
    ops.drop(study, items["a-01"], DropOutcome.CONSENSUS_IN, "83% rated 7-9", owner)
    new = ops.reword(study, items["a-02"], "Second statement, clearer", "Split opinions", owner)
    db.session.commit()
    assert items["a-01"].status is ItemStatus.DROPPED
    assert items["a-02"].status is ItemStatus.SUPERSEDED
    assert (new.key, new.version, new.origin, new.parent_id) == (
        "a-02", 2, ItemOrigin.REWORDED, items["a-02"].id)
    assert new.label == "a-02.v2"
    links = db.session.execute(sa.select(ItemLink.parent_id, ItemLink.child_id)).all()
    assert links == [(items["a-02"].id, new.id)]
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.like("item.%"))).all()
    assert actions == ["item.drop", "item.reword"]


def test_merge_and_split(after_round_one):
    study, _, owner = after_round_one
    items = _items(study)
    merged = ops.merge(study, [items["a-01"], items["a-02"]], "a-merged", "Both together",
                       "They overlap", owner)
    parts = ops.split(study, items["b-01"], ["Part one", "", "Part two"], "Two ideas", owner)
    db.session.commit()
    assert merged.origin is ItemOrigin.MERGED
    assert {p.key for p in parts} == {"b-01-a", "b-01-b"}
    parents = sorted(db.session.scalars(sa.select(ItemLink.parent_id).where(
        ItemLink.child_id == merged.id)))
    assert parents == sorted([items["a-01"].id, items["a-02"].id])
    assert all(items[k].status is ItemStatus.SUPERSEDED for k in ("a-01", "a-02", "b-01"))


def test_a_suggestion_becomes_a_statement(app, after_round_one):
    study, panel, owner = after_round_one
    db.session.add(Suggestion(round_id=study.rounds[0].id, panellist_id=panel[0].id,
                              text="Add school attendance"))
    db.session.commit()
    suggestion = db.session.scalar(sa.select(Suggestion))
    item = ops.add_statement(study, study.sections[1], "b-02", suggestion.text, "",
                             "Suggested in round 1", owner, suggestion)
    db.session.commit()
    assert item.origin is ItemOrigin.SUGGESTED and suggestion.resulting_item_id == item.id
    with pytest.raises(DomainError, match="already become a statement"):
        ops.add_statement(study, study.sections[1], "b-03", "again", "", "again", owner,
                          suggestion)


@pytest.mark.parametrize("call", [
    lambda s, o, i: ops.drop(s, i, DropOutcome.OTHER, "", o),
    lambda s, o, i: ops.reword(s, i, i.text, "same text", o),
    lambda s, o, i: ops.merge(s, [i], "x-1", "one only", "r", o),
    lambda s, o, i: ops.split(s, i, ["only one"], "r", o),
    lambda s, o, i: ops.merge(s, [i, s.items[1]], "a-02", "key taken", "r", o),
])
def test_bad_decisions_are_refused_with_a_reason(after_round_one, call):
    study, _, owner = after_round_one
    with pytest.raises(DomainError):
        call(study, owner, study.items[0])
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ItemLink)) == 0


def test_decisions_wait_until_the_round_is_closed(factory):
    study = factory.study()
    factory.panel(study)
    launch(study)
    with pytest.raises(DomainError, match="decide after it closes"):
        ops.carry_forward(study, study.items, "keep", "test")


def test_a_later_decision_on_a_statement_replaces_the_earlier_one(after_round_one):
    study, _, owner = after_round_one
    item = study.items[0]
    ops.drop(study, item, DropOutcome.CONSENSUS_IN, "done", owner)
    new = ops.reword(study, item, "new", "again", owner)
    assert item.status is ItemStatus.SUPERSEDED and new.label == f"{item.key}.v2"
    with pytest.raises(DomainError, match="has not been rated yet"):
        ops.drop(study, new, DropOutcome.OTHER, "the new version at once", owner)


def test_the_next_round_holds_what_was_decided_and_shows_earlier_wording(app, after_round_one):
    study, panel, owner = after_round_one
    items = _items(study)
    ops.drop(study, items["a-01"], DropOutcome.CONSENSUS_IN, "reached", owner)
    new = ops.reword(study, items["a-02"], "Second statement, clearer", "unclear", owner)
    ops.carry_forward(study, [items["b-01"]], "no consensus yet", owner)
    db.session.commit()
    rnd = launch(study)
    assert [i.label for i in rnd.items] == ["a-02.v2", "b-01"]
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    html = client.get("/vote").get_data(as_text=True)
    assert "Second statement, clearer" in html
    assert "with the earlier wording: “Second statement”" in html
    assert vote(client, {new.id: 8, items["b-01"].id: 5}).status_code == 302
    result = close(study)
    assert result.number == 2


def test_the_results_page_filters_sorts_and_decides(client, after_round_one):
    study, _, owner = after_round_one
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/1/results"
    page = client.get(url).get_data(as_text=True)
    assert page.count('class="result"') == 3
    assert "Kendall" in page and "Whole panel" in page
    # COMET 70/15: a-01 has 83% in 7-9 but 17% in 1-3, so no item reaches consensus in
    none = client.get(url + "?show=consensus_in").get_data(as_text=True)
    assert none.count('class="result"') == 0 and "0 statements shown" in none
    undecided = client.get(url + "?show=no_consensus").get_data(as_text=True)
    assert undecided.count('class="result"') == 3
    ordered = client.get(url + "?sort=agree_asc").get_data(as_text=True)
    assert ordered.index("Third statement") < ordered.index("First statement")
    token = csrf_token(client, url)
    item = _items(study)["a-01"]
    refused = client.post(f"/studies/{study.slug}/items/{item.id}/drop",
                          data={"csrf_token": token, "outcome": "consensus_in", "reason": ""},
                          follow_redirects=True).get_data(as_text=True)
    assert "Nothing was changed" in refused
    assert _items(study)["a-01"].status is ItemStatus.ACTIVE
    done = client.post(f"/studies/{study.slug}/items/{item.id}/drop",
                       data={"csrf_token": token, "outcome": "consensus_in",
                             "reason": "83% in 7-9"}, follow_redirects=True)
    assert "a-01 is dropped" in done.get_data(as_text=True)
    assert "Decided: <strong>drop</strong> (consensus in)" in done.get_data(as_text=True)
    preview = client.get(f"/studies/{study.slug}/next-round/preview").get_data(as_text=True)
    assert "Preview: round 2" in preview and "First statement" not in preview
    assert "Second statement" in preview and "<svg" in preview
    audit = client.get(f"/studies/{study.slug}/audit").get_data(as_text=True)
    assert "item.drop" in audit and "83% in 7-9" in audit


def test_merge_split_and_add_through_the_console(client, after_round_one):
    study, _, owner = after_round_one
    login(client, owner.email)
    items = _items(study)
    token = csrf_token(client, f"/studies/{study.slug}/rounds/1/results")
    base = f"/studies/{study.slug}"
    page = client.post(f"{base}/decisions/merge", data={
        "csrf_token": token, "items": [items["a-01"].id, items["a-02"].id], "key": "a-both",
        "text": "Both statements", "reason": "overlap"}, follow_redirects=True)
    assert "a-both replaces a-01, a-02" in page.get_data(as_text=True)
    page = client.post(f"{base}/items/{items['b-01'].id}/split", data={
        "csrf_token": token, "texts": "One\nTwo", "reason": "two ideas"}, follow_redirects=True)
    assert "split into 2 statements" in page.get_data(as_text=True)
    page = client.post(f"{base}/decisions/add", data={
        "csrf_token": token, "section": study.sections[0].id, "key": "a-new",
        "text": "A new one", "reason": "committee"}, follow_redirects=True)
    assert "a-new is added" in page.get_data(as_text=True)
    active = sorted(i.label for i in study.items if i.status is ItemStatus.ACTIVE)
    assert active == ["a-both", "a-new", "b-01-a", "b-01-b"]


def test_finishing_the_study(client, after_round_one):
    study, panel, owner = after_round_one
    login(client, owner.email)
    finish_url = f"/studies/{study.slug}/finish"
    page = client.get(finish_url).get_data(as_text=True)
    assert "Finish the study after round 1?" in page
    assert "3 statements of round 1 have no decision yet" in page
    assert "a-01" in page and "b-01" in page
    token = csrf_token(client, f"/studies/{study.slug}/rounds/1/results")
    refused = client.post(finish_url, data={"csrf_token": token}, follow_redirects=True)
    assert "Nothing was changed" in refused.get_data(as_text=True)
    assert study.state is StudyState.RUNNING
    assert 'name="thank_you" value="yes" checked' in page  # ticked unless untick
    done = confirm_in_console(client, finish_url)
    assert "The study is finished" in done.get_data(as_text=True)
    assert "thank-you message to the panel is in the outbox" in done.get_data(as_text=True)
    assert study.state is StudyState.FINISHED
    thanked = db.session.scalars(sa.select(OutboxMessage.panellist_id).where(
        OutboxMessage.kind == "thankyou")).all()
    assert sorted(thanked) == sorted(p.id for p in panel)
    page = client.get(finish_url).get_data(as_text=True)
    assert "cannot be finished: it is finished already" in page and "confirmed" not in page
    with pytest.raises(DomainError, match="finished"):
        ops.carry_forward(study, study.items, "late", owner)


def test_finishing_without_the_thank_you_queues_none(client, after_round_one):
    study, _, owner = after_round_one
    login(client, owner.email)
    token = csrf_token(client, f"/studies/{study.slug}/finish")
    done = client.post(f"/studies/{study.slug}/finish", follow_redirects=True, data={
        "csrf_token": token, "confirmed": "yes"})  # the box unticked
    assert "The study is finished" in done.get_data(as_text=True)
    assert "thank-you" not in done.get_data(as_text=True).split("The study is finished")[1][:80]
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "thankyou"))


def _block(page, item):
    start = page.index(f'id="result-{item.id}"')
    return page[start:page.index("</article>", start)]


def test_results_show_each_rules_verdict_after_the_group_rule_and_flags_from_them(
        app, client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    study.consensus.group_rule = "all"
    db.session.commit()
    _round_one(app, study, factory.panel(study))
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/1/results"
    page = client.get(url).get_data(as_text=True)
    items = _items(study)
    first = " ".join(_block(page, items["a-01"]).split())
    # a-01: the panel pooled has 83% in 7-9 (Percent 75: in), but the parents have 67%, so
    # under "every group" Percent gives no consensus; both are shown, side by side
    assert "Verdict (every group): <span" in first
    assert ('<th scope="row">Percent</th><td>no consensus</td><td>consensus in</td>'
            in first)
    assert '<th scope="row">RAND/UCLA</th><td>appropriate</td><td>appropriate</td>' in first
    # RAND says appropriate where the other rules say no consensus: the flag follows the
    # verdicts shown, and the group rule's change is flagged too
    assert "depends on the rule</span>" in first and "group rule changes it</span>" in first
    # b-01 has 2 valid ratings in each group: neither counts, so groups cannot disagree
    third = " ".join(_block(page, items["b-01"]).split())
    assert "groups disagree</span>" not in third
    assert "no: fewer than 3 valid ratings" in third
    summary = " ".join(page[page.index('id="summary"'):page.index("</ul>",
                                                                page.index('id="summary"'))]
                       .split())
    assert "<strong>0</strong> consensus in" in summary
    assert "<strong>3</strong> no consensus" in summary
    assert "<strong>2</strong> where groups disagree" in summary
    # Fleiss' kappa is null because b-01 has 4 valid ratings and the others 6
    assert "Fleiss' κ: not applicable: the statements have unequal numbers of valid ratings " \
           "(4 to 6)" in page
    flagged = client.get(url + "?show=group_rule_matters").get_data(as_text=True)
    assert f'id="result-{items["a-01"].id}"' in flagged


def test_a_rand_primary_rule_counts_as_a_status_in_filters_and_summary():
    from delphi.decisions.results import apply_view
    from delphi.results.items import ItemResult, summary

    def row(verdict, combined, pooled, groups=()):
        from delphi.results.items import GroupRow
        return ItemResult(item=None, pooled={"verdict": verdict, "verdicts": pooled,
                                             "combined_verdicts": combined},
                          groups=[GroupRow(k, k, {"verdict": v}, ok) for k, v, ok in groups],
                          primary_rule="rand", group_rule="any")
    same = {"comet": "consensus_in", "percent": "consensus_in", "iqr": "consensus_in",
            "rand": "appropriate"}
    split = {**same, "rand": "uncertain"}
    rows = [row("appropriate", same, split,
                [("a", "appropriate", True), ("b", "uncertain", False)]),
            row("uncertain", split, same,
                [("a", "appropriate", True), ("b", "uncertain", True)])]
    assert [r.rule_dependent for r in rows] == [False, True]
    assert [r.group_rule_matters for r in rows] == [True, True]
    assert [r.groups_disagree for r in rows] == [False, True]
    counts = summary(rows)
    assert (counts["consensus_in"], counts["no_consensus"], counts["rule_dependent"]) == (1, 1, 1)
    assert apply_view(rows, "consensus_in", "position") == rows[:1]


def _round_two(app, study, panel, owner, voters=(0, 1, 3, 4)):
    items = list(study.items)
    ops.carry_forward(study, items, "no consensus yet", owner)
    db.session.commit()
    launch(study)
    for index in voters:
        client = app.test_client()
        open_link(client, link_for_panellist(study, panel[index].id))
        assert vote(client, {i.id: 8 for i in items}).status_code == 302
    close(study)


def test_round_two_results_name_and_show_every_paired_test_and_attrition(
        app, client, after_round_one):
    study, panel, owner = after_round_one
    _round_two(app, study, panel, owner)
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/rounds/2/results").get_data(as_text=True)
    first = " ".join(_block(page, _items(study)["a-01"]).split())
    # a-01 paired: 8->8, 9->8, 8->8, 7->8: Scheibe 0.5 * (1 + 2 + 1) / 4
    assert "Scheibe net change</th><td>0.500 (not stable: threshold 0.15)" in first
    assert "McNemar (agree band vs not)</th><td>b 0, c 0, p 1.000" in first
    assert "Quadratic-weighted κ" in first and "(levels: the whole scale)" in first
    assert "zero differences: wilcox; continuity correction on" in first
    # attrition: panellists 2 (clinician, 7) and 5 (parent, 2) left after round 1
    assert "Attrition bias" in first and "Mann-Whitney U" in first
    assert "<td>Whole panel</td><td class=\"num\">4</td><td class=\"num\">2</td>" in first
    assert "<td>Clinician</td><td class=\"num\">2</td><td class=\"num\">1</td>" in first
    assert "<td>Parent</td><td class=\"num\">2</td><td class=\"num\">1</td>" in first
    assert "tie-corrected, statements as subjects" in page
    assert "coincidence matrix" in page
