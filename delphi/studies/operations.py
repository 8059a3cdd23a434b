"""Use cases of the facilitator side: they flush and never commit; the caller commits once."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import sqlalchemy as sa

from .. import audit
from ..extensions import db
from ..mail import address_problem, shown_address
from ..models import (
    ConsensusSettings,
    DomainError,
    Facilitator,
    Item,
    Panellist,
    Section,
    StakeholderGroup,
    Study,
    StudyMembership,
    StudyState,
)
from ..surveys import GroupDef, ItemDef, ReferenceDef, SectionDef, SurveyDefinition


def normalise_email(value: str) -> str:
    return value.strip().lower()


def create_facilitator(email: str, password: str, name: str = "",
                       actor: object = "cli") -> Facilitator:
    """Create a facilitator account with an argon2id password hash."""
    email = normalise_email(email)
    problem = address_problem(email)
    if problem is not None:
        raise DomainError(f"{shown_address(email)!r} is not a valid email address: {problem}")
    if db.session.scalar(sa.select(Facilitator.id).where(Facilitator.email == email)):
        raise DomainError(f"a facilitator with the email {email} already exists")
    facilitator = Facilitator(email=email, name=name.strip())
    try:
        facilitator.set_password(password)
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    db.session.add(facilitator)
    db.session.flush()
    audit.record(actor, "facilitator.created", email=email)
    return facilitator


def find_facilitator(email: str) -> Facilitator | None:
    return db.session.scalar(
        sa.select(Facilitator).where(Facilitator.email == normalise_email(email))
    )


def add_facilitator_to_study(study: Study, facilitator: Facilitator, actor: object,
                             role: str = "member") -> None:
    """Give a facilitator a seat on the study's steering committee."""
    if facilitator.can_access(study):
        raise DomainError(f"{facilitator.email} is already a facilitator of {study.slug}")
    membership = StudyMembership(study=study, facilitator=facilitator, role=role)
    db.session.add(membership)
    db.session.flush()
    audit.record(actor, "study.facilitator_added", study, email=facilitator.email, role=role)


def find_study(slug: str) -> Study | None:
    return db.session.scalar(sa.select(Study).where(Study.slug == slug))


def import_survey(definition: SurveyDefinition, actor: object,
                  owner: Facilitator | None = None) -> Study:
    """Create a study from a survey definition; a duplicate slug is refused."""
    if find_study(definition.slug) is not None:
        raise DomainError(
            f"a study with the slug {definition.slug!r} already exists; "
            "use --update to replace its draft definition"
        )
    study = Study(slug=definition.slug, title=definition.title)
    study.consensus = ConsensusSettings()
    db.session.add(study)
    _apply_definition(study, definition)
    db.session.flush()
    if owner is not None:
        db.session.add(StudyMembership(study=study, facilitator=owner, role="owner"))
    audit.record(actor, "study.imported", study, slug=study.slug, items=len(study.items))
    db.session.flush()
    return study


def update_survey(study: Study, definition: SurveyDefinition, actor: object) -> Study:
    """Replace a draft study's definition with an edited one, keeping its panel."""
    if study.state is not StudyState.DRAFT or study.rounds:
        raise DomainError(
            f"{study.slug} has rounds already; its definition can only change through "
            "decisions between rounds"
        )
    _apply_definition(study, definition)
    db.session.flush()
    audit.record(actor, "study.updated", study, items=len(study.items))
    return study


def _apply_definition(study: Study, d: SurveyDefinition) -> None:
    study.title = d.title
    study.short_name = d.short_name
    study.sender_name = d.sender_name
    study.description = d.description
    study.method = d.method
    study.plain_language = d.plain_language
    study.scale_key = d.scale_key
    study.allow_uts = d.allow_uts
    study.feedback_by_group = d.feedback_by_group
    study.min_group_size = d.min_group_size
    study.ask_reason_on_band_change = d.ask_reason_on_band_change
    study.erasure = d.erasure
    study.retention_days = d.retention_days
    for name, value in d.consensus.items():
        setattr(study.consensus, name, value)
    _apply_groups(study, d.groups)
    _apply_sections(study, d.sections)


def _apply_groups(study: Study, groups: tuple[GroupDef, ...]) -> None:
    existing = {g.key: g for g in study.groups}
    wanted = {g.key for g in groups}
    for key, group in existing.items():
        if key not in wanted:
            if group.panellists:
                raise DomainError(
                    f"group {key!r} cannot be removed: {len(group.panellists)} panellists "
                    "belong to it"
                )
            study.groups.remove(group)
    db.session.flush()  # free the removed groups' names before reusing them
    for position, g in enumerate(groups):
        group = existing.get(g.key) or StakeholderGroup(key=g.key)
        group.name, group.description, group.position = g.name, g.description, position
        if group not in study.groups:
            study.groups.append(group)


