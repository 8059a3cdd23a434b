"""Results of a round and the decisions made on them."""

from flask import Blueprint

bp = Blueprint("decisions", __name__, url_prefix="/studies/<slug>")
