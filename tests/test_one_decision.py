"""One decision per statement per round: a later decision replaces the earlier one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from delphi.decisions import operations as ops
from delphi.exports.data import load
from delphi.exports.flow import decision_rows
from delphi.extensions import db
from delphi.models import (
    AuditEvent,
    DomainError,
    DropOutcome,
    Item,
    ItemDecision,
    ItemLink,
    ItemStatus,
)

from .conftest import csrf_token, login
from .flows import close, launch
from .test_feedback import _round_one


@pytest.fixture
def after_round_one(app, factory):
    owner = factory.facilitator("lead@example.org")
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    _round_one(app, study, panel)
    return study, owner


def _items(study):
    db.session.expire(study, ["items"])
    return {i.label: i for i in study.items}


def _assert_one_decision_per_statement_and_round(study):
    seen: dict[tuple[int, str], str] = {}
    for row in decision_rows(load(study)):
        for subject in row["subjects"] + (row["result"] if row["kind"] == "add" else []):
            key = (row["after_round"], subject)
            assert key not in seen, f"{subject} after round {key[0]}: {seen[key]} and {row['kind']}"
            seen[key] = row["kind"]
    return seen


def test_carry_then_drop_then_reword_leaves_one_decision(after_round_one):
    study, owner = after_round_one
    items = _items(study)
    ops.carry_forward(study, [items["a-01"], items["a-02"]], "keep both", owner)
    ops.drop(study, items["a-01"], DropOutcome.CONSENSUS_IN, "83% agree", owner)
    ops.reword(study, items["a-01"], "First statement, clearer", "reworded after all", owner)
    ops.reword(study, items["a-01"], "First statement, clearest", "better still", owner)
    db.session.commit()
    seen = _assert_one_decision_per_statement_and_round(study)
    assert seen == {(1, "a-01"): "reword", (1, "a-02"): "carry"}
    items = _items(study)
    assert sorted(items) == ["a-01", "a-01.v2", "a-02", "b-01"]
    assert items["a-01.v2"].text == "First statement, clearest"
    assert items["a-01"].status is ItemStatus.SUPERSEDED
    replaced = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "item.decision_replaced").order_by(AuditEvent.id)).all()
    assert [(e.detail["kind"], e.detail["replaced_by"], e.detail["removed"])
            for e in replaced] == [("carry", "drop", []), ("drop", "reword", []),
                                   ("reword", "reword", ["a-01.v2"])]


def test_replacing_a_merge_or_split_removes_what_it_made(after_round_one):
    study, owner = after_round_one
    items = _items(study)
    ops.merge(study, [items["a-01"], items["a-02"]], "a-merged", "Both", "overlap", owner)
    ops.split(study, items["b-01"], ["Part one", "Part two"], "two ideas", owner)
    ops.drop(study, items["a-02"], DropOutcome.CONSENSUS_OUT, "out after all", owner)
    ops.carry_forward(study, [items["b-01"]], "keep it whole", owner)
    db.session.commit()
    items = _items(study)
    assert sorted(items) == ["a-01", "a-02", "b-01"]
    assert items["a-01"].status is ItemStatus.ACTIVE  # the merge is undone for both
    assert items["a-02"].status is ItemStatus.DROPPED
    assert items["b-01"].status is ItemStatus.ACTIVE
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ItemLink)) == 0
    assert _assert_one_decision_per_statement_and_round(study) == {
        (1, "a-02"): "drop", (1, "b-01"): "carry"}
    # the merged key is free again
    ops.merge(study, [items["a-01"], items["b-01"]], "a-merged", "Again", "overlap", owner)
    db.session.commit()
    _assert_one_decision_per_statement_and_round(study)


def test_a_statement_made_this_round_cannot_be_decided_until_rated(after_round_one):
    study, owner = after_round_one
    items = _items(study)
    added = ops.add_statement(study, study.sections[0], "a-03", "New one", "", "suggested",
                              owner)
    with pytest.raises(DomainError, match="a-03 was added after round 1"):
        ops.drop(study, added, DropOutcome.OTHER, "no", owner)
    db.session.rollback()
    new = ops.reword(study, _items(study)["a-01"], "Clearer", "clarity", owner)
    with pytest.raises(DomainError, match="made by a reword after round 1"):
        ops.carry_forward(study, [new], "keep", owner)
    db.session.rollback()
    assert items


def test_decisions_of_a_round_are_fixed_once_the_next_round_is_launched(after_round_one):
    study, owner = after_round_one
    items = _items(study)
    ops.drop(study, items["a-01"], DropOutcome.CONSENSUS_IN, "in", owner)
    db.session.commit()
    launch(study)
    with pytest.raises(DomainError, match="decide after it closes"):
        ops.carry_forward(study, [items["a-01"]], "bring it back", owner)
    db.session.rollback()
    close(study)
    with pytest.raises(DomainError, match="only current statements"):
        ops.carry_forward(study, [items["a-01"]], "bring it back", owner)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ItemDecision)) == 1


def test_the_console_replaces_a_decision(client, after_round_one):
    study, _ = after_round_one
    login(client, "lead@example.org")
    page = f"/studies/{study.slug}/rounds/1/results"
    token = csrf_token(client, page)
    item = _items(study)["b-01"]
    client.post(f"/studies/{study.slug}/items/{item.id}/carry",
                data={"csrf_token": token, "reason": "keep"})
    html = client.get(page).get_data(as_text=True)
    assert "Replace this decision" in html
    assert f'/items/{item.id}/drop"' in html
    response = client.post(f"/studies/{study.slug}/items/{item.id}/drop", data={
        "csrf_token": token, "outcome": "consensus_in", "reason": "agreed after all"})
    assert response.status_code == 302
    assert db.session.scalars(sa.select(ItemDecision.kind)).all() == ["drop"]
    assert db.session.get(Item, item.id).status is ItemStatus.DROPPED
