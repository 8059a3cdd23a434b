"""Forms of the facilitator console."""

from collections.abc import Iterable

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import (  # type: ignore[attr-defined]  # new in WTForms 3.3,
    SelectChoice,  # after the newest stubs (types-WTForms 3.2)
)

from ..models import StakeholderGroup


class PanelUploadForm(FlaskForm):
    file = FileField("Panel CSV file", validators=[FileRequired("Choose a CSV file to upload.")])


class PanellistForm(FlaskForm):
    """One panellist's details: adding one, or editing them."""

    name = StringField("Name")
    email = StringField("Email")
    group = SelectField("Stakeholder group", choices=[])
    language = StringField("Language (a tag such as en, fr or pt-BR; empty: the study's)")
    attributes = TextAreaField("Other details, one per line as column: value "
                               "(e.g. country: Italy)")
    invite = BooleanField("Invite them to the open round now")
    resend = BooleanField("Send them a new link to the open round (the old links stop working)")

    def set_groups(self, groups: Iterable[StakeholderGroup]) -> None:
        self.group.choices = [SelectChoice(g.key, g.name) for g in groups]
        # A value not in the list is answered by the use case, with the other fields.
        self.group.validate_choice = False
