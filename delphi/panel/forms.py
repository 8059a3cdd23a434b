"""The panellist pages' forms: consent, withdrawal, and the voting page's form, a WTForms
form class generated from the round's statements.

One class per page, built from the statements (as survey tools generate a form from
their questions): for each statement a rating (a point of its scale, or "unable to
score" where the study allows it), a comment, a reason for a changed rating and a
suggested rewording, named ``rating-<item id>``, ``comment-<id>``, ``reason-<id>``,
``reword-<id>``; and the page's own fields: the suggestion, the round, the sheet's
version mark and the button pressed (``intent``). Flask-WTF checks its CSRF token.

Nothing is saved unless the whole form is valid. Each problem is reported under the
name of the field it concerns, in words that name the statement; fields that are not
part of the round's page are counted, never echoed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, SubmitField
from wtforms.validators import ValidationError

from ..consensus.scales import Scale
from .answers import MAX_COMMENT, MAX_SUGGESTION, UTS, Answer, AnswerSheet, clean_text

ACTIONS = ("save", "submit", "autosave")
# The buttons are named "intent": a control named "action" (or "submit", "method", "id")
# shadows the form's own property in the browser (form.action became a RadioNodeList and
# every autosave went to "/[object RadioNodeList]"). "action" is still read from pages
# loaded before the rename. "confirmed": the page's own dialog already asked before a
# submit with blank statements (see panel/views.py).
PAGE_FIELDS = {"csrf_token", "round", "intent", "action", "confirmed", "suggestion",
               "sheet_version"}
TEXTS = (("comment", MAX_COMMENT, "comment"),
         ("reason", MAX_COMMENT, "reason for the change"),
         ("reword", MAX_SUGGESTION, "suggested rewording"))


class RatingField(Field):
    """A statement's rating: an integer point of its scale, ``"uts"``, or nothing."""

    def __init__(self, label: str = "", *, scale: Scale, allow_uts: bool, where: str,
                 **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.scale, self.allow_uts, self.where = scale, allow_uts, where
        self.raw = ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.raw = valuelist[0].strip() if valuelist else ""

    def pre_validate(self, form: Any) -> None:
        raw, scale = self.raw, self.scale
        self.data = None
        if raw == UTS and self.allow_uts:
            self.data = UTS
        elif raw:
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 \
                    or not scale.low <= int(raw) <= scale.high:
                raise ValidationError(
                    f"{self.where}: {raw[:20]!r} is not a point of the scale "
                    f"({scale.low}-{scale.high}"
                    + (" or unable to score)" if self.allow_uts else ")"))
            self.data = int(raw)


class TextField(Field):
    """Free text: line ends normalised, trimmed, no control characters, at most ``limit``."""

    def __init__(self, label: str = "", *, limit: int, what: str, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.limit, self.what = limit, what
        self.raw = ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.raw = valuelist[0] if valuelist else ""

    def pre_validate(self, form: Any) -> None:
        self.data, problem = clean_text(self.raw, self.limit, self.what)
        if problem:
            raise ValidationError(problem)


class VoteForm(FlaskForm):
    """The fields every voting page has; ``vote_form`` adds the statements' fields."""

    round = HiddenField()
    sheet_version = HiddenField()
    suggestion = TextField(limit=MAX_SUGGESTION, what="Your suggestion")

    round_id: int = 0
    item_ids: tuple[int, ...] = ()
    allow_suggestions: bool = False

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        self.form_errors: list[str] = []
        self.problems: dict[str, str] = {}
        sent = request.form
        known = self._fields.keys() | PAGE_FIELDS
        unknown = 0
        for name in sent:
            if name not in known:
                # Never echoed by name: a page that repeats what was sent would carry
                # whatever a crafted form put there, as many times as it was sent.
                unknown += 1
            elif len(sent.getlist(name)) > 1:
                self.problems[name] = f"the field {name!r} was sent more than once"
        if unknown:
            self.problems["form"] = (f"{unknown} field{'s' if unknown != 1 else ''} of the "
                                     f"form {'are' if unknown != 1 else 'is'} not part of "
                                     "this round's page; reload the page and send it again")
        if self.intent not in ACTIONS:
            self.problems["intent"] = f"unknown action {self.intent!r}"
        if self.round.data != str(self.round_id):
            self.problems["round"] = ("this form belongs to another round; reload the page to "
                                      "see the current one")
        for name, errors in self.errors.items():
            if name not in ("round", "sheet_version") and errors:
                self.problems.setdefault(name, errors[0] if isinstance(errors, list)
                                         else str(errors))
        if not self.allow_suggestions and self.suggestion.data:
            self.problems["suggestion"] = "suggestions are not collected in this round"
        return ok and not self.problems

    @property
    def intent(self) -> str:
        sent = request.form
        return sent.get("intent", sent.get("action", "save"))

    def sheet(self) -> AnswerSheet:
        """What was sent, as an answer sheet (after ``validate``): what was typed is kept
        even where it was refused, so that a page drawn again loses nothing."""
        sheet = AnswerSheet(action=self.intent if self.intent in ACTIONS else "save",
                            errors=dict(self.problems))
        for ident in self.item_ids:
            rating = self[f"rating-{ident}"].data
            answer = Answer(value=rating if isinstance(rating, int) else None,
                            is_uts=rating == UTS)
            answer.comment, answer.reason, answer.reword = (
                self[f"{name}-{ident}"].data or "" for name, _, _ in TEXTS)
            sheet.answers[ident] = answer
        sheet.suggestion = (self.suggestion.data or "") if self.allow_suggestions else ""
        return sheet


def vote_form(statements: Sequence[Any], round_id: int, allow_uts: bool,
              allow_suggestions: bool, csrf: bool = True) -> VoteForm:
    """The voting form of a round's ``statements`` (each with ``id``, ``label`` and
    ``scale``), bound to this request's form data. ``csrf=False`` only where Flask-WTF has
    already refused the token and the page is drawn again with what was typed."""
    fields: dict[str, Any] = {"round_id": round_id, "allow_suggestions": allow_suggestions,
                              "item_ids": tuple(s.id for s in statements)}
    for s in statements:
        where = f"statement {s.label}"
        # The attribute is the field's name: WTForms keys fields and errors by it.
        fields[f"rating-{s.id}"] = RatingField(scale=s.scale, allow_uts=allow_uts,
                                               where=where)
        for name, limit, label in TEXTS:
            fields[f"{name}-{s.id}"] = TextField(limit=limit, what=f"The {label} on {where}")
    form_class = type("RoundVoteForm", (VoteForm,), fields)
    form: VoteForm = form_class(meta={"csrf": csrf})
    return form


class ConsentAnswerForm(FlaskForm):
    """The answer to the consent statement of the version shown (``version``)."""

    version = HiddenField()
    consent = SubmitField("I consent")
    decline = SubmitField("I do not consent")


class WithdrawForm(FlaskForm):
    """"Yes, withdraw me": the panellist confirms leaving the study."""
