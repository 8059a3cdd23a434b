"""The data migration of stored round results (0006): upgrade, downgrade, upgrade again.

It runs ``tests/migrate_results.py`` in its own process on a fresh database: a SQLite
file, or, when the suite runs on PostgreSQL, a database created beside the test database
for the run and dropped after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from delphi.consensus.schema import read_result
from delphi.consensus.upgrade import upgrade_v1

from .migrate_results import FIXTURES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("DELPHI_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrated.sqlite'}"
        return
    base = sa.make_url(url)
    name = f"{base.database}_migration_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_the_migration_converts_stored_results_and_back(fresh_database):
    done = subprocess.run(  # noqa: S603 - this interpreter on a fixed module and a test URL
        [sys.executable, "-m", "tests.migrate_results", fresh_database],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    old = [json.loads(f.read_text(encoding="utf-8")) for f in FIXTURES]
    # upgrade: every stored result in version 2, exactly what the pure function gives
    assert found["upgraded"] == [upgrade_v1(data) for data in old]
    assert all(read_result(data)["schema_version"] == 2 for data in found["upgraded"])
    # downgrade: the old results exactly as they were stored; upgrade again: version 2
    assert found["downgraded"] == old
    assert found["upgraded_again"] == found["upgraded"]
    # a result of an unknown version: the downgrade refuses and converts nothing
    assert found["refused"] == 1
    assert "analysis schema version 99 is neither 2 nor 1" in done.stderr
    assert [d.get("schema_version") for d in found["after_refusal"]] == [99, 2]
    # where the refused downgrade leaves the database: on SQLite each migration commits on
    # its own, so the later ones' downgrades stay done and it stops at 0006; PostgreSQL
    # runs the whole downgrade in one transaction, so it is all rolled back to the head
    if fresh_database.startswith("postgresql"):
        head = ScriptDirectory(str(ROOT / "delphi" / "migrations")).get_current_head()
        assert found["revision_after_refusal"] == head
    else:
        assert found["revision_after_refusal"] == "8c4f2a6d1e07"
