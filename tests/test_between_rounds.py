"""Between rounds (issue 10, point 6) and the final meeting (point 8)."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from delphi.decisions import operations as ops
from delphi.exports.downloads import export
from delphi.extensions import db
from delphi.models import (
    AuditEvent,
    DomainError,
    DropOutcome,
    Item,
    ItemStatus,
    MeetingOutcome,
    Suggestion,
)

from .conftest import csrf_token, login
from .flows import close, confirm_in_console, launch, link_for_panellist, open_link, vote
from .test_feedback import _round_one

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def after_round_one(app, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    _round_one(app, study, panel)
    return study, panel, owner


def _items(study):
    db.session.expire(study, ["items"])
    return {i.label: i for i in study.items}


def _actions(prefix):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like(prefix))
                              .order_by(AuditEvent.id)).all()


def test_a_decision_is_undone_through_the_console_until_the_next_launch(client, after_round_one):
    study, _, owner = after_round_one
    items = _items(study)
    new_id = ops.reword(study, items["a-02"], "Clearer", "vague", owner).id
    db.session.commit()
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/1/results"
    html = client.get(url).get_data(as_text=True)
    assert "Decisions after round 1 (1)" in html
    from delphi.models import ItemDecision

    decision = db.session.scalar(sa.select(ItemDecision))
    page = client.post(f"/studies/{study.slug}/decisions/{decision.id}/undo",
                       data={"csrf_token": csrf_token(client, url)}, follow_redirects=True)
    assert "decision is undone" in page.get_data(as_text=True)
    items = _items(study)
    assert items["a-02"].status is ItemStatus.ACTIVE and db.session.get(Item, new_id) is None
    event = _actions("item.decision_undone")[-1]
    assert event.detail["before"]["kind"] == "reword" and event.detail["after"] is None
    # once round 2 is launched, the decisions after round 1 are fixed
    decision = ops.carry_forward(study, [items["a-01"]], "keep", owner)
    db.session.commit()
    launch(study)
    with pytest.raises(DomainError):
        ops.undo_decision(study, decision, owner)


def test_undoing_an_add_removes_the_statement_and_frees_the_suggestion(after_round_one):
    study, panel, owner = after_round_one
    suggestion = Suggestion(round_id=study.rounds[0].id, panellist_id=panel[0].id,
                            text="School attendance")
    db.session.add(suggestion)
    db.session.commit()
    item = ops.add_statement(study, study.sections[0], "a-09", suggestion.text, "", "new",
                             owner, suggestion)
    db.session.commit()
    from delphi.models import ItemDecision

    ops.undo_decision(study, db.session.scalar(sa.select(ItemDecision)), owner)
    db.session.commit()
    assert db.session.get(Item, item.id) is None and suggestion.resulting_item_id is None


def test_reword_split_merge_and_add_keep_plain_text_and_rationale(client, after_round_one):
    study, _, owner = after_round_one
    items = _items(study)
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/1/results"
    token = csrf_token(client, url)
    base = f"/studies/{study.slug}"
    client.post(f"{base}/items/{items['a-01'].id}/reword", data={
        "csrf_token": token, "text": "Reworded", "plain_text": "Simple words",
        "rationale": "New why", "reason": "vague"})
    client.post(f"{base}/items/{items['a-02'].id}/split", data={
        "csrf_token": token, "texts": "Part one\nPart two", "plain_texts": "One\nTwo",
        "rationale": "Split why", "reason": "two in one"})
    client.post(f"{base}/decisions/add", data={
        "csrf_token": token, "section": study.sections[1].id, "key": "b-09",
        "text": "Added", "plain_text": "Added simply", "rationale": "Add why",
        "reason": "missing"})
    items = _items(study)
    assert (items["a-01.v2"].plain_text, items["a-01.v2"].rationale) == ("Simple words",
                                                                         "New why")
    assert [(items[k].plain_text, items[k].rationale) for k in ("a-02-a", "a-02-b")] == [
        ("One", "Split why"), ("Two", "Split why")]
    assert (items["b-09"].plain_text, items["b-09"].rationale) == ("Added simply", "Add why")


def test_a_merge_keeps_plain_text_and_rationale(client, after_round_one):
    study, _, owner = after_round_one
    items = _items(study)
    login(client, owner.email)
    token = csrf_token(client, f"/studies/{study.slug}/rounds/1/results")
    client.post(f"/studies/{study.slug}/decisions/merge", data={
        "csrf_token": token, "items": [items["a-01"].id, items["b-01"].id], "key": "m-1",
        "text": "Merged", "plain_text": "Merged simply", "rationale": "Merge why",
        "reason": "overlap"})
    merged = _items(study)["m-1"]
    assert (merged.plain_text, merged.rationale) == ("Merged simply", "Merge why")


def test_a_split_with_mismatched_plain_lines_is_refused(after_round_one):
    study, _, owner = after_round_one
    with pytest.raises(DomainError, match="one plain-language line per new statement"):
        ops.split(study, _items(study)["a-01"], ["one", "two"], "r", owner, ["only one"])


def _suggest(study, panel, text, n=0):
    suggestion = Suggestion(round_id=study.current_round.id, panellist_id=panel[n].id,
                            text=text)
    db.session.add(suggestion)
    db.session.commit()
    return suggestion


def test_suggestions_are_dismissed_split_per_line_and_merged(client, after_round_one):
    study, panel, owner = after_round_one
    many = _suggest(study, panel, "Add school attendance\n\n- Add sleep quality\nAdd pain")
    other = _suggest(study, panel, "Add fatigue", 1)
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/1/results"
    html = client.get(url).get_data(as_text=True)
    assert "Split into one suggestion per line" in html
    token = csrf_token(client, url)
    page = client.post(f"/studies/{study.slug}/suggestions/{many.id}/split",
                       data={"csrf_token": token}, follow_redirects=True)
    assert "now 3 suggestions" in page.get_data(as_text=True)
    parts = db.session.scalars(sa.select(Suggestion).where(Suggestion.parent_id == many.id)
                               .order_by(Suggestion.id)).all()
    assert [p.text for p in parts] == ["Add school attendance", "Add sleep quality", "Add pain"]
    page = client.post(f"/studies/{study.slug}/suggestions/{parts[2].id}/dismiss",
                       data={"csrf_token": token, "reason": "Out of scope"},
                       follow_redirects=True)
    assert "set aside" in page.get_data(as_text=True)
    page = client.post(f"/studies/{study.slug}/suggestions/merge", follow_redirects=True,
                       data={"csrf_token": token, "suggestions": [parts[1].id, other.id],
                             "text": "Add sleep and fatigue"})
    assert "merged into one" in page.get_data(as_text=True)
    db.session.expire_all()
    open_texts = db.session.scalars(sa.select(Suggestion.text).where(
        Suggestion.state == "open")).all()
    assert sorted(open_texts) == ["Add school attendance", "Add sleep and fatigue"]
    assert {e.action for e in _actions("suggestion.%")} == {
        "suggestion.split", "suggestion.dismissed", "suggestion.merged"}
    # a dismissed suggestion cannot be dismissed again, nor become a statement
    with pytest.raises(DomainError, match="dismissed"):
        ops.dismiss_suggestion(study, db.session.get(Suggestion, parts[2].id), "again", owner)


@pytest.mark.parametrize("reason,message", [("", "Give the reason"), ("x" * 5001, "5000"),
                                            ("a\x00", "NUL")])
def test_a_dismissal_needs_a_good_reason(client, after_round_one, reason, message):
    study, panel, owner = after_round_one
    suggestion = _suggest(study, panel, "Add something")
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/1/results"
    page = client.post(f"/studies/{study.slug}/suggestions/{suggestion.id}/dismiss",
                       data={"csrf_token": csrf_token(client, url), "reason": reason},
                       follow_redirects=True)
    assert message in page.get_data(as_text=True)
    db.session.refresh(suggestion)
    assert suggestion.state == "open"


def test_a_single_line_suggestion_is_not_split(after_round_one):
    study, panel, owner = after_round_one
    with pytest.raises(DomainError, match="only one line"):
        ops.split_suggestion(study, _suggest(study, panel, "Just one"), owner)


def test_suggestions_can_be_collected_in_every_round(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    study.suggestions_every_round = True
    db.session.commit()
    launch(study)
    close(study)
    rnd = launch(study)
    assert rnd.allow_suggestions
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    assert 'name="suggestion"' in client.get("/vote").get_data(as_text=True)
    response = vote(client, {i.id: 5 for i in study.items}, extra={"suggestion": "More on QoL"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Suggestion.text).where(
        Suggestion.round_id == rnd.id)) == "More on QoL"


def test_launching_with_undecided_statements_needs_them_confirmed(client, after_round_one):
    study, _, owner = after_round_one
    login(client, owner.email)
    path = f"/studies/{study.slug}/rounds/launch"
    html = client.get(path).get_data(as_text=True)
    assert 'name="undecided_confirmed"' in html and "3 statements of round 1 have no" in html
    page = client.post(path, data={"csrf_token": csrf_token(client, path), "confirmed": "yes"},
                       follow_redirects=True)
    assert "tick the box" in page.get_data(as_text=True)
    assert len(study.rounds) == 1
    confirm_in_console(client, path)  # ticks the box, as a facilitator who read the list
    db.session.expire(study, ["rounds"])
    assert len(study.rounds) == 2


@pytest.fixture
def finished(after_round_one):
    study, panel, owner = after_round_one
    ops.drop(study, _items(study)["a-01"], DropOutcome.CONSENSUS_IN, "agreed", owner)
    ops.finish_study(study, owner)
    db.session.commit()
    return study, owner


def test_the_final_meeting_outcome_is_recorded_and_exported(client, finished):
    study, owner = finished
    item = _items(study)["a-01"]
    login(client, owner.email)
    url = f"/studies/{study.slug}/meeting"
    assert item.text in client.get(url).get_data(as_text=True)
    page = client.post(f"{url}/{item.id}", follow_redirects=True, data={
        "csrf_token": csrf_token(client, url), f"i{item.id}-votes_for": "11",
        f"i{item.id}-votes_against": "2", f"i{item.id}-votes_abstain": "1",
        f"i{item.id}-final_wording": "First statement, as endorsed"})
    assert "is recorded" in page.get_data(as_text=True)
    event = _actions("meeting.recorded")[-1]
    assert event.detail["before"] is None and event.detail["after"]["for"] == 11
    rows = list(csv.DictReader(io.StringIO(
        export(study, "statements", "csv").data.decode("utf-8-sig"))))
    row = next(r for r in rows if r["item"] == "a-01")
    assert (row["meeting_for"], row["meeting_against"], row["meeting_abstain"],
            row["meeting_endorsed"], row["meeting_final_wording"]) == (
        "11", "2", "1", "true", "First statement, as endorsed")
    report = export(study, "report", "html").data.decode()
    assert "Final meeting: endorsed (11 for, 2 against, 1 abstained)" in report
    # correcting it is audited with before and after
    ops.record_meeting_outcome(study, item, 10, 3, 1, "", owner)
    db.session.commit()
    event = _actions("meeting.recorded")[-1]
    assert event.detail["before"]["for"] == 11 and event.detail["after"]["final_wording"] == ""


@pytest.mark.parametrize("field,value,message", [
    ("votes_for", "", "Enter a whole number"),
    ("votes_for", "-1", "from 0 to 10000"),
    ("votes_against", "ten", "Enter a whole number"),
    ("votes_abstain", "99999", "from 0 to 10000"),
    ("final_wording", "x" * 5001, "5000"),
    ("final_wording", "a\x00b", "NUL"),
    ("final_wording", SCRIPT, "markup"),
    ("votes_for", "0", "all three are 0"),
])
def test_bad_meeting_input_is_refused_and_nothing_saved(client, finished, field, value,
                                                        message):
    study, owner = finished
    item = _items(study)["a-01"]
    login(client, owner.email)
    url = f"/studies/{study.slug}/meeting"
    data = {"votes_for": "5", "votes_against": "0", "votes_abstain": "0",
            "final_wording": ""} | {field: value}
    if field == "votes_for" and value == "0":
        data["votes_against"] = "0"
    page = client.post(f"{url}/{item.id}", data={"csrf_token": csrf_token(client, url)}
                       | {f"i{item.id}-{k}": v for k, v in data.items()})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and message in html and SCRIPT not in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeetingOutcome)) == 0
