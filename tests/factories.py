"""Factories with defaults plus overrides, for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from delphi.auth import operations as accounts
from delphi.extensions import db
from delphi.models import Facilitator, Study
from delphi.studies import operations as ops
from delphi.surveys import load_survey_file, parse_survey

ROOT = Path(__file__).resolve().parent.parent
IMPACT_FILE = ROOT / "delphi" / "surveys" / "impact-paediatric-car-t.yaml"
PASSWORD = "correct horse battery"

SMALL_SURVEY = """
slug: {slug}
title: A small study
description: Two sections, three statements.
scale: {{key: grade-1-9, unable_to_score: true}}
consensus: {{primary_rule: comet, comet: {{agree_pct: 70, disagree_pct: 15}}}}
groups:
  - {{key: clin, name: Clinician}}
  - {{key: parent, name: Parent}}
sections:
  - key: a
    title: Section A
    items:
      - {{key: a-01, text: First statement, rationale: Because (Source A 2020).}}
      - {{key: a-02, text: Second statement, rationale: Because (Source B 2021).}}
  - key: b
    title: Section B
    items:
      - {{key: b-01, text: Third statement, rationale: Because (Source C 2022).}}
"""


class Factory:
    """Builds committed rows for tests."""

    def __init__(self) -> None:
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def facilitator(self, email: str | None = None, password: str = PASSWORD,
                    **overrides: Any) -> Facilitator:
        email = email or f"facilitator{self._next()}@example.org"
        facilitator = accounts.create_facilitator(email, password, overrides.pop("name", ""))
        for key, value in overrides.items():
            setattr(facilitator, key, value)
        db.session.commit()
        return facilitator

    def study(self, owner: Facilitator | None = None, slug: str | None = None,
              impact: bool = False) -> Study:
        if impact:
            definition = load_survey_file(IMPACT_FILE)
        else:
            slug = slug or f"study-{self._next()}"
            definition = parse_survey(SMALL_SURVEY.format(slug=slug), "small.yaml")
        study = ops.import_survey(definition, "test", owner)
        db.session.commit()
        return study

    def panel(self, study: Study, per_group: int = 3,
              sizes: dict[str, int] | None = None) -> list:
        """``per_group`` panellists in each group, or ``sizes[group key]`` where given."""
        lines = ["name,email,group"]
        for group in study.groups:
            for i in range((sizes or {}).get(group.key, per_group)):
                n = self._next()
                lines.append(f"Expert {n},expert{n}.{i}@example.org,{group.key}")
        panellists = ops.import_panel(study, "\n".join(lines), "test")
        db.session.commit()
        return panellists
