"""One panellist at a time: add one, edit their details, invite a late joiner.

They flush and never commit; the caller commits once.  Every change is audited with the
values before and after (names and addresses included, for the team: the exports and
the report show the audit log without them, and erasure blanks them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .. import audit, invitations, mail
from ..extensions import db
from ..models import (
    DomainError,
    Invitation,
    MailStatus,
    OutboxMessage,
    Panellist,
    Response,
    ResponseState,
    Round,
    RoundState,
    Study,
    utcnow,
)
from ..surveys import MARKUP_RE
from .operations import normalise_email

LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
RESERVED_COLUMNS = {"name", "email", "group", "language"}
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_NAME = 64
MAX_ATTRIBUTE_VALUE = 200


@dataclass
class PanellistDetails:
    """What the add and edit forms give: texts as typed, the group by key."""

    name: str
    email: str
    group: str
    language: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


class PanellistInvalid(DomainError):
    """Details that cannot be saved; ``problems`` maps each field to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("panellist.invalid", "{details}",
                         details="; ".join(f"{k}: {v}" for k, v in problems.items()))


def parse_attributes(text: str) -> tuple[dict[str, str], str | None]:
    """The "column: value" lines of the form's box, and what is wrong with them (or None)."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        column, colon, value = line.partition(":")
        column, value = column.strip(), value.strip()
        if not colon or not column:
            return found, f"line {number}: write the column, a colon, then the value"
        if column.lower() in RESERVED_COLUMNS:
            return found, f"line {number}: {column!r} has its own field above"
        if column in found:
            return found, f"line {number}: {column!r} is given twice"
        found[column] = value
    return found, None


def format_attributes(attributes: dict[str, Any] | None) -> str:
    return "\n".join(f"{k}: {v}" for k, v in (attributes or {}).items())


def _text_problem(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"is {len(text)} characters long; at most {limit} are allowed"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "contains a control character"
    if MARKUP_RE.search(text):
        return "contains markup such as <tag>; write plain text"
    return None


def _check(study: Study, d: PanellistDetails, panellist: Panellist | None
           ) -> tuple[PanellistDetails, dict[str, str]]:
    """The details cleaned, and the problems of each field."""
    clean = PanellistDetails(d.name.strip(), normalise_email(d.email), d.group.strip(),
                             d.language.strip(), {k: v.strip() for k, v in d.attributes.items()})
    problems: dict[str, str] = {}
    group = study.group_by_key_or_name(clean.group) if clean.group else None
    if not clean.name:
        problems["name"] = "required"
    elif (p := _text_problem(clean.name, 200)) is not None:
        problems["name"] = p
    if not clean.email:
        problems["email"] = "required"
    elif (p := mail.address_problem(clean.email)) is not None:
        problems["email"] = f"not a valid email address: {p}"
    elif clean.email != (panellist.email if panellist else None) and db.session.scalar(
            sa.select(Panellist.id).where(Panellist.study_id == study.id,
                                          Panellist.email == clean.email)):
        problems["email"] = f"{clean.email} is already on the panel"
    if group is None:
        problems["group"] = "choose one of the study's groups" if not clean.group else \
            f"unknown group {clean.group[:60]!r}"
    if clean.language and not LANGUAGE_RE.match(clean.language):
        problems["language"] = ("write a language tag such as en, fr or pt-BR, or leave it "
                                "empty for the study's language")
    problems.update(_attribute_problems(clean.attributes))
    return clean, problems


def _attribute_problems(attributes: dict[str, str]) -> dict[str, str]:
    if len(attributes) > MAX_ATTRIBUTES:
        return {"attributes": f"at most {MAX_ATTRIBUTES} details are kept"}
    for column, value in attributes.items():
        for what, text, limit in (("column", column, MAX_ATTRIBUTE_NAME),
                                  ("value", value, MAX_ATTRIBUTE_VALUE)):
            if (p := _text_problem(text, limit)) is not None:
                return {"attributes": f"the {what} of {column[:40]!r} {p}"}
    return {}


def _snapshot(panellist: Panellist) -> dict[str, Any]:
    return {"name": panellist.name, "email": panellist.email, "group": panellist.group.key,
            "language": panellist.language, "attributes": dict(panellist.attributes or {})}


def add_panellist(study: Study, details: PanellistDetails, actor: audit.Actor,
                  invite_now: bool = False) -> Panellist:
    """Add one panellist; with ``invite_now``, invite them to the open round at once."""
    if study.is_closed_for_good:
        raise DomainError("panel.study_closed", "the study is {state}; its panel cannot "
                          "change", state=study.state.value)
    clean, problems = _check(study, details, None)
    if problems:
        raise PanellistInvalid(problems)
    group = study.group_by_key_or_name(clean.group)
    assert group is not None
    panellist = Panellist(study=study, group=group, name=clean.name, email=clean.email,
                          language=clean.language, attributes=clean.attributes,
                          pseudonym=f"P{len(study.panellists) + 1:04d}")
    db.session.add(panellist)
    db.session.flush()
    audit.record(actor, "panellist.added", study, panellist=panellist.pseudonym, before=None,
                 after=_snapshot(panellist))
    if invite_now:
        invite_late(study, panellist, actor)
    return panellist


def invite_late(study: Study, panellist: Panellist, actor: audit.Actor) -> Invitation:
    """Invite a panellist who joined after the open round was launched: from now on they
    count in its progress and its results like everyone invited at launch."""
    rnd = study.running_round
    if rnd is None:
        raise DomainError("panel.no_open_round", "No round is open: {pseudonym} will be "
                          "invited when the next round is launched.", pseudonym=panellist.pseudonym)
    if rnd.is_past_deadline(utcnow()):
        raise DomainError("panel.past_deadline", "Round {number} has passed its deadline and "
                          "takes no more answers.", number=rnd.number)
    if panellist.withdrawn_at is not None or panellist.is_erased:
        raise DomainError("panel.withdrawn", "{pseudonym} is withdrawn: reinstate them first.",
                          pseudonym=panellist.pseudonym)
    if db.session.scalar(sa.select(Invitation.id).where(Invitation.round_id == rnd.id,
                                                        Invitation.panellist_id == panellist.id)):
        raise DomainError("panel.invited_already", "{pseudonym} is invited to round {number} "
                          "already.", pseudonym=panellist.pseudonym, number=rnd.number)
    invitation = Invitation(round=rnd, panellist=panellist)
    db.session.add(invitation)
    db.session.flush()
    mail.queue("invitation", panellist, study, f"invitation:{rnd.id}:{panellist.id}", invitation)
    db.session.flush()
    audit.record(actor, "panellist.invited_late", study, panellist=panellist.pseudonym,
                 round=rnd.number)
    return invitation


def edit_panellist(study: Study, panellist: Panellist, details: PanellistDetails,
                   actor: audit.Actor, resend: bool = False) -> list[str]:
    """Change a panellist's name, email, group, language or other details; returns the
    names of the fields changed.

    A new address takes over their unsent emails; with ``resend`` they are also sent a
    new link to the open round (the old links stop working), for a bounced invitation.
    Their group cannot change once a closed round's results count them in it.
    """
    if panellist.is_erased:
        raise DomainError("panellist.erased_edit", "{pseudonym}'s personal data was erased; there "
                          "is nothing to edit.", pseudonym=panellist.pseudonym)
    if study.is_closed_for_good:
        raise DomainError("panel.study_closed", "the study is {state}; its panel cannot "
                          "change", state=study.state.value)
    clean, problems = _check(study, details, panellist)
    group = study.group_by_key_or_name(clean.group)
    if not problems and group is not None and group.id != panellist.group_id \
            and _counted_in_results(panellist):
        problems["group"] = (f"{panellist.pseudonym}'s answers are in the stored results of a "
                             "closed round by group, so the group can no longer change")
    if problems:
        raise PanellistInvalid(problems)
    assert group is not None
    before = _snapshot(panellist)
    panellist.name, panellist.email, panellist.group = clean.name, clean.email, group
    panellist.language, panellist.attributes = clean.language, clean.attributes
    db.session.flush()
    after = _snapshot(panellist)
    changed = [k for k in before if before[k] != after[k]]
    if changed:
        if "email" in changed:
            _readdress_unsent(panellist)
        audit.record(actor, "panellist.edited", study, panellist=panellist.pseudonym,
                     before={k: before[k] for k in changed},
                     after={k: after[k] for k in changed})
    if resend:
        invitations.reissue_for(study, panellist, actor)
    elif not changed:
        raise DomainError("panellist.unchanged", "Nothing was changed.")
    return changed


def _counted_in_results(panellist: Panellist) -> bool:
    return bool(db.session.scalar(
        sa.select(Response.id).join(Round, Response.round_id == Round.id)
        .where(Response.panellist_id == panellist.id, Round.state == RoundState.CLOSED,
               Response.state == ResponseState.SUBMITTED).limit(1)))


def _readdress_unsent(panellist: Panellist) -> None:
    """Unsent emails go to the new address (a failed one is sent again with "resend")."""
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.panellist_id == panellist.id,
               OutboxMessage.status == MailStatus.PENDING)
        .values(to_address=panellist.email).execution_options(synchronize_session=False))
