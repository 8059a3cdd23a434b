"""Export downloads in the console."""

from flask import Blueprint

bp = Blueprint("exports", __name__, url_prefix="/studies/<slug>")
