"""The unit of work: one commit, a rollback on any failure, callbacks only after commit."""

from __future__ import annotations

import pytest

from delphi.extensions import db
from delphi.models import DomainError, Facilitator, IllegalTransition
from delphi.uow import unit_of_work


def _count() -> int:
    return db.session.query(Facilitator).count()


def test_work_is_committed_once_and_callbacks_run_after(app):
    seen = []
    with app.app_context():
        before = _count()
        with unit_of_work() as work:
            db.session.add(Facilitator(email="uow@example.org", name="Uow", password_hash="x"))
            work.after_commit(lambda: seen.append(_count()))
            assert seen == []
        db.session.remove()
        assert _count() == before + 1
    assert seen == [before + 1]


def test_a_refusal_rolls_everything_back_and_runs_no_callback(app):
    seen = []
    with app.app_context():
        before = _count()
        with pytest.raises(DomainError) as caught, unit_of_work() as work:
            db.session.add(Facilitator(email="uow2@example.org", name="Uow", password_hash="x"))
            db.session.flush()
            work.after_commit(lambda: seen.append("ran"))
            raise DomainError("round.not_open", "Round {number} is not open.", number=2)
        assert _count() == before
    assert seen == []
    assert caught.value.code == "round.not_open"
    assert caught.value.params == {"number": 2}
    assert str(caught.value) == "Round 2 is not open."
    assert caught.value.render("La ronde {number} n'est pas ouverte.") == (
        "La ronde 2 n'est pas ouverte.")


def test_read_only_work_writes_nothing(app):
    with app.app_context():
        before = _count()
        with unit_of_work(write=False):
            db.session.add(Facilitator(email="uow3@example.org", name="Uow", password_hash="x"))
            db.session.flush()
        assert _count() == before


def test_old_style_errors_keep_their_message_and_get_a_code():
    assert DomainError("no such thing").code == "refused"
    assert str(DomainError("no such thing")) == "no such thing"
    error = IllegalTransition("round 1 is open, not draft")
    assert isinstance(error, DomainError)
    assert error.code == "illegal_transition"
    assert str(error) == "round 1 is open, not draft"
