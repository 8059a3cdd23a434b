"""Forms of the login pages."""

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class SecondFactorForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired("Type the code."), Length(max=40)])


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Type your email."), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[
        DataRequired("Choose a new password."), Length(max=1000)])
    confirm = PasswordField("The new password again", validators=[
        DataRequired("Type the new password again."),
        EqualTo("password", "The two passwords are not the same.")])


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[
        DataRequired("Type your current password."), Length(max=1000)])


class PasswordCheckForm(FlaskForm):
    """A button that needs the current password (turning the second factor off, ...)."""

    current = PasswordField("Current password", validators=[
        DataRequired("Type your current password."), Length(max=1000)])


class EnrolForm(FlaskForm):
    code = StringField("Code from the app", validators=[DataRequired("Type the code."),
                                                        Length(max=40)])


class NewAccountAdminForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Type the email."), Length(max=254)])
    name = StringField("Name", validators=[Length(max=200)])
