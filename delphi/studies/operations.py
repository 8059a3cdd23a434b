"""Use cases of the facilitator side: they flush and never commit; the caller commits once.

Facilitator accounts live in ``delphi.auth.operations``; a study's definition (survey
import, update, read back) in ``delphi.definitions``, re-exported here."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .. import audit
from ..definitions import (  # noqa: F401 (re-exported: the command line and tests use them)
    find_study,
    import_survey,
    study_definition,
    update_survey,
)
from ..extensions import db
from ..mail import address_problem, normalise_email, shown_address
from ..models import (
    DomainError,
    Facilitator,
    Panellist,
    StakeholderGroup,
    Study,
    StudyMembership,
)
from ..surveys import MARKUP_RE


def add_facilitator_to_study(study: Study, facilitator: Facilitator, actor: audit.Actor,
                             role: str = "editor") -> None:
    """Give a facilitator a seat on the study's steering committee."""
    if facilitator.can_access(study):
        raise DomainError("study.facilitator_exists", "{email} is already a facilitator of {slug}",
                          email=facilitator.email, slug=study.slug)
    membership = StudyMembership(study=study, facilitator=facilitator, role=role)
    db.session.add(membership)
    db.session.flush()
    audit.record(actor, "study.facilitator_added", study, email=facilitator.email, role=role)


@dataclass(frozen=True)
class PanelRowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class PanelImportError(DomainError):
    """A panel file with bad rows; nothing was imported."""

    def __init__(self, errors: list[PanelRowError]):
        self.errors = errors
        super().__init__("panel.bad_rows", "{problems}",
                         problems="; ".join(str(e) for e in errors))


MAX_PANEL_ROWS = 20000


def import_panel(study: Study, data: bytes | str, actor: audit.Actor) -> list[Panellist]:
    """Add the panellists of a CSV file (``name,email,group`` plus extra columns), all or none."""
    if study.is_closed_for_good:
        raise DomainError("panel.study_closed", "the study is {state}; its panel cannot change",
                          state=study.state.value)
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    lowered = [h.lower() for h in header]
    missing = [c for c in ("name", "email", "group") if c not in lowered]
    if missing:
        raise PanelImportError([PanelRowError(1, "the header must have the columns name, email "
                                                 f"and group; missing: {', '.join(missing)}")])
    if _control_character(header, header):
        raise PanelImportError([PanelRowError(1, "a column name contains a control character")])
    if len(set(lowered)) != len(lowered):
        raise PanelImportError([PanelRowError(1, "the header repeats a column name")])
    index = {name: lowered.index(name) for name in ("name", "email", "group")}
    extras = [(i, h) for i, h in enumerate(header) if h.lower() not in index]
    known_emails = {p.email for p in study.panellists}
    errors: list[PanelRowError] = []
    rows: list[tuple[str, str, StakeholderGroup, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(rows) + len(errors) >= MAX_PANEL_ROWS:
            errors.append(PanelRowError(line, f"more than {MAX_PANEL_ROWS} rows"))
            break
        if len(row) != len(header):
            errors.append(PanelRowError(line, f"has {len(row)} fields; the header has "
                                              f"{len(header)}"))
            continue
        control = _control_character(header, row)
        if control:
            errors.append(PanelRowError(line, control))
            continue
        name, email = row[index["name"]].strip(), normalise_email(row[index["email"]])
        group = study.group_by_key_or_name(row[index["group"]])
        problem = _panel_row_problem(name, email, row[index["group"]], group)
        if problem is None and email in known_emails:
            problem = f"{email} is already on the panel"
        if problem is None and email in seen:
            problem = f"{email} is a duplicate of line {seen[email]}"
        if problem:
            errors.append(PanelRowError(line, problem))
            continue
        assert group is not None
        seen[email] = line
        rows.append((name, email, group, {h: row[i].strip() for i, h in extras}))
    if errors:
        raise PanelImportError(errors)
    if not rows:
        raise PanelImportError([PanelRowError(2, "the file has no panellists")])
    return _add_panellists(study, rows, actor)


def _control_character(header: list[str], row: list[str]) -> str | None:
    """NUL and other control characters in any column (PostgreSQL cannot store NUL, and
    the others break the exports and emails); tab and line ends inside a quoted cell pass."""
    for column, cell in zip(header, row, strict=True):
        for ch in cell:
            if (ord(ch) < 32 and ch not in "\t\r\n") or ord(ch) == 127:
                return (f"the column {column!r} contains a control character (U+{ord(ch):04X}); "
                        "remove it")
    return None


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PanelImportError([PanelRowError(1, f"the file is not UTF-8 text (byte {exc.start}); "
                                                 "save it as CSV UTF-8")]) from None


def _panel_row_problem(name: str, email: str, group_value: str,
                       group: StakeholderGroup | None) -> str | None:
    if not name:
        return "the name is empty"
    if len(name) > 200:
        return "the name is longer than 200 characters"
    if any(ord(ch) < 32 for ch in name):
        return "the name contains a control character"
    if MARKUP_RE.search(name):
        return "the name contains markup such as <tag>; write plain text"
    problem = address_problem(email)
    if problem is not None:
        return f"{shown_address(email)!r} is not a valid email address: {problem}"
    if group is None:
        return f"unknown group {group_value.strip()!r}"
    return None


def _add_panellists(study: Study, rows: list[tuple[str, str, StakeholderGroup, dict[str, str]]],
                    actor: audit.Actor) -> list[Panellist]:
    next_number = len(study.panellists) + 1
    created = []
    for offset, (name, email, group, extra) in enumerate(rows):
        panellist = Panellist(study=study, group=group, name=name, email=email,
                              attributes=extra, pseudonym=f"P{next_number + offset:04d}")
        db.session.add(panellist)
        created.append(panellist)
    db.session.flush()
    audit.record(actor, "panel.imported", study, added=len(created))
    return created
