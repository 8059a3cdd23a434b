"""Forms of the study builder.

Field names are the survey file's keys, so that a problem the survey checks report at
``sections[0].items[2].text`` lands on the field ``text``. The forms check only what a
form must (numbers are numbers, a choice is one of the list); every text is checked by
the survey file's own rules (``delphi/surveys.py``) when the definition is saved.
"""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import (  # type: ignore[attr-defined]  # new in WTForms 3.3,
    SelectChoice,  # after the newest stubs (types-WTForms 3.2)
)
from wtforms.validators import InputRequired, Optional

from ..consensus.rules import RULES
from ..consensus.scales import SCALES
from ..models.study import GROUP_RULES, PERCENTILE_METHODS, UTS_RULES

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
    primary_rule = SelectField("Consensus rule",
                               choices=_choices(*((key, rule.name) for key, rule in RULES.items())))
    agree_pct = IntegerField("COMET: % in the top band at least",
                             validators=[InputRequired(NUMBER)])
    disagree_pct = IntegerField("COMET: % in the bottom band fewer than",
                                validators=[InputRequired(NUMBER)])
    threshold = IntegerField("Percent agreement: % at least", validators=[InputRequired(NUMBER)])
    max_iqr = IntegerField("IQR: interquartile range at most", validators=[InputRequired(NUMBER)])
    median_min = IntegerField("IQR: median at least (optional)", validators=[Optional()])
    uts = SelectField("“Unable to score” answers",
                      choices=_choices(("exclude", "left out of every percentage"),
                                       ("include", "count in every percentage")))
    percentile_method = SelectField("Percentile method",
                                    choices=_choices(*((m, m) for m in PERCENTILE_METHODS)))
    group_rule = SelectField("Group rule",
                             choices=_choices(("pooled", "pooled: the whole panel together"),
                                              ("all", "all: every stakeholder group must agree"),
                                              ("any", "any: one stakeholder group is enough")))
    stability_pp = IntegerField("Stable when the % agreement changes by less than (points)",
                                validators=[InputRequired(NUMBER)])
    by_group = BooleanField("From round 2, show each stakeholder group’s ratings")
    min_group_size = IntegerField("Minimum group size shown on its own",
                                  validators=[InputRequired(NUMBER)])
    ask_reason = BooleanField("Ask why when a panellist moves a rating to another band")


assert {c.value for c in SettingsForm.uts.kwargs["choices"]} == set(UTS_RULES)
assert {c.value for c in SettingsForm.group_rule.kwargs["choices"]} == set(GROUP_RULES)


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
