"""The bench-only endpoint exists only when DELPHI_BENCH_ENDPOINTS is on."""

from __future__ import annotations

from delphi import create_app
from delphi.extensions import db


def test_the_bench_endpoint_is_absent_by_default(client):
    assert client.get("/_bench/one-query").status_code == 404


def test_the_bench_endpoint_answers_one_query_when_enabled(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    bench_app = create_app({**{k: app.config[k] for k in ("SECRET_KEY", "DATABASE_URL",
                                                          "BASE_URL")},
                            "TESTING": True, "BENCH_ENDPOINTS": True})
    try:
        with bench_app.test_client() as client:
            known = max(p.id for p in panel)
            response = client.get(f"/_bench/one-query?max={known}")
            assert response.status_code == 200
            found = response.get_json()["id"]
            assert found is None or 1 <= found <= known
            first = 1 if any(p.id == 1 for p in panel) else None
            assert client.get("/_bench/one-query?max=1").get_json() == {"id": first}
            assert client.get("/_bench/one-query?max=0").status_code == 200
    finally:
        with bench_app.app_context():
            db.session.remove()
            db.engine.dispose()
