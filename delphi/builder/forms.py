"""Forms of the study builder.

Field names are the survey file's keys, so that a problem the survey checks report at
``sections[0].items[2].text`` lands on the field ``text``. The forms check only what a
form must (numbers are numbers, a choice is one of the list); every text is checked by
the survey file's own rules (``delphi/surveys.py``) when the definition is saved.
"""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import (  # type: ignore[attr-defined]  # new in WTForms 3.3,
    SelectChoice,  # after the newest stubs (types-WTForms 3.2)
)
from wtforms.validators import InputRequired, Optional

from ..consensus.scales import SCALES
from ..consensus.settings import STUDY_SETTINGS, Spec

NUMBER = "Enter a whole number."


def _choices(*pairs: tuple[str, str]) -> list[SelectChoice]:
    # WTForms 3.3 deprecates (value, label) tuples as choices.
    return [SelectChoice(value, label) for value, label in pairs]


def scale_choices() -> list[SelectChoice]:
    return _choices(*((key, f"{s.name}: {' / '.join(b.label for b in s.bands)}")
                      for key, s in SCALES.items()))


class NewStudyForm(FlaskForm):
    """Blank or from the template: a short address and a title."""

    slug = StringField("Short address (lower-case letters, digits and -)")
    title = StringField("Title")


class UploadSurveyForm(FlaskForm):
    file = FileField("Survey file (YAML)", validators=[FileRequired("Choose a survey file.")])


class SettingsForm(FlaskForm):
    title = StringField("Title")
    short_name = StringField("Short name (in email subjects)")
    sender_name = StringField("Committee or sender name (signs the emails)")
    description = TextAreaField("Description")
    plain_language = TextAreaField("Plain-language introduction (for lay panellists)")
    method = StringField("Method")
    scale = SelectField("Scale", choices=scale_choices())
    unable_to_score = BooleanField("Panellists may answer “unable to score”")
    by_group = BooleanField("From round 2, show each stakeholder group’s ratings")
    min_group_size = IntegerField("Minimum group size shown on its own",
                                  validators=[InputRequired(NUMBER)])
    ask_reason = BooleanField("Ask why when a panellist moves a rating to another band")
    conflicts = BooleanField("Ask each panellist to declare potential conflicts of interest "
                             "on their first visit")


# The consensus settings the builder edits (those with a label in the registry), by their
# survey file key, and how the page lays them out: a rule's thresholds side by side.
CONSENSUS_FIELDS: dict[str, Spec] = {spec.survey[-1]: spec for spec in STUDY_SETTINGS.values()
                                     if spec.label}


def _consensus_rows() -> list[list[str]]:
    rows: list[list[str]] = []
    for name, spec in CONSENSUS_FIELDS.items():
        block = spec.survey[0] if len(spec.survey) > 1 else None
        previous = CONSENSUS_FIELDS[rows[-1][-1]].survey if rows else ()
        if block is not None and len(previous) > 1 and previous[0] == block:
            rows[-1].append(name)
        else:
            rows.append([name])
    return rows


CONSENSUS_ROWS = _consensus_rows()


def consensus_field(spec: Spec) -> Any:
    """The form field of one consensus setting, from its spec (choices read per form, so a
    rule registered later is offered)."""
    if spec.kind == "choice":
        return SelectField(spec.label,
                           choices=lambda: _choices(*spec.option_labels().items()))
    if spec.kind == "flag":
        return BooleanField(spec.label)
    required = [Optional()] if spec.default is None else [InputRequired(NUMBER)]
    return IntegerField(spec.label, validators=required)


for _name, _spec in CONSENSUS_FIELDS.items():
    setattr(SettingsForm, _name, consensus_field(_spec))


class GroupForm(FlaskForm):
    key = StringField("Key (letters, digits, ., _ or -; used in panel files)")
    name = StringField("Name")
    description = TextAreaField("Who belongs to it (optional)")


class SectionForm(FlaskForm):
    key = StringField("Key (optional)")
    title = StringField("Title")
    description = TextAreaField("Description (optional)")


class StatementForm(FlaskForm):
    key = StringField("Key (optional for a new statement; stays the same when reworded)")
    text = TextAreaField("Statement")
    plain_text = TextAreaField("Plain-language version (optional)")
    rationale = TextAreaField("Rationale")
    references = TextAreaField(
        "References (optional): one per line, the citation, then | and its DOI or PMID")


_ID_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*|pmid:?\s*)", re.I)


def parse_references(text: str) -> tuple[list[dict[str, str]], list[str]]:
    """Read the references box, one a line: the citation, then ``|`` and its DOI or PMID,
    or both (``Citation | 10.1000/xyz | PMID 12345``), as the survey file allows."""
    refs, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        citation, *idents = line.split("|")
        if not idents:
            problems.append(f"line {number}: write the citation, then | and its DOI or PMID")
            continue
        ref = {"text": citation.strip()}
        for raw in idents:
            ident = _ID_PREFIX.sub("", raw.strip())
            kind = "doi" if ident.startswith("10.") else \
                "pmid" if ident.isascii() and ident.isdigit() else None
            if kind is None:
                problems.append(f"line {number}: {ident!r} is neither a DOI (10.NNNN/...) nor a "
                                "PMID (digits)")
            elif kind in ref:
                problems.append(f"line {number}: give one {kind.upper()} at most")
            else:
                ref[kind] = ident
        refs.append(ref)
    return refs, problems


def format_references(refs: list[dict[str, str]]) -> str:
    """The references box for ``refs``: ``parse_references`` reads it back unchanged."""
    return "\n".join(" | ".join([r["text"], *([r["doi"]] if r.get("doi") else []),
                                 *([f"PMID {r['pmid']}"] if r.get("pmid") else [])])
                     for r in refs)


class ConsentForm(FlaskForm):
    """The study's participant information sheet and consent statement."""

    information_sheet = TextAreaField("Participant information sheet")
    statement = TextAreaField("Consent statement (what the panellist agrees to)")
