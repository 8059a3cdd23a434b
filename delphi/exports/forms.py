"""The form of the texts the study team writes for the report, one field per team item."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, Form, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from .checklist import TEAM_FIELDS
from .operations import MAX_FIELD


def _normalise(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def no_control_characters(_form: Form, field: Field) -> None:
    """Refuse NUL and other control characters (line breaks and tabs are fine)."""
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in field.data or ""):
        raise ValidationError("This text contains a control character; remove it.")


class ReportFieldsForm(FlaskForm):
    """The study team's texts for the report (ACCORD items the platform cannot answer)."""


for _field in TEAM_FIELDS:
    setattr(ReportFieldsForm, _field.key, TextAreaField(
        _field.label, filters=[_normalise], description=_field.hint,
        validators=[Optional(), Length(max=MAX_FIELD), no_control_characters]))
