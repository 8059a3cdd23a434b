"""Run the analysis-schema migration on a fresh database with stored results in it.

``python -m tests.migrate_results URL`` builds the schema up to the revision before the
migration, stores the version-1 results of ``tests/data/results``, then upgrades,
downgrades and upgrades again, and prints what ``round_result.data`` held after each
step (JSON). A separate process: Alembic reconfigures logging, which must not leak into
the test session. ``tests/test_migration_results.py`` runs it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import flask_migrate
import sqlalchemy as sa

from delphi import create_app
from delphi.extensions import db

BEFORE = "5b2d8e7a9c05"
FIXTURES = sorted((Path(__file__).resolve().parent / "data" / "results").glob("v1-*.json"))


def stored() -> list[dict]:
    """Every stored result's data, in id order."""
    rows = db.session.execute(sa.text("SELECT data FROM round_result ORDER BY id")).scalars()
    found = [json.loads(d) if isinstance(d, str) else d for d in rows]
    db.session.rollback()  # end the read: the migration writes through its own connection
    return found


def revision() -> str:
    found = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    db.session.rollback()
    return str(found)


def insert_results(results: list[dict]) -> None:
    """A study with one closed round per result, each holding that result."""
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).replace(tzinfo=None)
    study = sa.table("study", *(sa.column(c) for c in (
        "id", "slug", "title", "description", "plain_language", "method", "state", "scale_key",
        "allow_uts", "feedback_by_group", "min_group_size", "created_at")))
    rnd = sa.table("round", *(sa.column(c) for c in (
        "id", "study_id", "number", "state", "allow_suggestions", "ask_reason_on_band_change",
        "opened_at", "closed_at", "created_at")))
    result = sa.table("round_result", sa.column("id"), sa.column("round_id"),
                      sa.column("computed_at"), sa.column("data", sa.JSON))
    db.session.execute(study.insert().values(
        id=1, slug="migrated", title="Migrated", description="", plain_language="",
        method="Delphi", state="running", scale_key="grade-1-9", allow_uts=True,
        feedback_by_group=True, min_group_size=3, created_at=now))
    for k, data in enumerate(results, start=1):
        db.session.execute(rnd.insert().values(
            id=k, study_id=1, number=k, state="closed", allow_suggestions=False,
            ask_reason_on_band_change=False, opened_at=now, closed_at=now, created_at=now))
        db.session.execute(result.insert().values(id=k, round_id=k, computed_at=now, data=data))
    db.session.commit()


def main(url: str) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "migration-test", "DATABASE_URL": url,
                      "BASE_URL": "https://delphi.test"})
    out: dict[str, object] = {}
    with app.app_context():
        flask_migrate.upgrade(revision=BEFORE)
        insert_results([json.loads(f.read_text(encoding="utf-8")) for f in FIXTURES])
        flask_migrate.upgrade()
        out["upgraded"] = stored()
        flask_migrate.downgrade(revision=BEFORE)
        out["downgraded"] = stored()
        flask_migrate.upgrade()
        out["upgraded_again"] = stored()
        # A result of a version this code does not know: the downgrade refuses it (the log
        # says why) and converts nothing.
        db.session.execute(sa.text("UPDATE round_result SET data = :data WHERE id = 1"),
                           {"data": json.dumps({"schema_version": 99, "items": []})})
        db.session.commit()
        try:
            flask_migrate.downgrade(revision=BEFORE)
            out["refused"] = None
        except SystemExit as error:  # flask-migrate logs the error and exits with 1
            out["refused"] = error.code
        db.session.rollback()
        out["after_refusal"] = stored()
        out["revision_after_refusal"] = revision()
        db.session.remove()
        db.engine.dispose()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
