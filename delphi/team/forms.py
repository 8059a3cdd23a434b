"""Forms of the team page and of accepting an invitation."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import (  # type: ignore[attr-defined]  # new in WTForms 3.3,
    SelectChoice,  # after the newest stubs (types-WTForms 3.2)
)
from wtforms.validators import DataRequired, EqualTo, Length

from ..roles import Role

ROLE_CHOICES = [SelectChoice(r.value, f"{r.label}: {r.summary}") for r in Role]


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter the colleague's email."),
                                            Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="editor")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class NewAccountForm(FlaskForm):
    name = StringField("Your name", validators=[Length(max=200)])
    password = PasswordField("Choose a password", validators=[
        DataRequired("Choose a password."), Length(max=1000)])
    confirm = PasswordField("The password again", validators=[
        DataRequired("Type the password again."),
        EqualTo("password", "The two passwords are not the same.")])