def _apply_sections(study: Study, sections: tuple[SectionDef, ...]) -> None:
    for item in list(study.items):
        study.items.remove(item)
    for section in list(study.sections):
        study.sections.remove(section)
    db.session.flush()
    position = 0
    for s_pos, s in enumerate(sections):
        section = Section(key=s.key, title=s.title, description=s.description, position=s_pos,
                          scale_key=s.scale_key or None, evidence=s.evidence,
                          references=[r.as_dict() for r in s.references])
        study.sections.append(section)
        for item_def in s.items:
            study.items.append(_new_item(item_def, section, position))
            position += 1


def _new_item(d: ItemDef, section: Section, position: int) -> Item:
    return Item(key=d.key, text=d.text, plain_text=d.plain_text, rationale=d.rationale,
                references=[r.as_dict() for r in d.references], section=section,
                position=position)


def study_definition(study: Study) -> SurveyDefinition:
    """The study's current definition, as a survey file would hold it."""
    current = [i for i in study.items if i.status.value == "active"]
    return SurveyDefinition(
        slug=study.slug,
        title=study.title,
        short_name=study.short_name,
        sender_name=study.sender_name,
        description=study.description,
        method=study.method,
        plain_language=study.plain_language,
        scale_key=study.scale_key,
        allow_uts=study.allow_uts,
        consensus=study.consensus.as_dict(),
        feedback_by_group=study.feedback_by_group,
        min_group_size=study.min_group_size,
        ask_reason_on_band_change=study.ask_reason_on_band_change,
        erasure=study.erasure,
        retention_days=study.retention_days,
        groups=tuple(GroupDef(g.key, g.name, g.description) for g in study.groups),
        sections=tuple(
            SectionDef(
                key=s.key, title=s.title, description=s.description,
                items=tuple(ItemDef(i.key, i.text, i.rationale, i.plain_text,
                                    tuple(ReferenceDef.of(r) for r in i.references or ()))
                            for i in current if i.section_id == s.id),
                scale_key=s.scale_key or "", evidence=s.evidence,
                references=tuple(ReferenceDef.of(r) for r in s.references or ()),
            )
            for s in study.sections
        ),
    )


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
        super().__init__("; ".join(str(e) for e in errors))


MAX_PANEL_ROWS = 20000


def import_panel(study: Study, data: bytes | str, actor: object) -> list[Panellist]:
    """Add the panellists of a CSV file (``name,email,group`` plus extra columns), all or none."""
    if study.is_closed_for_good:
        raise DomainError(f"the study is {study.state}; its panel cannot change")
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
    problem = address_problem(email)
    if problem is not None:
        return f"{shown_address(email)!r} is not a valid email address: {problem}"
    if group is None:
        return f"unknown group {group_value.strip()!r}"
    return None


def _add_panellists(study: Study, rows: list[tuple[str, str, StakeholderGroup, dict[str, str]]],
                    actor: object) -> list[Panellist]:
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


def update_panellist(study: Study, panellist: Panellist, actor: object, *,
                     name: str | None = None, email: str | None = None) -> Panellist:
    """Correct a panellist's name or email (checked as the panel import checks them)."""
    if study.is_closed_for_good:
        raise DomainError("panel.closed", "The study is {state}; its panel cannot change.",
                          state=str(study.state))
    if panellist.is_erased:
        raise DomainError("panel.erased", "{pseudonym}'s personal data is erased.",
                          pseudonym=panellist.pseudonym)
    new_name = panellist.name if name is None else name.strip()
    new_email = panellist.email if email is None else normalise_email(email)
    problem = _panel_row_problem(new_name, new_email, panellist.group.key, panellist.group)
    if problem is None and new_email != panellist.email and any(
            p.email == new_email for p in study.panellists if p.id != panellist.id):
        problem = f"{new_email} is already on the panel"
    if problem:
        raise DomainError("panel.invalid", "{pseudonym}: {problem}.",
                          pseudonym=panellist.pseudonym, problem=problem)
    changed = {k: v for k, v in (("name", new_name), ("email", new_email))
               if getattr(panellist, k) != v}
    if changed:
        before = {k: getattr(panellist, k) for k in changed}
        for key, value in changed.items():
            setattr(panellist, key, value)
        db.session.flush()
        audit.record(actor, "panel.updated", study, panellist=panellist.pseudonym,
                     before=before, after=changed)
    return panellist
