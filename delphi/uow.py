"""One unit of work for every surface: views, command-line commands and the mail worker.

A use case in ``operations.py`` flushes and never commits; its caller wraps it in
``unit_of_work()``, which begins the transaction (on SQLite with the write lock taken at
BEGIN, so nothing fails half-way because another writer committed first), commits once
at the end, rolls back on any exception, and runs the after-commit callbacks only once
the commit has succeeded (sending a wake-up, deleting a file: things that must not
happen for work that was rolled back)::

    with unit_of_work() as work:
        round_ = operations.launch_round(study, actor)
        work.after_commit(lambda: notify(round_.id))

``unit_of_work(write=False)`` is for work that only reads: no write lock, and it ends
the transaction with a rollback, so nothing can be written by mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .extensions import db, write_transaction


class UnitOfWork:
    """Callbacks to run once the work has been committed."""

    def __init__(self) -> None:
        self._after_commit: list[Callable[[], Any]] = []

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` after a successful commit, in the order registered."""
        self._after_commit.append(callback)


@contextmanager
def unit_of_work(*, write: bool = True) -> Iterator[UnitOfWork]:
    """Begin, yield, commit (or roll back on any exception), then run the callbacks."""
    work = UnitOfWork()
    if not write:
        db.session.commit()  # end any transaction left open, so reads are current
        try:
            yield work
        finally:
            db.session.rollback()
        return
    try:
        with write_transaction():
            yield work
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    for callback in work._after_commit:
        callback()
