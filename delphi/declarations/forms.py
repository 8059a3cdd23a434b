"""The declaration form, the same on the panellist's page and on the Team page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import (  # type: ignore[attr-defined]  # new in WTForms 3.3,
    SelectChoice,  # after the newest stubs (types-WTForms 3.2)
)
from wtforms.validators import InputRequired

from ..models import ConflictDeclaration

NONE, DECLARE = "none", "declare"


class DeclarationForm(FlaskForm):
    """None to declare, or "I declare:" with a text (checked by the use case)."""

    answer = RadioField("Your declaration", choices=[
        SelectChoice(NONE, "I have no potential conflicts of interest to declare"),
        SelectChoice(DECLARE, "I declare:")],
        validators=[InputRequired("Choose one of the two answers.")])
    details = TextAreaField("What you declare (at most 2,000 characters)")

    def fill(self, declaration: ConflictDeclaration | None) -> DeclarationForm:
        """Show a stored declaration (or nothing chosen yet) on a page drawn by GET."""
        if declaration is not None:
            self.answer.data = DECLARE if declaration.has_conflicts else NONE
            self.details.data = declaration.details
        return self

    @property
    def has_conflicts(self) -> bool:
        return self.answer.data == DECLARE
