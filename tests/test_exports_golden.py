"""Golden files for every export of a two-round study built with fixed timestamps.

Regenerate after an intended change with ``DELPHI_UPDATE_GOLDEN=1 pytest
tests/test_exports_golden.py`` and review the diff like code.
"""

from __future__ import annotations

import importlib
import io
import os
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from delphi.decisions import operations as decisions
from delphi.exports.downloads import export
from delphi.extensions import db
from delphi.models import AuditEvent, DropOutcome, Invitation, Study
from delphi.panel.answers import Answer, AnswerSheet
from delphi.panel.operations import save_sheet
from delphi.rounds import operations as round_ops
from delphi.studies import operations as ops
from delphi.surveys import parse_survey

# ``delphi.consensus.analyze`` is also the name of the function the package exports.
analyze_module = importlib.import_module("delphi.consensus.analyze")
GOLDEN = Path(__file__).resolve().parent / "golden" / "exports"
UPDATE = os.environ.get("DELPHI_UPDATE_GOLDEN") == "1"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
GENERATED_AT = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
PINNED_VERSIONS = {"software": "delphi", "software_version": "0.0.0+golden",
                   "numpy_version": "pinned", "scipy_version": "pinned"}

SURVEY = """
slug: golden
title: Golden study
description: Six statements, two groups, two rounds.
method: modified e-Delphi
groups:
  - {key: clin, name: Clinician}
  - {key: parent, name: Parent}
sections:
  - key: a
    title: Definitions
    items:
      - {key: a-01, text: Remission means no disease activity, rationale: R}
      - {key: a-02, text: Response is any improvement, rationale: R}
      - {key: a-03, text: Durability is measured at 6 months, rationale: R}
      - {key: a-04, text: Durability is measured at 12 months, rationale: R}
  - key: b
    title: Toxicity
    items:
      - {key: b-01, text: Grade CRS and ICANS with ASTCT criteria, rationale: R}
      - {key: b-02, text: Toxicity needs no standard grading, rationale: R}
"""

# panellist index -> answers by item key ("uts" = unable to score, absent = not answered)
ROUND_1 = {
    0: {"a-01": 8, "a-02": 2, "a-03": 7, "a-04": 6, "b-01": 5, "b-02": 1},
    1: {"a-01": 9, "a-02": 3, "a-03": 7, "a-04": 7, "b-01": 5, "b-02": 2},
    2: {"a-01": 7, "a-02": 9, "a-03": 8, "a-04": 8, "b-01": "uts", "b-02": 1},
    3: {"a-01": 8, "a-02": 8, "a-03": 6, "a-04": 7, "b-01": 5, "b-02": 2},
    4: {"a-01": 7, "a-02": 8, "a-03": 5, "a-04": 8, "b-01": 5, "b-02": 3},
    5: {"a-01": 2, "a-02": 8, "a-03": 9, "a-04": 7, "b-02": 1},
}
ROUND_2 = {  # panellist 4 does not answer round 2
    0: {"a-01": 8, "a-02": 7, "a-34": 8, "b-01-a": 2, "b-01-b": 1, "b-03": 7},
    1: {"a-01": 8, "a-02": 8, "a-34": 7, "b-01-a": 3, "b-01-b": 2, "b-03": "uts"},
    2: {"a-01": 7, "a-02": 8, "a-34": 8, "b-01-a": 5, "b-01-b": 2, "b-03": 8},
    3: {"a-01": 8, "a-02": 9, "a-34": 8, "b-01-a": 6, "b-01-b": 3, "b-03": 8},
    5: {"a-01": 9, "a-02": 7, "a-34": 6, "b-01-a": 4, "b-01-b": 1, "b-03": 2},
}
COMMENTS = {(1, 0, "a-01"): "Clear enough", (1, 3, "a-02"): "Too vague",
            (2, 1, "b-03"): "Outside my field"}


class Clock:
    """Gives every audit event the time of the step that wrote it."""

    def __init__(self) -> None:
        self.last_id = 0

    def stamp(self, when: datetime) -> None:
        db.session.flush()
        db.session.execute(sa.update(AuditEvent).where(AuditEvent.id > self.last_id)
                           .values(created_at=when))
        self.last_id = db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0
        db.session.commit()


def answer(study: Study, round_number: int, answers: dict[int, dict[str, object]],
           when: datetime) -> None:
    """Submit each panellist's answer sheet, as the voting page would."""
    rnd = study.rounds[round_number - 1]
    panel = study.panellists
    for index, values in answers.items():
        invitation = db.session.scalar(sa.select(Invitation).where(
            Invitation.round_id == rnd.id, Invitation.panellist_id == panel[index].id))
        sheet = AnswerSheet(action="submit")
        for item in rnd.items:
            value = values.get(item.key)
            comment = COMMENTS.get((round_number, index, item.key), "")
            sheet.answers[item.id] = Answer(value=value if isinstance(value, int) else None,
                                            is_uts=value == "uts", comment=comment)
        save_sheet(invitation, sheet, now=when + timedelta(hours=index))
    db.session.commit()


