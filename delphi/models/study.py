"""A study and what it is made of: settings, groups, sections, items and its panel."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..consensus.scales import SCALES, Scale, get_scale
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
# keep their ratings and comments under the pseudonym, or delete them.
ERASURE_POLICIES = ("keep-pseudonymised", "delete-answers")

RULES = ("comet", "percent", "iqr", "rand")
UTS_RULES = ("exclude", "include")
GROUP_RULES = ("pooled", "all", "any")
ZERO_METHODS = ("wilcox", "pratt", "zsplit")
PERCENTILE_METHODS = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


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
    __table_args__ = (
        sa.CheckConstraint(_in("primary_rule", RULES), name="primary_rule_known"),
        sa.CheckConstraint(_in("uts_rule", UTS_RULES), name="uts_rule_known"),
        sa.CheckConstraint(_in("group_rule", GROUP_RULES), name="group_rule_known"),
        sa.CheckConstraint(_in("percentile_method", PERCENTILE_METHODS), name="percentile_known"),
        sa.CheckConstraint("comet_agree_pct BETWEEN 1 AND 100", name="comet_agree_range"),
        sa.CheckConstraint("comet_disagree_pct BETWEEN 1 AND 100", name="comet_disagree_range"),
        sa.CheckConstraint("percent_threshold BETWEEN 1 AND 100", name="percent_range"),
        sa.CheckConstraint("iqr_max >= 0", name="iqr_max_nonnegative"),
        sa.CheckConstraint("stability_pp BETWEEN 1 AND 100", name="stability_range"),
        sa.CheckConstraint(_in("wilcoxon_zero_method", ZERO_METHODS), name="zero_method_known"),
        sa.CheckConstraint("scheibe_threshold BETWEEN 0 AND 1", name="scheibe_range"),
        sa.CheckConstraint("min_group_size >= 1", name="consensus_min_group_size_positive"),
    )

    LOCKED_FIELDS = (
        "primary_rule",
        "comet_agree_pct",
        "comet_disagree_pct",
        "percent_threshold",
        "iqr_max",
        "iqr_median_min",
        "uts_rule",
        "percentile_method",
        "group_rule",
        "min_group_size",
        "stability_pp",
        "scheibe_threshold",
        "wilcoxon_zero_method",
        "wilcoxon_correction",
        "round_thresholds",
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        sa.ForeignKey("study.id", ondelete="CASCADE"), unique=True
    )
    primary_rule: Mapped[str] = mapped_column(sa.String(16), default="comet")
    comet_agree_pct: Mapped[int] = mapped_column(default=70)
    comet_disagree_pct: Mapped[int] = mapped_column(default=15)
    percent_threshold: Mapped[int] = mapped_column(default=75)
    iqr_max: Mapped[int] = mapped_column(default=1)
    iqr_median_min: Mapped[int | None] = mapped_column()
    uts_rule: Mapped[str] = mapped_column(sa.String(16), default="exclude")
    percentile_method: Mapped[str] = mapped_column(sa.String(32), default="linear")
    group_rule: Mapped[str] = mapped_column(sa.String(16), default="pooled")
    stability_pp: Mapped[int] = mapped_column(default=15)
    # Groups with fewer valid ratings on a statement are left out of the all/any group rules
    # (not the feedback's anonymity minimum, which is Study.min_group_size).
    min_group_size: Mapped[int] = mapped_column(default=3, server_default="3")
    # A fraction; a float column read back through its shortest repr (0.15 -> 3/20 exactly).
    scheibe_threshold: Mapped[float] = mapped_column(default=0.15, server_default="0.15")
    wilcoxon_zero_method: Mapped[str] = mapped_column(sa.String(8), default="wilcox",
                                                      server_default="wilcox")
    wilcoxon_correction: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
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
        from ..consensus.settings import Settings, parse_number

        return Settings(
            scale=self.study.scale_key, primary_rule=self.primary_rule,
            comet_agree_pct=self.comet_agree_pct, comet_disagree_pct=self.comet_disagree_pct,
            percent_threshold=self.percent_threshold, iqr_max=self.iqr_max,
            iqr_median_min=self.iqr_median_min, uts=self.uts_rule,
            percentile_method=self.percentile_method, group_rule=self.group_rule,
            stability_pp=self.stability_pp,
            # Stored as a float; the engine reads it as the decimal written (0.15 = 3/20).
            scheibe_threshold=parse_number("scheibe_threshold", self.scheibe_threshold),
            wilcoxon_zero_method=self.wilcoxon_zero_method,
            wilcoxon_correction=self.wilcoxon_correction,
            min_group_size=self.min_group_size, round_thresholds=self.round_thresholds or {},
        )

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
    # Set when the panellist's personal data was erased: the row stays as a pseudonym
    # (name and attributes empty, email a ``.invalid`` placeholder) so counts hold.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    study: Mapped[Study] = relationship(back_populates="panellists")
    group: Mapped[StakeholderGroup] = relationship(back_populates="panellists")

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


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
