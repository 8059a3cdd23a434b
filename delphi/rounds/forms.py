"""Forms of the round controls."""

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField
from wtforms.validators import Optional


class LaunchRoundForm(FlaskForm):
    closes_at = DateTimeLocalField("Closes at (UTC, optional)", format="%Y-%m-%dT%H:%M",
                                   validators=[Optional()])
