"""A study and what it is made of: settings, groups, sections, items and its panel."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..consensus.scales import SCALES, Scale, get_scale
from ..consensus.settings import STUDY_SETTINGS, Settings, Spec, number_to_json
from ..extensions import Model
from .types import IllegalTransition, UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .accounts import StudyMembership
    from .rounds import Round


class StudyState(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    FINISHED = "finished"
    ARCHIVED = "archived"  # finished, read-only, waiting for its retention date


STUDY_TRANSITIONS = {
    StudyState.DRAFT: {StudyState.RUNNING},
    StudyState.RUNNING: {StudyState.FINISHED},
    StudyState.FINISHED: {StudyState.ARCHIVED},
    StudyState.ARCHIVED: set(),
}
# What erasing a panellist does to their answers (the study protocol's choice):
# keep their ratings and comments under the pseudonym, or delete them.  The same
# choice applies when a panellist withdraws themselves (docs/personal-data.md).
ERASURE_POLICIES = ("keep-pseudonymised", "delete-answers")
# Who ended a panellist's participation: the study team, the panellist from their
# link, or the panellist by declining consent on the first visit.
WITHDRAWAL_KINDS = ("team", "self", "declined")
CONSENT_DECISIONS = ("consented", "declined")

def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _sql_number(value: Any) -> str:
    return str(number_to_json(value))


def setting_check(spec: Spec) -> str | None:
    """The CHECK clause that keeps a stored setting within what the registry allows."""
    column = spec.column or spec.name
    if spec.kind == "choice":
        return _in(column, spec.options())
    if spec.kind not in ("number", "integer"):
        return None
    low, high = spec.study_range
    clause = (f"{column} >= {_sql_number(low)}" if high is None else
              f"{column} BETWEEN {_sql_number(low)} AND {_sql_number(high)}")
    return f"{column} IS NULL OR {clause}" if spec.default is None else clause


def setting_checks() -> tuple[sa.CheckConstraint, ...]:
    """One CHECK constraint per stored setting with choices or a range (``STUDY_SETTINGS``)."""
    return tuple(sa.CheckConstraint(clause, name=spec.check)
                 for spec in STUDY_SETTINGS.values()
                 if (clause := setting_check(spec)) is not None)


def setting_column(name: str, *args: Any, **kwargs: Any) -> Any:
    """The column of setting ``name``, with the registry's default (None: nullable)."""
    default = STUDY_SETTINGS[name].study_default
    return mapped_column(*args, default=default, **kwargs) if default is not None \
        else mapped_column(*args, **kwargs)


