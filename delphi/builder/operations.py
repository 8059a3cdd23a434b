"""Use cases of the study builder; they flush and never commit, the caller commits once.

The builder edits a study's *definition*: every change takes the study's current survey
document (what ``delphi export-survey`` writes), changes it, validates the result with
the survey file's own checks and applies it like ``import-survey --update``. So the
browser and the YAML file can never disagree, and an export of a study built here
imports to the same study.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .. import audit
from ..consensus.settings import Settings
from ..definitions import apply_definition, find_study, import_survey, study_definition
from ..models import DomainError, Facilitator, Study, StudyState
from ..surveys import (
    KEY_RE,
    SurveyDefinition,
    check_document,
    load_survey_file,
    parse_survey,
    survey_document,
)

TEMPLATE_FILE = Path(__file__).resolve().parent.parent / "surveys" / "impact-paediatric-car-t.yaml"
SOURCE = "survey"


def document(study: Study) -> dict[str, Any]:
    """The study's definition as the mapping its survey file holds (a fresh copy)."""
    return copy.deepcopy(survey_document(study_definition(study)))


def require_draft(study: Study) -> None:
    if study.state is not StudyState.DRAFT or study.rounds:
        raise DomainError(
            "builder.not_draft", "round 1 has been launched, so this study is no longer a "
            "draft: its settings are locked and its statements change only through decisions "
            "between rounds")


def save(study: Study, doc: dict[str, Any], actor: Facilitator | str, action: str,
         before: Any, after: Any) -> Study:
    """Validate an edited document like a survey file and apply it to the draft study.

    Raises SurveyError (``path: problem`` each) or DomainError; nothing is changed then.
    """
    require_draft(study)
    doc["slug"] = study.slug  # the slug is the study's address; the builder never moves it
    definition = check_document(doc, SOURCE, draft=True)
    apply_definition(study, definition)
    from ..extensions import db

    db.session.flush()
    audit.record(actor, action, study, before=before, after=after)
    return study


def _create(definition: SurveyDefinition, actor: Facilitator, source: str) -> Study:
    if find_study(definition.slug) is not None:
        raise DomainError("builder.slug_taken", "a study with the short address {slug!r} already "
                          "exists; choose another", slug=definition.slug)
    study = import_survey(definition, actor, owner=actor)
    audit.record(actor, "study.created", study, before=None,
                 after={"slug": study.slug, "title": study.title, "from": source})
    return study


def create_blank(slug: str, title: str, actor: Facilitator) -> Study:
    """A draft with a slug and a title and nothing else yet."""
    doc = {"slug": slug, "title": title, "groups": [], "sections": []}
    return _create(check_document(doc, SOURCE, draft=True), actor, "blank")


def create_from_template(slug: str, title: str, actor: Facilitator) -> Study:
    """A copy of the shipped IMPACT study under a new slug (and title, if given)."""
    doc = survey_document(load_survey_file(TEMPLATE_FILE))
    doc["slug"] = slug
    if title.strip():
        doc["title"] = title
    return _create(check_document(doc, SOURCE), actor, "template")


def create_from_file(raw: bytes, filename: str, actor: Facilitator) -> Study:
    """A study from an uploaded survey file (SurveyError lists its problems with lines)."""
    return _create(parse_survey(raw, filename), actor, f"file {filename}")


def free_key(doc: dict[str, Any], stem: str) -> str:
    """The first ``stem-NN`` that no statement of the document uses."""
    used = {item["key"] for s in doc["sections"] for item in s.get("items", [])}
    stem = stem if KEY_RE.match(stem) and len(stem) <= 56 else "item"
    n = 1
    while f"{stem}-{n:02d}" in used:
        n += 1
    return f"{stem}-{n:02d}"


def free_section_key(doc: dict[str, Any]) -> str:
    used = {s.get("key") for s in doc["sections"]}
    n = len(doc["sections"]) + 1
    while f"section-{n}" in used:
        n += 1
    return f"section-{n}"


def find_section(doc: dict[str, Any], key: str) -> int | None:
    for i, section in enumerate(doc["sections"]):
        if section.get("key") == key:
            return i
    return None


def find_item(doc: dict[str, Any], key: str) -> tuple[int, int] | None:
    for i, section in enumerate(doc["sections"]):
        for j, item in enumerate(section.get("items", [])):
            if item["key"] == key:
                return i, j
    return None


def move(seq: list[Any], index: int, direction: str) -> bool:
    """Swap ``seq[index]`` with its neighbour up or down; False at either end."""
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(seq):
        return False
    seq[index], seq[other] = seq[other], seq[index]
    return True


def rule_sentence(settings: dict[str, Any], scale_key: str) -> str:
    """The consensus rule in plain sentences, exactly as the study page and the methods text
    say it (``ConsensusSettings.describe()``, from the engine's methods module).

    ``settings`` holds engine settings by name; those the sentence does not use are left
    out, so that only the rule, the "unable to score" rule and the group rule are checked.
    Raises ``SettingsError`` with a message when the values do not make a valid rule.
    """
    from ..consensus.methods import rule_in_words
    from ..consensus.rules import RULES

    used = {"primary_rule", "uts", "group_rule", "min_group_size",
            *(param for r in RULES.values() for param in r.params)}
    values = {k: v for k, v in settings.items() if k in used and v is not None}
    return rule_in_words(Settings(scale=scale_key, **values))
