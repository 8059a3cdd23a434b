"""Shared seeding helpers for the benchmarks: a throwaway PostgreSQL database and a study.

The study goes through the real code paths (``import_survey``, ``import_panel``,
``launch_round``, ``close_round``); only the panel's answers are bulk-inserted with
SQLAlchemy core, because submitting two million ratings through the voting page
would take longer than the benchmarks themselves.

Every database made here is named ``bench_*`` and dropped by the caller
(``drop_database``), also when a benchmark fails half-way.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[1]
# The platform's code to measure: this checkout, or another one named by BENCH_CODE (a
# copy of an earlier commit, to measure before and after a change side by side).
CODE = Path(os.environ.get("BENCH_CODE") or ROOT).resolve()
sys.path.insert(0, str(CODE))

from delphi import create_app  # noqa: E402
from delphi.extensions import db  # noqa: E402
from delphi.models import (  # noqa: E402
    Invitation,
    Rating,
    Response,
    ResponseState,
    Round,
    Study,
    utcnow,
)
from delphi.rounds import operations as round_ops  # noqa: E402
from delphi.studies import operations as study_ops  # noqa: E402
from delphi.surveys import parse_survey  # noqa: E402
from delphi.tokens import mint_token  # noqa: E402

# The PostgreSQL server, without a database name; override with BENCH_POSTGRES_URL.
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
BASE_URL = "http://127.0.0.1"
GROUPS = (
    ("clin", "Clinician"),
    ("nurse", "Nurse"),
    ("research", "Researcher"),
    ("parent", "Patient or parent"),
)


def database_url(name: str) -> str:
    return f"{POSTGRES_URL.rstrip('/')}/{name}"


def _admin_engine() -> sa.Engine:
    return sa.create_engine(database_url("postgres"), isolation_level="AUTOCOMMIT",
                            poolclass=sa.pool.NullPool)


def create_database(name: str) -> str:
    """Create an empty database ``name`` (dropping a leftover one) and return its URL."""
    if not name.startswith("bench_") or not name.replace("_", "").isalnum():
        raise ValueError(f"benchmark databases are named bench_*, not {name!r}")
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return database_url(name)


def drop_database(name: str) -> None:
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def app_settings(url: str) -> dict[str, str]:
    """The settings a production process needs, as ``DELPHI_*`` environment variables."""
    return {
        "DELPHI_DATABASE_URL": url,
        "DELPHI_SECRET_KEY": secrets.token_hex(32),
        "DELPHI_BASE_URL": BASE_URL,
        "DELPHI_LOG_LEVEL": "WARNING",
    }


def make_app(url: str, **extra: Any):
    """An app on ``url`` configured as in production (no TESTING, no DEBUG)."""
    return create_app({
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url,
        "BASE_URL": BASE_URL,
        "LOG_LEVEL": "WARNING",
        **extra,
    })


def upgrade_schema() -> None:
    """``delphi db upgrade``, inside the caller's app context, then the tables of models
    newer than the last migration (a branch's new table, before its migration is written)."""
    from flask_migrate import upgrade

    upgrade()
    db.create_all()


@contextmanager
def timed(label: str, out: dict[str, float] | None = None) -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    if out is not None:
        out[label] = elapsed


@contextmanager
def bench_database(name: str, keep: bool = False) -> Iterator[str]:
    """A fresh ``bench_*`` database for the block, dropped afterwards unless ``keep``."""
    url = create_database(name)
    try:
        yield url
    finally:
        if not keep:
            drop_database(name)


# --- the study --------------------------------------------------------------------------------

def survey_text(slug: str, items: int, sections: int = 3, groups: Sequence[tuple[str, str]] =
                GROUPS) -> str:
    """A survey definition with ``items`` statements spread over ``sections`` sections."""
    rng = random.Random(slug)
    words = ("remission", "relapse", "response", "toxicity", "cytokine", "infection",
             "B cell", "renal", "quality of life", "steroid", "durable", "follow-up")
    per_section = -(-items // sections)
    doc_sections = []
    n = 0
    for s in range(sections):
        section_items = []
        for _ in range(min(per_section, items - n)):
            n += 1
            topic = " ".join(rng.sample(words, 3))
            section_items.append({
                "key": f"s{s + 1}-{n:03d}",
                "text": f"Statement {n}: reports of {topic} should be collected at every visit "
                        "and described with the same definitions in every study.",
                "rationale": f"Harmonised reporting of {topic} (Source {n} 2024).",
            })
        doc_sections.append({"key": f"section-{s + 1}", "title": f"Section {s + 1}",
                             "description": "Statements about one part of the question.",
                             "items": section_items})
    doc = {
        "slug": slug,
        "title": f"Benchmark study {slug}",
        "description": "A synthetic study for the benchmarks.",
        "plain_language": "Rate each statement from 1 (not important) to 9 (critical).",
        "scale": {"key": "grade-1-9", "unable_to_score": True},
        "consensus": {"primary_rule": "comet", "comet": {"agree_pct": 70, "disagree_pct": 15}},
        "feedback": {"by_group": True, "min_group_size": 3, "ask_reason": True},
        "groups": [{"key": k, "name": v} for k, v in groups],
        "sections": doc_sections,
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def panel_csv(panellists: int, domain: str, groups: Sequence[tuple[str, str]] = GROUPS) -> str:
    lines = ["name,email,group,country"]
    for n in range(1, panellists + 1):
        key = groups[n % len(groups)][0]
        lines.append(f"Expert {n},expert{n}@{domain},{key},Country {n % 40}")
    return "\n".join(lines) + "\n"


def seed_study(slug: str, items: int, panellists: int, domain: str | None = None) -> Study:
    """Import a study and its panel through the real use cases, and commit."""
    definition = parse_survey(survey_text(slug, items), f"{slug}.yaml")
    study = study_ops.import_survey(definition, "bench")
    study_ops.import_panel(study, panel_csv(panellists, domain or f"{slug}.example.org"), "bench")
    db.session.commit()
    return study


def launch(study: Study) -> Round:
    rnd = round_ops.launch_round(study, "bench")
    db.session.commit()
    return rnd


def close(study: Study) -> Round:
    rnd = round_ops.close_round(study, "bench")
    db.session.commit()
    return rnd


@dataclass
class AnswerCounts:
    responses: int = 0
    ratings: int = 0
    comments: int = 0


def bulk_answers(rnd: Round, submitted: float = 0.95, blank: float = 0.03, uts: float = 0.04,
                 comment_rate: float = 0.0, seed: int = 1, chunk: int = 20000) -> AnswerCounts:
    """Insert submitted answer sheets for the round with SQLAlchemy core, and commit.

    A share ``submitted`` of the invited panellists submitted; each of their answers
    is blank with probability ``blank``, "unable to score" with ``uts``, otherwise a
    point of 1-9 drawn around a per-item centre so that items differ.
    """
    rng = random.Random(seed)
    now = utcnow()
    item_ids = [ri.item_id for ri in rnd.round_items]
    invited = db.session.execute(
        sa.select(Invitation.panellist_id).where(Invitation.round_id == rnd.id)
        .order_by(Invitation.panellist_id)
    ).scalars().all()
    chosen = [p for p in invited if rng.random() < submitted]
    db.session.execute(sa.insert(Response), [
        {"round_id": rnd.id, "panellist_id": p, "state": ResponseState.SUBMITTED,
         "created_at": now, "updated_at": now, "submitted_at": now} for p in chosen
    ])
    response_of = dict(db.session.execute(
        sa.select(Response.panellist_id, Response.id).where(Response.round_id == rnd.id)
    ).all())
    centre = {item: rng.choice((2, 5, 7, 8, 8, 9)) for item in item_ids}
    counts = AnswerCounts(responses=len(chosen))
    table = Rating.__table__
    rows: list[dict[str, Any]] = []

    def flush_rows() -> None:
        if rows:
            db.session.execute(table.insert(), rows)
            rows.clear()

    for p in chosen:
        response_id = response_of[p]
        for item in item_ids:
            draw = rng.random()
            if draw < blank:
                continue
            is_uts = draw < blank + uts
            value = None if is_uts else min(9, max(1, round(rng.gauss(centre[item], 1.4))))
            comment = ""
            if comment_rate and rng.random() < comment_rate:
                comment = f"Comment {counts.comments + 1}: depends on the disease and the centre."
                counts.comments += 1
            rows.append({"response_id": response_id, "round_id": rnd.id, "panellist_id": p,
                         "item_id": item, "value": value, "is_uts": is_uts, "comment": comment,
                         "change_reason": "", "updated_at": now})
            counts.ratings += 1
            if len(rows) >= chunk:
                flush_rows()
    flush_rows()
    db.session.commit()
    return counts


def analyze_tables() -> None:
    """Give the planner statistics, as autovacuum would have by now on a running server."""
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def personal_links(rnd: Round, how_many: int) -> list[str]:
    """Mint personal links for the first ``how_many`` invitations, as the mail worker does."""
    invitations = db.session.scalars(
        sa.select(Invitation).where(Invitation.round_id == rnd.id).order_by(Invitation.id)
        .limit(how_many)
    ).all()
    tokens = [mint_token(invitation) for invitation in invitations]
    db.session.commit()
    return tokens