class Study(Model):
    """A Delphi study: its statements, scale, consensus settings, panel and rounds."""

    __tablename__ = "study"
    __table_args__ = (
        sa.CheckConstraint(_in("scale_key", tuple(SCALES)), name="scale_known"),
        sa.CheckConstraint("min_group_size >= 1", name="min_group_size_positive"),
        sa.CheckConstraint("slug <> ''", name="slug_not_empty"),
        sa.CheckConstraint(_in("erasure", ERASURE_POLICIES), name="erasure_known"),
        sa.CheckConstraint("retention_days IS NULL OR retention_days >= 0",
                           name="retention_days_nonnegative"),
        sa.CheckConstraint("time_zone <> ''", name="time_zone_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    # How emails name the study (subjects) and who signs them; see ``mail_name``.
    short_name: Mapped[str] = mapped_column(sa.String(40), default="", server_default="")
    sender_name: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    plain_language: Mapped[str] = mapped_column(sa.Text, default="")
    method: Mapped[str] = mapped_column(sa.String(120), default="modified e-Delphi")
    state: Mapped[StudyState] = mapped_column(
        enum_column(StudyState, "study_state"), default=StudyState.DRAFT
    )
    scale_key: Mapped[str] = mapped_column(sa.String(24), default="grade-1-9")
    allow_uts: Mapped[bool] = mapped_column(default=True)
    feedback_by_group: Mapped[bool] = mapped_column(default=True)
    min_group_size: Mapped[int] = mapped_column(default=3)
    ask_reason_on_band_change: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    report_fields: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict,
                                                          server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Personal data (docs/personal-data.md): what erasing a panellist does to their
    # answers, and how many days after finishing an archived study is deleted (None:
    # kept until someone deletes it).
    erasure: Mapped[str] = mapped_column(sa.String(24), default="keep-pseudonymised",
                                         server_default="keep-pseudonymised")
    retention_days: Mapped[int | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Deadlines and schedules: the IANA time zone every time is entered and shown in,
    # and the reminders the mail worker sends before a deadline (days before it, e.g.
    # [7, 2]) to those who have not submitted.
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC")
    reminder_days: Mapped[list[int]] = mapped_column(sa.JSON, default=list,
                                                     server_default="[]")
    # Panel suggestions in every round, not only round 1.
    suggestions_every_round: Mapped[bool] = mapped_column(default=False,
                                                          server_default=sa.false())
    # Email texts (delphi/email_texts.py): the Reply-To address, the contact person named
    # in the emails, and the edited subject and body of each kind of message
    # ({"reminder": {"subject": ..., "body": ...}}; a kind not there keeps the default).
    reply_to: Mapped[str] = mapped_column(sa.String(254), default="", server_default="")
    contact_person: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    email_texts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict,
                                                        server_default="{}")
    # Ask each panellist to declare potential conflicts of interest on their first visit
    # (``declarations.conflicts`` in the survey file; see delphi/declarations).
    asks_conflict_declarations: Mapped[bool] = mapped_column(default=False,
                                                             server_default=sa.false())

    consensus: Mapped[ConsensusSettings] = relationship(
        back_populates="study", cascade="all, delete-orphan", uselist=False
    )
    groups: Mapped[list[StakeholderGroup]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="StakeholderGroup.position"
    )
    sections: Mapped[list[Section]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="Section.position"
    )
    items: Mapped[list[Item]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="Item.position"
    )
    panellists: Mapped[list[Panellist]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="Panellist.id"
    )
    memberships: Mapped[list[StudyMembership]] = relationship(
        back_populates="study", cascade="all, delete-orphan"
    )
    rounds: Mapped[list[Round]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="Round.number"
    )
    consent_documents: Mapped[list[ConsentDocument]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="ConsentDocument.version"
    )

    @property
    def consent_document(self) -> ConsentDocument | None:
        """The information sheet and consent statement in force: the latest version."""
        return self.consent_documents[-1] if self.consent_documents else None

    @property
    def mail_name(self) -> str:
        """The study's name in email subjects: its short name, else its title."""
        return self.short_name or self.title

    @property
    def signature(self) -> str:
        """Who signs the emails: the sender name, else the short name's committee."""
        return self.sender_name or f"The {self.mail_name} steering committee"

    @property
    def scale(self) -> Scale:
        return get_scale(self.scale_key)

    @property
    def zone(self) -> Any:
        """The study's time zone (``zoneinfo``); UTC if the stored name is unknown here."""
        from ..timezones import zone

        return zone(self.time_zone)

    @property
    def is_closed_for_good(self) -> bool:
        """Finished or archived: no more rounds, decisions or changes to the definition."""
        return self.state in (StudyState.FINISHED, StudyState.ARCHIVED)

    @property
    def retention_until(self) -> datetime | None:
        """When an archived study may be deleted: ``retention_days`` after it finished."""
        if self.retention_days is None or self.finished_at is None:
            return None
        return self.finished_at + timedelta(days=self.retention_days)

    def move_to(self, new_state: StudyState) -> None:
        """Change state along the study lifecycle, raising on an illegal move."""
        if new_state not in STUDY_TRANSITIONS[self.state]:
            raise IllegalTransition("study.bad_transition",
                                    "a study cannot go from {state} to {to}",
                                    state=self.state.value, to=new_state.value)
        self.state = new_state

    @property
    def current_round(self) -> Round | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def running_round(self) -> Round | None:
        """The round open for answers now, if any."""
        current = self.current_round
        return current if current is not None and current.state.value == "open" else None

    def group_by_key_or_name(self, value: str) -> StakeholderGroup | None:
        """Find a stakeholder group by its key or its name, ignoring case."""
        wanted = value.strip().casefold()
        for group in self.groups:
            if wanted in (group.key.casefold(), group.name.casefold()):
                return group
        return None


class ConsensusSettings(Model):
    """The consensus criteria fixed before round 1; immutable once ``locked_at`` is set."""

    __tablename__ = "consensus_settings"
    __table_args__ = setting_checks()

    # Every setting is fixed when round 1 is launched.
    LOCKED_FIELDS = tuple(spec.column for spec in STUDY_SETTINGS.values() if spec.column)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        sa.ForeignKey("study.id", ondelete="CASCADE"), unique=True
    )
    # One column per setting of the registry (delphi/consensus/settings.py), its default
    # and its CHECK constraint taken from there; tests/test_settings_registry.py checks
    # that every setting has its column.
    primary_rule: Mapped[str] = setting_column("primary_rule", sa.String(16))
    comet_agree_pct: Mapped[int] = setting_column("comet_agree_pct")
    comet_disagree_pct: Mapped[int] = setting_column("comet_disagree_pct")
    percent_threshold: Mapped[int] = setting_column("percent_threshold")
    iqr_max: Mapped[int] = setting_column("iqr_max")
    iqr_median_min: Mapped[int | None] = setting_column("iqr_median_min")
    uts_rule: Mapped[str] = setting_column("uts", sa.String(16))
    percentile_method: Mapped[str] = setting_column("percentile_method", sa.String(32))
    group_rule: Mapped[str] = setting_column("group_rule", sa.String(16))
    stability_pp: Mapped[int] = setting_column("stability_pp")
    # Groups with fewer valid ratings on a statement are left out of the all/any group rules
    # (not the feedback's anonymity minimum, which is Study.min_group_size).
    min_group_size: Mapped[int] = setting_column("min_group_size", server_default="3")
    # A fraction; a float column read back through its shortest repr (0.15 -> 3/20 exactly).
    scheibe_threshold: Mapped[float] = setting_column("scheibe_threshold", server_default="0.15")
    wilcoxon_zero_method: Mapped[str] = setting_column("wilcoxon_zero_method", sa.String(8),
                                                       server_default="wilcox")
    wilcoxon_correction: Mapped[bool] = setting_column("wilcoxon_correction",
                                                       server_default=sa.true())
    # {"2": {"comet_agree_pct": 75}}: thresholds that change from a round on.
    round_thresholds: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict,
                                                             server_default="{}")
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    study: Mapped[Study] = relationship(back_populates="consensus")

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    def lock(self, when: datetime) -> None:
        """Fix the settings for the rest of the study."""
        if self.locked_at is not None:
            raise IllegalTransition("settings.locked_already",
                                    "the consensus settings are already locked")
        self.locked_at = when

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain values, in the order the survey file uses."""
        return {name: getattr(self, name) for name in self.LOCKED_FIELDS}

    def engine_settings(self) -> Any:
        """The statistics engine's ``Settings`` for these consensus settings."""
        values = {name: getattr(self, spec.column or name)
                  for name, spec in STUDY_SETTINGS.items()}
        values["round_thresholds"] = values["round_thresholds"] or {}
        return Settings(scale=self.study.scale_key, **values)

    def describe(self) -> str:
        """Plain sentences saying what the primary rule, the UTS rule and the group rule mean.

        The text comes from the statistics engine's methods module, so that it says
        exactly what the engine computes with these settings.
        """
        from ..consensus.methods import rule_in_words

        settings = self.engine_settings()
        sentences = [rule_in_words(settings)]
        others = dict.fromkeys(s.scale_key for s in self.study.sections
                               if s.scale_key and s.scale_key != self.study.scale_key)
        if others:  # sections rated on their own scales count in that scale's bands
            bands = "; ".join(f"{get_scale(k).name}: {get_scale(k).agree_band.label} and "
                              f"{get_scale(k).disagree_band.label}" for k in others)
            sentences.append(f"Statements of sections rated on another scale count in that "
                             f"scale's bands ({bands}).")
        return " ".join(sentences)


