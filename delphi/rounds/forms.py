"""Forms of the round controls, the schedule and the email texts."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, Field, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..console import plain_text
from ..email_texts import KINDS, MAX_BODY, MAX_SUBJECT


def _strip(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()


WHEN = "%Y-%m-%dT%H:%M"


class LaunchRoundForm(FlaskForm):
    closes_at = DateTimeLocalField("Closes at (optional)", format=WHEN, validators=[Optional()])


class DeadlineForm(FlaskForm):
    closes_at = DateTimeLocalField("New closing time", format=WHEN, validators=[Optional()])
    no_deadline = BooleanField("No deadline: I close the round myself")

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and self.closes_at.data is None and not self.no_deadline.data:
            self.closes_at.errors = ["Enter the new closing time, or tick “No deadline”."]
            return False
        return ok


class ReopenForm(FlaskForm):
    closes_at = DateTimeLocalField("New closing time (optional)", format=WHEN,
                                   validators=[Optional()])
    confirm = BooleanField("I understand: the results of this round are computed again "
                           "when it closes", validators=[DataRequired(
                               "Tick the box to confirm the round is reopened.")])


class ScheduleForm(FlaskForm):
    time_zone = StringField("Study time zone (e.g. Europe/London)",
                            filters=[_strip], validators=[DataRequired("Enter a time zone."),
                                                          Length(max=64), plain_text])
    reminder_days = StringField("Reminders, in days before the deadline (e.g. 7, 2; empty "
                                "for none)", filters=[_strip],
                                validators=[Optional(), Length(max=60), plain_text])
    suggestions_every_round = BooleanField("Collect panel suggestions in every round (not "
                                           "only round 1)")
    # The days parsed by validate_reminder_days; none when the field is left empty (then
    # Optional() stops the chain before that check runs).
    days: list[int] = []

    def validate_reminder_days(self, field: Field) -> None:
        parts = [p for p in re.split(r"[,\s]+", field.data or "") if p]
        if not all(p.isdigit() and len(p) <= 3 for p in parts):
            raise ValidationError("Write whole numbers of days separated by commas, "
                                  "such as 7, 2.")
        self.days = [int(p) for p in parts]


class EmailSettingsForm(FlaskForm):
    sender_name = StringField("Sender name (signs the emails)", filters=[_strip],
                              validators=[Optional(), Length(max=120), plain_text])
    reply_to = StringField("Reply-to address (optional)", filters=[_strip],
                           validators=[Optional(), Length(max=254), plain_text])
    contact_person = StringField("Contact person (optional, e.g. Dr Ada Lovelace, "
                                 "ada@example.org)", filters=[_strip],
                                 validators=[Optional(), Length(max=200), plain_text])

    def validate_reply_to(self, field: Field) -> None:
        from ..mail import address_problem

        if field.data and (problem := address_problem(field.data)):
            raise ValidationError(f"This address cannot be used: {problem}.")

    def validate_sender_name(self, field: Field) -> None:
        if "\n" in (field.data or ""):
            raise ValidationError("Must be one line.")


class EmailTextForm(FlaskForm):
    kind = StringField("Message", validators=[DataRequired()])
    subject = StringField("Subject", filters=[_strip], validators=[
        DataRequired("The subject is empty."), Length(max=MAX_SUBJECT), plain_text])
    body = TextAreaField("Body", filters=[_strip], validators=[
        DataRequired("The body is empty."), Length(max=MAX_BODY), plain_text])

    def validate_kind(self, field: Field) -> None:
        if field.data not in KINDS:
            raise ValidationError("Choose one of the messages.")
