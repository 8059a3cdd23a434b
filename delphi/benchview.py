"""A bench-only endpoint: one indexed query, the floor other pages are measured against.

It is registered only when ``BENCH_ENDPOINTS`` is true (``DELPHI_BENCH_ENDPOINTS=1``,
set by ``bench/load_voting.py``); a production server never has it.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify, request

from .extensions import db

bp = Blueprint("bench", __name__, url_prefix="/_bench")

ONE_QUERY = sa.text("SELECT id FROM panellist WHERE id = :id")
DEFAULT_UPPER = 2000


@bp.route("/one-query")
def one_query():
    """Look up one random panellist by primary key and answer with its id (or null)."""
    upper = max(1, min(request.args.get("max", DEFAULT_UPPER, type=int) or 1, 10**9))
    found = db.session.execute(ONE_QUERY, {"id": random.randint(1, upper)}).scalar()
    return jsonify(id=found)


def init_app(app: Flask) -> None:
    app.logger.warning("DELPHI_BENCH_ENDPOINTS is on: /_bench/ answers; never in production")
    app.register_blueprint(bp)