class StakeholderGroup(Model):
    """A stakeholder group of the panel, such as paediatric rheumatologists or parents."""

    __tablename__ = "stakeholder_group"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "key"),
        sa.UniqueConstraint("study_id", "name"),
        sa.CheckConstraint("key <> ''", name="key_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)

    study: Mapped[Study] = relationship(back_populates="groups")
    panellists: Mapped[list[Panellist]] = relationship(back_populates="group")


class Section(Model):
    """A titled part of the questionnaire, rated on the study's scale or on its own."""

    __tablename__ = "section"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "key"),
        sa.CheckConstraint("scale_key IS NULL OR " + _in("scale_key", tuple(SCALES)),
                           name="section_scale_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # The section's own rating scale; None rates it on the study's scale.
    scale_key: Mapped[str | None] = mapped_column(sa.String(24))
    # A short summary of the evidence, shown to panellists at the top of the section.
    evidence: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # The sources of the evidence summary, as an item's ``references``.
    references: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list,
                                                            server_default="[]")
    position: Mapped[int] = mapped_column(default=0)

    study: Mapped[Study] = relationship(back_populates="sections")
    items: Mapped[list[Item]] = relationship(back_populates="section", order_by="Item.position")

    @property
    def scale(self) -> Scale:
        """The scale its statements are rated on."""
        return get_scale(self.scale_key or self.study.scale_key)


