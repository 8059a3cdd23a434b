"""Forms of the decisions between rounds; every decision needs a reason."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from ..limits import MAX_ID

# Plain fields with validators rather than SelectField: the templates draw the choices,
# and WTForms 3.3 deprecates tuple choices.

REASON = [DataRequired("Give the reason for this decision."), Length(max=5000)]


class CarryForm(FlaskForm):
    reason = TextAreaField("Reason", validators=REASON)


class DropForm(FlaskForm):
    outcome = StringField("Why it leaves the questionnaire", validators=[
        AnyOf(["consensus_in", "consensus_out", "other"], "Choose an outcome.")])
    reason = TextAreaField("Reason", validators=REASON)


class RewordForm(FlaskForm):
    text = TextAreaField("New wording", validators=[DataRequired(), Length(max=5000)])
    plain_text = TextAreaField("Plain-language version (optional)",
                               validators=[Optional(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=REASON)


class MergeForm(FlaskForm):
    key = StringField("Key of the merged statement", validators=[DataRequired(), Length(max=64)])
    text = TextAreaField("Merged statement", validators=[DataRequired(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=REASON)


class SplitForm(FlaskForm):
    texts = TextAreaField("New statements, one per line",
                          validators=[DataRequired(), Length(max=20000)])
    reason = TextAreaField("Reason", validators=REASON)


class AddForm(FlaskForm):
    section = IntegerField("Section", validators=[InputRequired("Choose a section."),
                                                  NumberRange(1, MAX_ID, "Choose a section.")])
    key = StringField("Key", validators=[DataRequired(), Length(max=64)])
    text = TextAreaField("Statement", validators=[DataRequired(), Length(max=5000)])
    rationale = TextAreaField("Rationale (optional)", validators=[Optional(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=REASON)
    suggestion = HiddenField()


class ModerationForm(FlaskForm):
    """Hide a comment, show a redacted text instead, or restore it as written."""

    show = StringField("What the panel reads", validators=[
        AnyOf(["hide", "redact", "restore"], "Choose hide, redact or restore.")])
    redacted = TextAreaField("Redacted text (what the panel reads instead)")
    reason = StringField("Reason (for the audit log and the raw export)")
