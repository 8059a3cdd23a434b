"""Report use cases: they flush and never commit; the caller commits once."""

from __future__ import annotations

from collections.abc import Mapping

from .. import audit
from ..extensions import db
from ..models import DomainError, Study
from .checklist import TEAM_FIELDS

MAX_FIELD = 5000


def clean_field(text: str | None, what: str) -> str:
    """Normalise line ends and spaces; refuse control characters and texts over the limit."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in text):
        raise DomainError("report.control_character", "{what} contains a control character; "
                          "remove it", what=what)
    if len(text) > MAX_FIELD:
        raise DomainError("report.too_long", "{what} is {length} characters long; at most "
                          "{limit} are allowed", what=what, length=len(text), limit=MAX_FIELD)
    return text


def update_report_fields(study: Study, values: Mapping[str, str | None],
                         actor: audit.Actor) -> list[str]:
    """Store the team's report texts given in ``values``; return the keys that changed."""
    stored = dict(study.report_fields or {})
    changed = []
    for field in TEAM_FIELDS:
        if field.key not in values:
            continue
        text = clean_field(values[field.key], field.label)
        if text != stored.get(field.key, ""):
            changed.append(field.key)
        if text:
            stored[field.key] = text
        else:
            stored.pop(field.key, None)
    if changed:
        study.report_fields = stored  # a new dict, so the JSON column is written
        db.session.flush()
        audit.record(actor, "study.report_fields_updated", study, fields=changed)
    return changed
