"""A study's definition in the database: created or replaced from a survey definition, and
read back as one. Shared by the command line (``delphi import-survey``), the studies'
and the builder's use cases; they flush and never commit."""

from __future__ import annotations

import sqlalchemy as sa

from . import audit
from .extensions import db
from .models import (
    ConsensusSettings,
    ConsentDocument,
    DomainError,
    Facilitator,
    Item,
    Section,
    StakeholderGroup,
    Study,
    StudyMembership,
    StudyState,
)
from .surveys import GroupDef, ItemDef, ReferenceDef, SectionDef, SurveyDefinition


def find_study(slug: str) -> Study | None:
    return db.session.scalar(sa.select(Study).where(Study.slug == slug))


def import_survey(definition: SurveyDefinition, actor: audit.Actor,
                  owner: Facilitator | None = None) -> Study:
    """Create a study from a survey definition; a duplicate slug is refused."""
    if find_study(definition.slug) is not None:
        raise DomainError(
            "study.slug_taken", "a study with the slug {slug!r} already exists; "
            "replace its draft definition instead (import-survey --update, or PUT "
            "/api/v1/studies/{slug}/definition)", slug=definition.slug)
    study = Study(slug=definition.slug, title=definition.title)
    study.consensus = ConsensusSettings()
    db.session.add(study)
    apply_definition(study, definition)
    db.session.flush()
    if owner is not None:
        db.session.add(StudyMembership(study=study, facilitator=owner, role="owner"))
    audit.record(actor, "study.imported", study, slug=study.slug, items=len(study.items))
    db.session.flush()
    return study


def update_survey(study: Study, definition: SurveyDefinition, actor: audit.Actor) -> Study:
    """Replace a draft study's definition with an edited one, keeping its panel."""
    if study.state is not StudyState.DRAFT or study.rounds:
        raise DomainError(
            "study.has_rounds", "{slug} has rounds already; its definition can only change "
            "through decisions between rounds", slug=study.slug)
    apply_definition(study, definition)
    db.session.flush()
    audit.record(actor, "study.updated", study, items=len(study.items))
    return study


def apply_definition(study: Study, d: SurveyDefinition) -> None:
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
    study.time_zone = d.time_zone
    study.reminder_days = list(d.reminder_days)
    study.suggestions_every_round = d.suggestions_every_round
    study.reply_to = d.reply_to
    study.contact_person = d.contact_person
    study.email_texts = {kind: {"subject": subject, "body": body}
                         for kind, subject, body in d.email_texts}
    study.asks_conflict_declarations = d.asks_conflict_declarations
    _apply_consent(study, d.information_sheet, d.consent_statement)
    for name, value in d.consensus.items():
        setattr(study.consensus, name, value)
    _apply_groups(study, d.groups)
    _apply_sections(study, d.sections)


def _apply_consent(study: Study, sheet: str, statement: str) -> None:
    """A draft's information sheet and consent statement: version 1, edited in place (no
    panellist can have read it before round 1); after launch see ``consent.revise``."""
    document = study.consent_document
    if not sheet and not statement:
        if document is not None:
            study.consent_documents.remove(document)
        return
    if document is None:
        study.consent_documents.append(ConsentDocument(version=1, information_sheet=sheet,
                                                       statement=statement))
    else:
        document.information_sheet, document.statement = sheet, statement


def _apply_groups(study: Study, groups: tuple[GroupDef, ...]) -> None:
    existing = {g.key: g for g in study.groups}
    wanted = {g.key for g in groups}
    for key, group in existing.items():
        if key not in wanted:
            if group.panellists:
                raise DomainError(
                    "group.in_use", "group {key!r} cannot be removed: {count} panellists "
                    "belong to it", key=key, count=len(group.panellists))
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


def _kind_order(kind: str) -> int:
    from .email_texts import KINDS

    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def study_definition(study: Study) -> SurveyDefinition:
    """The study's current definition, as a survey file would hold it."""
    current = [i for i in study.items if i.status.value == "active"]
    consent = study.consent_document
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
        time_zone=study.time_zone,
        reminder_days=tuple(study.reminder_days or ()),
        suggestions_every_round=study.suggestions_every_round,
        reply_to=study.reply_to,
        contact_person=study.contact_person,
        email_texts=tuple((kind, t["subject"], t["body"]) for kind, t in
                          sorted((study.email_texts or {}).items(),
                                 key=lambda kv: _kind_order(kv[0]))),
        information_sheet=consent.information_sheet if consent else "",
        consent_statement=consent.statement if consent else "",
        asks_conflict_declarations=study.asks_conflict_declarations,
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
