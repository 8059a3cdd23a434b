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


def test_every_error_has_a_code_and_the_one_argument_form_is_gone():
    with pytest.raises(TypeError):
        DomainError("no such thing")  # type: ignore[call-arg]
    error = IllegalTransition("round.not_draft", "round {number} is {state}, not draft",
                              number=1, state="open")
    assert isinstance(error, DomainError)
    assert (error.code, error.params) == ("round.not_draft", {"number": 1, "state": "open"})
    assert str(error) == "round 1 is open, not draft"


def _calls(path, name: str) -> list[int]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        or (isinstance(node.func, ast.Name) and node.func.id == name))]


def test_only_the_unit_of_work_commits():
    """Views, commands and the mail worker all commit through ``unit_of_work``."""
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "delphi"
    allowed = {"uow.py", "extensions.py"}  # extensions: write_transaction, used by uow only
    found = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        if where in allowed or where.startswith("migrations/"):
            continue
        found += [f"{where}:{line} commits" for line in _calls(path, "commit")]
        found += [f"{where}:{line} opens a write_transaction"
                  for line in _calls(path, "write_transaction")]
    assert found == []


def test_the_scan_finds_a_commit(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from x import db\n\ndef f():\n    db.session.commit()\n")
    assert _calls(module, "commit") == [4]
