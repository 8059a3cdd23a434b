"""Time closing a round of 2,000 panellists x 500 statements on PostgreSQL, by part.

Run ``python bench/close_round.py`` (needs PostgreSQL; see bench/README.md).  In a
fresh ``bench_*`` database it launches round 1 of a study of 2,000 panellists and
500 statements, bulk-inserts their submitted answers (about 920,000 ratings), then
closes the round with ``delphi.rounds.operations.close_round`` and commits, as
``delphi close-round`` does.  It prints the time (target < 2 s) and its parts:
the records query (``study_records``: SQL and building the long records), the
statistics (``analyze``), storing the JSON result, and the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed  # noqa: E402


class Timer:
    """Time the parts of ``close_round`` by wrapping them for one call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.sql_seconds = 0.0
        self.sql_in_records = 0.0
        self.statements = 0

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            sql_before = self.sql_seconds
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                if label == "records":
                    self.sql_in_records += self.sql_seconds - sql_before

        setattr(owner, attr, timed)

    def listen(self, engine: Any) -> None:
        from sqlalchemy import event

        started: list[float] = []

        @event.listens_for(engine, "before_cursor_execute")
        def before(*_args: Any) -> None:
            started.append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def after(*_args: Any) -> None:
            self.sql_seconds += time.perf_counter() - started.pop()
            self.statements += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--panellists", type=int, default=2000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--database", default=f"bench_close_{os.getpid()}")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    with seed.bench_database(args.database, keep=args.keep_database) as url:
        app = seed.make_app(url)
        with app.app_context():
            from delphi.extensions import db
            from delphi.results import tables
            from delphi.rounds import operations as round_ops

            seed.upgrade_schema()
            started = time.perf_counter()
            study = seed.seed_study("bench-close", args.items, args.panellists)
            rnd = seed.launch(study)
            counts = seed.bulk_answers(rnd, comment_rate=0.002)
            seed.analyze_tables()
            seeded = time.perf_counter() - started
            db.session.expire_all()

            timer = Timer()
            timer.listen(db.engine)
            timer.wrap(tables, "study_table", "records")
            timer.wrap(tables, "analyze", "analyze")
            timer.wrap(tables, "store_results", "store")
            start = time.perf_counter()
            closed = round_ops.close_round(study, "bench")
            close_seconds = time.perf_counter() - start
            commit_start = time.perf_counter()
            db.session.commit()
            commit_seconds = time.perf_counter() - commit_start
            total = time.perf_counter() - start

            from delphi.models import RoundResult

            data = db.session.get(RoundResult, db.session.scalar(
                db.select(RoundResult.id).where(RoundResult.round_id == closed.id))).data
            dumps_start = time.perf_counter()
            size = len(json.dumps(data))
            dumps_seconds = time.perf_counter() - dumps_start
            db.session.remove()
            db.engine.dispose()

    parts = timer.seconds
    records, analyze, store = parts.get("records", 0.0), parts["analyze"], parts["store"]
    json_store = store - records - analyze
    print(f"close round: {args.panellists} panellists x {args.items} statements, "
          f"{counts.responses} submitted, {counts.ratings} ratings (seeded in {seeded:.1f} s)")
    print(f"  close_round + commit: {total:.2f} s (target < 2 s: "
          f"{'met' if total < 2 else 'NOT met'})")
    print(f"    records query                  {records:6.2f} s   of which SQL "
          f"{timer.sql_in_records:.2f} s, Python (rows to records) "
          f"{records - timer.sql_in_records:.2f} s")
    print(f"    analyze                        {analyze:6.2f} s")
    print(f"    JSON store (serialize, insert) {json_store:6.2f} s   ({size / 1e6:.1f} MB of JSON; "
          f"json.dumps alone {dumps_seconds:.2f} s)")
    print(f"    commit                         {commit_seconds:6.2f} s")
    print(f"    rest (lock, audit, count)      {close_seconds - store:6.2f} s")
    print(f"  {timer.statements} SQL statements, {timer.sql_seconds:.2f} s in the database "
          "driver")
    return 0


if __name__ == "__main__":
    sys.exit(main())
