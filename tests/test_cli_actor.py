"""Command-line actions are attributed to a named facilitator (``--as EMAIL``), and the
personal-data commands: a panellist's copy, erasure, archive and purge."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

from delphi.cli import DEMO_EMAIL
from delphi.decisions import operations as decision_ops
from delphi.extensions import db
from delphi.models import AuditEvent, Panellist, Round, Study, StudyState, utcnow

from .flows import close, launch

OWNER = "owner@example.org"


def _actors() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.actor).order_by(AuditEvent.id)))


@pytest.fixture
def study(factory):
    owner = factory.facilitator(OWNER)
    study = factory.study(owner=owner, slug="cli-study")
    factory.panel(study)
    return study


STATE_CHANGING = [
    ["add-facilitator", "cli-study", "other@example.org"],
    ["import-panel", "cli-study", "{panel}"],
    ["import-survey", "{survey}"],
    ["launch-round", "cli-study"],
    ["close-round", "cli-study"],
    ["remind", "cli-study"],
    ["export-panellist", "cli-study", "P0001"],
    ["erase-panellist", "cli-study", "P0001", "--yes"],
    ["archive-study", "cli-study", "--yes"],
    ["purge-expired"],
]


@pytest.mark.parametrize("args", STATE_CHANGING, ids=lambda a: a[0])
def test_outside_demo_mode_every_state_changing_command_needs_as(app, runner, study, args,
                                                                 tmp_path):
    panel = tmp_path / "panel.csv"
    panel.write_text("name,email,group\nA,a@example.org,clin\n")
    survey = tmp_path / "s.yaml"
    from .factories import SMALL_SURVEY

    survey.write_text(SMALL_SURVEY.format(slug="another"))
    args = [a.format(panel=panel, survey=survey) for a in args]
    before = _actors()
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert "--as EMAIL is required" in result.output and "Traceback" not in result.output
    assert _actors() == before  # nothing done, nothing recorded


def test_as_names_an_enabled_facilitator_on_the_studys_committee(app, runner, study, factory):
    factory.facilitator("stranger@example.org")
    factory.facilitator("gone@example.org", is_enabled=False)
    for email, problem in [("nobody@example.org", "there is no facilitator"),
                           ("stranger@example.org", "not on the committee of cli-study"),
                           ("gone@example.org", "disabled")]:
        result = runner.invoke(args=["launch-round", "cli-study", "--as", email])
        assert result.exit_code == 1 and problem in result.output, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0
    result = runner.invoke(args=["launch-round", "cli-study", "--as", OWNER.upper()])
    assert result.exit_code == 0, result.output
    assert _actors()[-1] == f"facilitator:{OWNER}"


def test_in_demo_mode_commands_act_as_the_demo_facilitator(app, runner, factory):
    demo = factory.facilitator(DEMO_EMAIL)
    factory.study(owner=demo, slug="demo-study")
    factory.panel(db.session.scalar(sa.select(Study).where(Study.slug == "demo-study")))
    app.config["DEMO"] = True
    try:
        result = runner.invoke(args=["launch-round", "demo-study"])
    finally:
        app.config["DEMO"] = False
    assert result.exit_code == 0, result.output
    assert _actors()[-1] == f"facilitator:{DEMO_EMAIL}"


def test_the_first_account_needs_no_as_and_the_next_ones_do(app, runner):
    result = runner.invoke(args=["create-facilitator", "first@example.org", "--password-stdin"],
                           input="long enough password\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-facilitator", "second@example.org", "--password-stdin"],
                           input="long enough password\n")
    assert result.exit_code == 1 and "--as EMAIL is required" in result.output
    result = runner.invoke(args=["create-facilitator", "second@example.org", "--password-stdin",
                                 "--as", "first@example.org"], input="long enough password\n")
    assert result.exit_code == 0, result.output
    assert _actors() == ["cli:first-account", "facilitator:first@example.org"]


def test_a_panellists_data_and_erasure_from_the_cli(app, runner, study, tmp_path):
    launch(study)
    person = study.panellists[0]
    name, email = person.name, person.email
    out = tmp_path / "p.json"
    result = runner.invoke(args=["export-panellist", "cli-study", email, "--out", str(out),
                                 "--as", OWNER])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["identity"]["email"] == email and data["consent"] == []
    assert data["invitations"][0]["round"] == 1
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    # erasing asks first; "no" changes nothing
    result = runner.invoke(args=["erase-panellist", "cli-study", "P0001", "--as", OWNER],
                           input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert db.session.get(Panellist, person.id).erased_at is None
    result = runner.invoke(args=["erase-panellist", "cli-study", "P0001", "--as", OWNER],
                           input="y\n")
    assert result.exit_code == 0, result.output
    assert "answers stay under the pseudonym" in result.output
    db.session.expire_all()
    erased = db.session.get(Panellist, person.id)
    assert erased.erased_at is not None and erased.name == "" and erased.email != email
    assert name not in json.dumps([e.detail for e in db.session.scalars(sa.select(AuditEvent))])
    assert _actors()[-2:] == [f"facilitator:{OWNER}"] * 2  # the export and the erasure
    result = runner.invoke(args=["erase-panellist", "cli-study", "P0001", "--yes", "--as", OWNER])
    assert result.exit_code == 1 and "erased already" in result.output
    result = runner.invoke(args=["export-panellist", "cli-study", "P0099", "--as", OWNER])
    assert result.exit_code == 1 and "no panellist 'P0099'" in result.output


def test_archive_and_purge_from_the_cli(app, runner, study):
    launch(study)
    result = runner.invoke(args=["archive-study", "cli-study", "--yes", "--as", OWNER])
    assert result.exit_code == 1 and "only a finished study can be archived" in result.output
    close(study)
    decision_ops.finish_study(study, "test")
    study.retention_days = 10
    db.session.commit()
    result = runner.invoke(args=["archive-study", "cli-study", "--yes", "--as", OWNER])
    assert result.exit_code == 0, result.output
    assert "will be deleted after" in result.output
    result = runner.invoke(args=["purge-expired", "--as", OWNER])
    assert result.exit_code == 0 and "0 expired studies deleted" in result.output
    db.session.expire_all()
    study = db.session.scalar(sa.select(Study).where(Study.slug == "cli-study"))
    assert study.state is StudyState.ARCHIVED
    study.finished_at = utcnow() - timedelta(days=11)
    db.session.commit()
    result = runner.invoke(args=["purge-expired", "--as", OWNER])
    assert result.exit_code == 0 and "1 expired studies deleted: cli-study" in result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(Study).where(Study.slug == "cli-study")) is None
    # the study's own log went with it; the deletion is recorded at site level
    assert db.session.scalars(sa.select(AuditEvent.action)).all() == [
        "facilitator.created", "study.deleted"]
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "study.deleted")).one()
    assert (event.actor, event.study_id, event.detail["slug"]) == (
        f"facilitator:{OWNER}", None, "cli-study")