class ItemStatus(enum.StrEnum):
    ACTIVE = "active"
    DROPPED = "dropped"
    SUPERSEDED = "superseded"


class ItemOrigin(enum.StrEnum):
    PROPOSED = "proposed"
    SUGGESTED = "suggested"
    REWORDED = "reworded"
    MERGED = "merged"
    SPLIT = "split"



def item_label(key: str, version: int) -> str:
    """An item's name: its key, plus the version after a reword (``a-02``, ``a-02.v2``).

    The one convention: stored round results, exports and pages all key on it."""
    return key if version == 1 else f"{key}.v{version}"


class Item(Model):
    """A statement the panel rates; a rewording is a new version whose parent is the old one."""

    __tablename__ = "item"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "key", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("key <> ''", name="key_not_empty"),
        sa.CheckConstraint("text <> ''", name="text_not_empty"),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int] = mapped_column(
        sa.ForeignKey("section.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(default=1)
    text: Mapped[str] = mapped_column(sa.Text)
    plain_text: Mapped[str] = mapped_column(sa.Text, default="")
    rationale: Mapped[str] = mapped_column(sa.Text, default="")
    # The sources the rationale cites: [{"text": ..., "doi": ...} or {..., "pmid": ...}].
    references: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list,
                                                            server_default="[]")
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("item.id", ondelete="SET NULL"), index=True
    )
    origin: Mapped[ItemOrigin] = mapped_column(
        enum_column(ItemOrigin, "item_origin"), default=ItemOrigin.PROPOSED
    )
    status: Mapped[ItemStatus] = mapped_column(
        enum_column(ItemStatus, "item_status"), default=ItemStatus.ACTIVE
    )
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    study: Mapped[Study] = relationship(back_populates="items")
    section: Mapped[Section] = relationship(back_populates="items")
    parent: Mapped[Item | None] = relationship(remote_side="Item.id")

    @property
    def label(self) -> str:
        """How the item is named everywhere: pages, exports and stored results."""
        return item_label(self.key, self.version)

    @property
    def scale_key(self) -> str:
        """The key of the scale it is rated on: its section's, else the study's."""
        return self.section.scale_key or self.study.scale_key

    @property
    def scale(self) -> Scale:
        return get_scale(self.scale_key)


class Panellist(Model):
    """An expert on the panel, reached only through personal links sent by email."""

    __tablename__ = "panellist"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "email"),
        sa.UniqueConstraint("study_id", "pseudonym"),
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
        sa.CheckConstraint("withdrawal_kind IS NULL OR "
                           + _in("withdrawal_kind", WITHDRAWAL_KINDS),
                           name="withdrawal_kind_known"),
        sa.CheckConstraint("(withdrawn_at IS NULL) = (withdrawal_kind IS NULL)",
                           name="withdrawal_kind_when_withdrawn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("stakeholder_group.id", ondelete="RESTRICT"), index=True
    )
    pseudonym: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254))
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(default=True)  # False exactly while withdrawn
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the team withdraws the panellist (or revokes their links): they are not
    # invited to later rounds until reinstated.  Both audited with before and after.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawal_reason: Mapped[str] = mapped_column(sa.String(500), default="",
                                                   server_default="")
    # Who withdrew them (WITHDRAWAL_KINDS); set exactly while ``withdrawn_at`` is.
    withdrawal_kind: Mapped[str | None] = mapped_column(sa.String(12))
    # The language their emails and pages should be in: a language tag ("en", "fr",
    # "pt-BR"), or "" for the study's own.
    language: Mapped[str] = mapped_column(sa.String(16), default="", server_default="")
    # Set when the panellist's personal data was erased: the row stays as a pseudonym
    # (name and attributes empty, email a ``.invalid`` placeholder) so counts hold.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    study: Mapped[Study] = relationship(back_populates="panellists")
    group: Mapped[StakeholderGroup] = relationship(back_populates="panellists")

    consent_records: Mapped[list[ConsentRecord]] = relationship(
        back_populates="panellist", cascade="all, delete-orphan", order_by="ConsentRecord.id"
    )

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def latest_consent(self) -> ConsentRecord | None:
        return self.consent_records[-1] if self.consent_records else None

    def needs_consent(self) -> bool:
        """Whether their next visit must first show the information sheet and ask: the study
        has one, and their latest answer is not consent to its version in force.

        One query (every page view and autosave asks): the version in force and the
        panellist's latest answer, as two scalar subqueries; nothing else is loaded. The
        statement is built once (``CONSENT_STATE``): a call only binds the two ids."""
        from ..extensions import db

        document_id, consented = db.session.execute(
            CONSENT_STATE, {"study_id": self.study_id, "panellist_id": self.id}).one()
        return document_id is not None and consented != document_id


