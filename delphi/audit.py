"""Record who did what: one audit event per state change, in the same transaction."""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

from .extensions import db
from .models import AuditEvent, Facilitator, Study

log = logging.getLogger("delphi.audit")

# Who did it: a facilitator, a label such as "cli" or "system", or None (the system).
Actor: TypeAlias = "Facilitator | str | None"


def actor_label(actor: Actor) -> str:
    """Name an actor: a facilitator by email, or a label such as ``cli`` or ``system``."""
    if isinstance(actor, Facilitator):
        return f"facilitator:{actor.email}"
    return actor or "system"


def record(actor: Actor, action: str, study: Study | None = None, /,
           **detail: Any) -> AuditEvent:
    """Add an audit event to the session (the caller commits).

    The first three are positional-only, so any name may be a detail's key."""
    event = AuditEvent(
        study_id=study.id if study is not None else None,
        actor=actor_label(actor),
        action=action,
        detail=detail,
    )
    db.session.add(event)
    # Details never hold tokens or ratings; the log line names people by id or pseudonym
    # only (the audit table keeps the facilitator's address for the team to read).
    log.info("%s %s study=%s %s", _log_label(actor), action, study.slug if study else "-",
             {k: "[redacted]" if k in PERSONAL_KEYS else v for k, v in detail.items()})
    return event


PERSONAL_KEYS = {"email", "name", "to", "address"}
REDACTED = "[personal data]"


def without_personal_data(detail: Any) -> Any:
    """An event's detail with every value under a personal key (at any depth) replaced:
    what exports and the report may show of the audit log, and what erasure leaves."""
    if isinstance(detail, dict):
        return {k: (REDACTED if k in PERSONAL_KEYS and v not in (None, "")
                    else without_personal_data(v)) for k, v in detail.items()}
    if isinstance(detail, list):
        return [without_personal_data(v) for v in detail]
    return detail


def _log_label(actor: Actor) -> str:
    if isinstance(actor, Facilitator):
        return f"facilitator#{actor.id}"
    return actor or "system"
