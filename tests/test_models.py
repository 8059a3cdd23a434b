"""Invariants of the models: illegal moves raise, the schema rejects bad rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from delphi.extensions import db
from delphi.models import (
    IllegalTransition,
    Item,
    Rating,
    Response,
    Round,
    RoundState,
    StudyState,
    utcnow,
)


def test_round_moves_draft_open_closed_and_never_back(factory):
    study = factory.study()
    rnd = Round(study=study, number=1)
    db.session.add(rnd)
    with pytest.raises(IllegalTransition):
        rnd.close(utcnow())
    rnd.open(utcnow(), utcnow() + timedelta(days=7))
    with pytest.raises(IllegalTransition):
        rnd.open(utcnow(), None)
    rnd.close(utcnow())
    assert rnd.state is RoundState.CLOSED
    with pytest.raises(IllegalTransition):
        rnd.close(utcnow())
    db.session.commit()


def test_a_round_cannot_close_in_the_past(factory):
    study = factory.study()
    rnd = Round(study=study, number=1)
    with pytest.raises(IllegalTransition):
        rnd.open(utcnow(), utcnow() - timedelta(minutes=1))


def test_study_lifecycle_refuses_illegal_moves(factory):
    study = factory.study()
    with pytest.raises(IllegalTransition):
        study.move_to(StudyState.FINISHED)
    study.move_to(StudyState.RUNNING)
    with pytest.raises(IllegalTransition):
        study.move_to(StudyState.DRAFT)


def test_schema_rejects_an_open_round_without_an_opening_time(factory):
    study = factory.study()
    db.session.add(Round(study=study, number=1, state=RoundState.OPEN))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_schema_rejects_duplicate_round_numbers(factory):
    study = factory.study()
    db.session.add_all([Round(study=study, number=1), Round(study=study, number=1)])
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def _rating_parts(factory):
    study = factory.study()
    panellist = factory.panel(study, per_group=1)[0]
    rnd = Round(study=study, number=1)
    db.session.add(rnd)
    db.session.flush()
    response = Response(round_id=rnd.id, panellist_id=panellist.id)
    db.session.add(response)
    db.session.flush()
    return study, panellist, rnd, response


def test_schema_rejects_a_rating_that_is_both_a_value_and_unable_to_score(factory):
    study, panellist, rnd, response = _rating_parts(factory)
    db.session.add(Rating(response_id=response.id, round_id=rnd.id, panellist_id=panellist.id,
                          item_id=study.items[0].id, value=7, is_uts=True))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_schema_keeps_one_rating_per_panellist_item_and_round(factory):
    study, panellist, rnd, response = _rating_parts(factory)
    for value in (7, 8):
        db.session.add(Rating(response_id=response.id, round_id=rnd.id,
                              panellist_id=panellist.id, item_id=study.items[0].id, value=value))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_schema_rejects_an_unknown_scale_and_bad_thresholds(factory):
    study = factory.study()
    study.scale_key = "grade-1-10"
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    study = db.session.scalars(sa.select(type(study))).one()
    study.consensus.comet_agree_pct = 170
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_locked_consensus_settings_cannot_change(factory):
    study = factory.study()
    study.consensus.lock(utcnow())
    db.session.commit()
    study.consensus.comet_agree_pct = 80
    with pytest.raises(IllegalTransition, match="locked"):
        db.session.flush()
    db.session.rollback()
    assert study.consensus.comet_agree_pct == 70
    study.consensus.locked_at = None
    with pytest.raises(IllegalTransition):
        db.session.flush()
    db.session.rollback()


def test_settings_can_change_until_they_are_locked(factory):
    study = factory.study()
    study.consensus.comet_agree_pct = 80
    db.session.commit()
    assert study.consensus.comet_agree_pct == 80


def test_item_versions_are_unique_per_key(factory):
    study = factory.study()
    first = study.items[0]
    db.session.add(Item(study=study, section=first.section, key=first.key, version=1,
                        text="A duplicate"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(("name", "value"), [
    ("min_group_size", 5), ("scheibe_threshold", 0.2), ("wilcoxon_zero_method", "pratt"),
    ("wilcoxon_correction", False), ("round_thresholds", {"2": {"comet_agree_pct": 75}}),
])
def test_the_new_analysis_settings_are_locked_with_the_rest(factory, name, value):
    study = factory.study()
    study.consensus.lock(utcnow())
    db.session.commit()
    setattr(study.consensus, name, value)
    with pytest.raises(IllegalTransition, match=name):
        db.session.flush()
    db.session.rollback()


def test_a_misspelt_keyword_is_refused_rather_than_silently_dropped(app):
    from delphi.models import Item

    with pytest.raises(TypeError, match="'keyy' is not an attribute of Item"):
        Item(keyy="x")
    assert Item(key="a-01").key == "a-01"