class ConsentDocument(Model):
    """One version of a study's participant information sheet and consent statement.

    Edited in place while the study is a draft; once round 1 is launched an edit adds a
    new version, and a panellist who consented to an older one is asked again.
    """

    __tablename__ = "consent_document"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "version"),
        sa.CheckConstraint("version >= 1", name="consent_version_positive"),
        sa.CheckConstraint("information_sheet <> ''", name="information_sheet_not_empty"),
        sa.CheckConstraint("statement <> ''", name="statement_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    information_sheet: Mapped[str] = mapped_column(sa.Text)
    statement: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    study: Mapped[Study] = relationship(back_populates="consent_documents")


class ConsentRecord(Model):
    """A panellist's answer to one version of the consent statement, and when."""

    __tablename__ = "consent_record"
    __table_args__ = (
        sa.CheckConstraint(_in("decision", CONSENT_DECISIONS), name="consent_decision_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    panellist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("panellist.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[int] = mapped_column(
        sa.ForeignKey("consent_document.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(sa.String(10))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    panellist: Mapped[Panellist] = relationship(back_populates="consent_records")
    document: Mapped[ConsentDocument] = relationship()


# ``Panellist.needs_consent``: the id of the study's consent version in force, and the
# document the panellist's latest answer consented to (None unless it was a consent).
_LATEST_ANSWER = (sa.select(ConsentRecord.id)
                  .where(ConsentRecord.panellist_id == sa.bindparam("panellist_id"))
                  .order_by(ConsentRecord.id.desc()).limit(1).scalar_subquery())
CONSENT_STATE = sa.select(
    sa.select(ConsentDocument.id).where(ConsentDocument.study_id == sa.bindparam("study_id"))
    .order_by(ConsentDocument.version.desc()).limit(1).scalar_subquery(),
    sa.select(ConsentRecord.document_id).where(ConsentRecord.id == _LATEST_ANSWER,
                                               ConsentRecord.decision == "consented")
    .scalar_subquery())


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_locked_settings(session: Session, _context: Any, _instances: Any) -> None:
    """Locked consensus settings never change: the rule was fixed before round 1."""
    for obj in session.dirty:
        if not isinstance(obj, ConsensusSettings):
            continue
        state = sa.inspect(obj)
        history = state.attrs.locked_at.history
        locked_before = history.deleted[0] if history.deleted else (
            None if history.added else obj.locked_at
        )
        if locked_before is None:
            continue
        changed = [name for name in ConsensusSettings.LOCKED_FIELDS + ("locked_at",)
                   if state.attrs[name].history.has_changes()]
        if changed:
            raise IllegalTransition(
                "settings.locked", "the consensus settings were locked at {locked_at} UTC "
                "and cannot change ({fields})", locked_at=f"{locked_before:%Y-%m-%d %H:%M}",
                fields=", ".join(changed))
    for obj in session.deleted:
        if isinstance(obj, ConsensusSettings) and obj.locked_at is not None:
            if obj.study not in session.deleted:
                raise IllegalTransition("settings.locked_delete",
                                        "locked consensus settings cannot be deleted")
