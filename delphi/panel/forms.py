"""Forms of the panellist pages other than the voting form (which is built from the round)."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField


class ConsentAnswerForm(FlaskForm):
    """The answer to the consent statement of the version shown (``version``)."""

    version = HiddenField()
    consent = SubmitField("I consent")
    decline = SubmitField("I do not consent")


class WithdrawForm(FlaskForm):
    """"Yes, withdraw me": the panellist confirms leaving the study."""
