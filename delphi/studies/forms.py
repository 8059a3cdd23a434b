"""Forms of the facilitator console."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class PanelUploadForm(FlaskForm):
    file = FileField("Panel CSV file", validators=[FileRequired("Choose a CSV file to upload.")])
