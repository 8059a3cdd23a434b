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

from ..console import plain_text
from ..limits import MAX_ID

# Plain fields with validators rather than SelectField: the templates draw the choices,
# and WTForms 3.3 deprecates tuple choices.

REASON = [DataRequired("Give the reason for this decision."), Length(max=5000)]
PLAIN = "Plain-language version (optional)"
RATIONALE = "Rationale (optional; empty keeps the old statement's)"


class CarryForm(FlaskForm):
    reason = TextAreaField("Reason", validators=REASON)


class DropForm(FlaskForm):
    outcome = StringField("Why it leaves the questionnaire", validators=[
        AnyOf(["consensus_in", "consensus_out", "other"], "Choose an outcome.")])
    reason = TextAreaField("Reason", validators=REASON)


class RewordForm(FlaskForm):
    text = TextAreaField("New wording", validators=[DataRequired(), Length(max=5000)])
    plain_text = TextAreaField(PLAIN, validators=[Optional(), Length(max=5000)])
    rationale = TextAreaField(RATIONALE, validators=[Optional(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=REASON)


class MergeForm(FlaskForm):
    key = StringField("Key of the merged statement", validators=[DataRequired(), Length(max=64)])
    text = TextAreaField("Merged statement", validators=[DataRequired(), Length(max=5000)])
    plain_text = TextAreaField(PLAIN, validators=[Optional(), Length(max=5000)])
    rationale = TextAreaField(RATIONALE, validators=[Optional(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=REASON)


class SplitForm(FlaskForm):
    texts = TextAreaField("New statements, one per line",
                          validators=[DataRequired(), Length(max=20000)])
    plain_texts = TextAreaField("Plain-language versions, one per line in the same order "
                                "(optional)", validators=[Optional(), Length(max=20000)])
    rationale = TextAreaField(RATIONALE, validators=[Optional(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=REASON)


class AddForm(FlaskForm):
    section = IntegerField("Section", validators=[InputRequired("Choose a section."),
                                                  NumberRange(1, MAX_ID, "Choose a section.")])
    key = StringField("Key", validators=[DataRequired(), Length(max=64)])
    text = TextAreaField("Statement", validators=[DataRequired(), Length(max=5000)])
    plain_text = TextAreaField(PLAIN, validators=[Optional(), Length(max=5000)])
    rationale = TextAreaField("Rationale (optional)", validators=[Optional(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=REASON)
    suggestion = HiddenField()


class DismissSuggestionForm(FlaskForm):
    reason = TextAreaField("Why it is set aside", validators=[
        DataRequired("Give the reason for setting it aside."), Length(max=5000)])


class MergeSuggestionsForm(FlaskForm):
    text = TextAreaField("Merged suggestion", validators=[DataRequired(), Length(max=5000)])


VOTES = [InputRequired("Enter a whole number (0 if none)."),
         NumberRange(0, 10000, "Enter a whole number from 0 to 10000.")]


class MeetingOutcomeForm(FlaskForm):
    votes_for = IntegerField("For", validators=VOTES)
    votes_against = IntegerField("Against", validators=VOTES)
    votes_abstain = IntegerField("Abstained", validators=VOTES)
    final_wording = TextAreaField("Endorsed final wording (empty: the statement as rated)",
                                  validators=[Optional(), Length(max=5000), plain_text])


class ModerationForm(FlaskForm):
    """Hide a comment, show a redacted text instead, or restore it as written."""

    show = StringField("What the panel reads", validators=[
        AnyOf(["hide", "redact", "restore"], "Choose hide, redact or restore.")])
    redacted = TextAreaField("Redacted text (what the panel reads instead)")
    reason = StringField("Reason (for the audit log and the raw export)")
