"""PostgreSQL going away while panellists vote: requests fail cleanly, then succeed.

These run in the PostgreSQL pass of CI (DELPHI_TEST_DATABASE_URL); on SQLite there is no
server to lose, and they are skipped with that reason.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from delphi.extensions import db
from delphi.models import Rating, Response

from .flows import launch, link_for_panellist, open_link, page_fields


@pytest.fixture
def postgres(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs the PostgreSQL server (set DELPHI_TEST_DATABASE_URL)")
    return db.engine


def _terminate(engine, pid: int | None = None) -> int:
    """Kill server connections (all but our own, or one) as a restart would; returns how many."""
    with engine.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND (CAST(:pid AS integer) IS NULL OR pid = :pid)"
        ), {"pid": pid}).scalar()
        conn.commit()
    return killed


def test_connections_lost_between_requests_are_replaced(app, postgres, factory):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    data = fields | {"action": "submit"} | {f"rating-{i.id}": "7" for i in study.items}
    db.session.commit()  # the test's connection goes back to the pool, to die there too
    _terminate(postgres)  # every pooled connection is now dead, as after a restart
    assert client.post("/vote", data=data).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 3


def test_a_connection_lost_mid_save_leaves_no_partial_answers(app, postgres, factory):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    killed = []

    def kill_after_first_rating(conn, cursor, statement, *_args):
        if statement.startswith("INSERT INTO rating") and not killed:
            pid = conn.connection.dbapi_connection.info.backend_pid
            killed.append(_terminate(postgres, pid))

    event.listen(db.engine, "after_cursor_execute", kill_after_first_rating)
    try:
        data = fields | {"action": "submit"} | {f"rating-{i.id}": "7" for i in study.items}
        response = client.post("/vote", data=data)
    finally:
        event.remove(db.engine, "after_cursor_execute", kill_after_first_rating)
    assert killed == [1]
    # the save was retried on a fresh connection: all or nothing, never a part
    ratings = db.session.scalar(sa.select(sa.func.count()).select_from(Rating))
    responses = db.session.scalar(sa.select(sa.func.count()).select_from(Response))
    if response.status_code == 302:
        assert (ratings, responses) == (3, 1)
    else:
        assert response.status_code == 500 and (ratings, responses) == (0, 0)
        assert "Nothing you sent was half-saved" in response.get_data(as_text=True)
        retry = client.post("/vote", data=fields | {"action": "submit"} |
                            {f"rating-{i.id}": "7" for i in study.items})
        assert retry.status_code == 302


def test_while_the_database_is_down_requests_fail_cleanly(tmp_path):
    """During a restart the server refuses connections: pages answer a clean 500."""
    from delphi import create_app
    from tests.smtp_server import free_port

    app = create_app({
        "TESTING": True, "PROPAGATE_EXCEPTIONS": False, "SECRET_KEY": "k",
        "BASE_URL": "https://x",
        # a port where nothing listens, as while PostgreSQL restarts
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/down",
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
    })
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    responses = [client.get("/p/some-token"),
                 client.post("/login", data={"email": "a@example.org", "password": "x"})]
    for response in responses:
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "Nothing you sent was half-saved" in body
        assert "Traceback" not in body and "psycopg" not in body