def _decide_after_round_one(study: Study) -> None:
    item = {i.key: i for i in study.items}
    decisions.carry_forward(study, [item["a-01"]], "No consensus yet", "test")
    decisions.reword(study, item["a-02"], "Response is a fall of at least 50% in disease activity",
                     "Panellists found it vague", "test")
    decisions.merge(study, [item["a-03"], item["a-04"]], "a-34",
                    "Durability is measured at 6 and 12 months", "The two overlap", "test")
    decisions.split(study, item["b-01"], ["Grade CRS with ASTCT criteria",
                                          "Grade ICANS with ASTCT criteria"],
                    "Two questions in one", "test")
    decisions.drop(study, item["b-02"], DropOutcome.CONSENSUS_OUT, "Consensus out in round 1",
                   "test")
    section = next(s for s in study.sections if s.key == "b")
    decisions.add_statement(study, section, "b-03", "Report infections to day 90", "",
                            "Suggested by the committee", "test")
    db.session.commit()


def build_study(monkeypatch: pytest.MonkeyPatch, panel_csv: str | None = None) -> Study:
    """The two-round study every golden file shows, with fixed times and pinned versions."""
    monkeypatch.setattr(analyze_module, "software_versions", lambda: dict(PINNED_VERSIONS))
    clock = Clock()
    study = ops.import_survey(parse_survey(SURVEY, "golden.yaml"), "test")
    ops.import_panel(study, panel_csv or "name,email,group\n" + "\n".join(
        f"Expert {n},expert{n}@example.org,{'clin' if n < 3 else 'parent'}" for n in range(6)),
        "test")
    clock.stamp(T0 - timedelta(days=3))
    round_ops.launch_round(study, "test", now=T0)
    clock.stamp(T0)
    answer(study, 1, ROUND_1, T0 + timedelta(days=1))
    clock.stamp(T0 + timedelta(days=1))
    round_ops.close_round(study, "test", now=T0 + timedelta(days=7))
    clock.stamp(T0 + timedelta(days=7))
    _decide_after_round_one(study)
    clock.stamp(T0 + timedelta(days=7, hours=2))
    round_ops.launch_round(study, "test", now=T0 + timedelta(days=8))
    clock.stamp(T0 + timedelta(days=8))
    answer(study, 2, ROUND_2, T0 + timedelta(days=9))
    round_ops.remind(study, "test", now=T0 + timedelta(days=12))
    clock.stamp(T0 + timedelta(days=12))
    round_ops.close_round(study, "test", now=T0 + timedelta(days=15))
    decisions.finish_study(study, "test")
    # The final consensus meeting voted on one statement and endorsed a new wording.
    voted = decisions.meeting_items(study)[0]
    decisions.record_meeting_outcome(study, voted, 9, 1, 2,
                                     voted.text + " (as endorsed by the meeting)", "test")
    clock.stamp(T0 + timedelta(days=15))
    return study


def matches_golden(name: str, data: bytes) -> bool:
    """Compare with the golden file (or write it, with DELPHI_UPDATE_GOLDEN=1)."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"no golden file {name}; run with DELPHI_UPDATE_GOLDEN=1"
    return data == path.read_bytes()


@pytest.fixture
def golden_study(app, monkeypatch):
    return build_study(monkeypatch)


GOLDEN_FILES = [
    ("statements", "csv", "statements.csv"),
    ("statements", "json", "statements.json"),
    ("statements", "md", "statements.md"),
    ("raw", "json", "raw.json"),
    ("ratings", "csv", "ratings.csv"),
    ("report", "html", "report.html"),
]


def test_every_export_matches_its_golden_file(golden_study):
    differ = []
    for what, fmt, name in GOLDEN_FILES:
        made = export(golden_study, what, fmt, generated_at=GENERATED_AT)
        differ += [] if matches_golden(name, made.data) else [name]
    made = export(golden_study, "raw", "csv", generated_at=GENERATED_AT)
    assert made.filename == "golden-raw.zip"
    with zipfile.ZipFile(io.BytesIO(made.data)) as archive:
        names = archive.namelist()
        assert names == ["ratings.csv", "items.csv", "settings.csv", "comments.csv", "audit.csv"]
        differ += [f"raw/{n}" for n in names if not matches_golden(f"raw/{n}", archive.read(n))]
    assert not differ, f"differ from their golden files: {differ}"
    again = export(golden_study, "raw", "csv", generated_at=GENERATED_AT)
    assert again.data == made.data  # the ZIP itself is reproducible
