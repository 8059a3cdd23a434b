"""The statements of a round as every panellist sees them, rendered once and stored.

A launched round's statements never change (a rewording is a new statement), and the
round before it is closed: its stored result and its comments are what the panel is
shown. So what is the same for every panellist is rendered when the round is launched
and stored as one ``StatementBlock`` row per statement (``store_round_blocks``): the
statement's text, the whole panel's histogram and numbers, the stakeholder groups
(small ones hidden, see ``consensus.disclosure``) and the comments. A voting page then
reads the panellist, their saved answers, their own ratings of the round before, and
these rows; nothing of one panellist is ever stored here or kept in memory.

What is fed back can still change after the launch: a facilitator hides or redacts a
comment, or a panellist's answers are erased and the results recomputed. Whoever
changes it calls ``rebuild_round_feedback`` in the same unit of work.

The numbers, ratings and comments are read by ``delphi.results.feedback``. The stored
HTML is drawn from the panel's templates; it lives here, beside the results, because the
round's launch, the recomputed results and comment moderation all rebuild it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import get_template_attribute
from markupsafe import Markup

from ..consensus.disclosure import disclose_rows
from ..consensus.scales import Scale, get_scale
from ..extensions import db
from ..models import (
    Item,
    Round,
    RoundItem,
    RoundState,
    Section,
    StatementBlock,
    Study,
    item_label,
    utcnow,
)
from .feedback import round_comments, rows_by_item, study_groups

STATEMENT_TEMPLATE = "panel/_statement.html"
FEEDBACK_TEMPLATE = "panel/_feedback.html"
# The templates the stored HTML is rendered from: a change to any of them (a new release)
# makes the stored rows stale, and pages render afresh until they are rebuilt.
BLOCK_TEMPLATES = ("_statement.html", "_feedback.html", "_bars.html", "_histogram.html",
                   "_references.html")
LOCALE = "en"  # the only language so far; the stored rows are per locale


def _template_version() -> str:
    folder = Path(__file__).resolve().parent.parent / "templates" / "panel"
    digest = hashlib.sha256()
    for name in BLOCK_TEMPLATES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


TEMPLATE_VERSION = _template_version()


@dataclass(frozen=True)
class GroupFeedback:
    name: str
    stats: dict[str, Any]


@dataclass
class ItemFeedback:
    """The closed round's numbers for one statement, the same for every panellist."""

    stats: dict[str, Any]
    source_id: int  # the statement of the round before whose answers these are
    groups: list[GroupFeedback] = field(default_factory=list)
    hidden_groups: int = 0  # every group not shown (small ones and withheld ones)
    withheld_groups: int = 0  # large enough, hidden so that the small ones stay hidden
    comments: list[str] = field(default_factory=list)
    earlier_wording: str | None = None
    scale: Scale | None = None
    min_group_size: int = 1


@dataclass(frozen=True)
class PageStatement:
    """One statement of a voting page: what identifies it, and its shared HTML."""

    id: int
    key: str
    version: int
    section_id: int
    scale_key: str
    head_html: Markup
    feedback_html: Markup = Markup("")
    groups_html: Markup = Markup("")
    feedback_item_id: int | None = None

    @property
    def label(self) -> str:
        return item_label(self.key, self.version)

    @property
    def scale(self) -> Scale:
        return get_scale(self.scale_key)


# --- building -------------------------------------------------------------------------

def round_before(rnd: Round) -> Round | None:
    """The closed round whose answers a round shows, with stored results; None in round 1."""
    if rnd.number <= 1:
        return None
    before = db.session.scalar(sa.select(Round).where(Round.study_id == rnd.study_id,
                                                      Round.number == rnd.number - 1))
    return before if before is not None and before.state is RoundState.CLOSED else None


def feedback_for_round(before: Round, items: Sequence[Item]) -> dict[int, ItemFeedback]:
    """Per item id, what the panel answered in the closed round ``before`` (no one's own)."""
    rows = rows_by_item(before.id, before.number)
    if rows is None:
        return {}
    study = before.study
    comments = round_comments(before.id)
    groups = [(g.key, g.name) for g in study_groups(study.id)] \
        if study.feedback_by_group else []
    feedback: dict[int, ItemFeedback] = {}
    for item in items:
        source = item
        label = item_label(item.key, item.version)
        if label not in rows:
            parent = item.parent
            if parent is None or (label := item_label(parent.key, parent.version)) not in rows:
                continue
            source = parent
        by_group = rows[label]
        entry = ItemFeedback(stats=by_group[None], source_id=source.id,
                             comments=list(comments.get(source.id, ())),
                             earlier_wording=source.text if source is not item else None,
                             scale=get_scale(item.scale_key),
                             min_group_size=study.min_group_size)
        if groups:
            _add_groups(entry, by_group, groups, study.min_group_size)
        feedback[item.id] = entry
    return feedback


def _add_groups(entry: ItemFeedback, by_group: dict[str | None, dict[str, Any]],
                groups: Sequence[Any], minimum: int) -> None:
    """Add the groups that may be shown, and count the hidden ones: small groups and, where
    needed, one more so that no hidden group's answers follow from the whole panel's."""
    rows = [(key, by_group[key]) for key, _ in groups if key in by_group]
    shown = disclose_rows(by_group[None], rows, minimum)
    names = dict(groups)
    entry.groups = [GroupFeedback(names[key], by_group[key]) for key in shown.shown]
    entry.hidden_groups = len(shown.hidden)
    entry.withheld_groups = len(shown.withheld)


def render_statements(number: int, items: Sequence[Item],
                      feedback: dict[int, ItemFeedback]) -> list[PageStatement]:
    """The shared HTML of each statement of round ``number`` (in the items' order)."""
    head = get_template_attribute(STATEMENT_TEMPLATE, "head")
    panel_part = get_template_attribute(FEEDBACK_TEMPLATE, "panel_part")
    groups_part = get_template_attribute(FEEDBACK_TEMPLATE, "groups_part")
    out = []
    for item in items:
        fb = feedback.get(item.id)
        out.append(PageStatement(
            item.id, item.key, item.version, item.section_id, item.scale_key, head(item),
            panel_part(fb, number - 1) if fb else Markup(""),
            groups_part(fb) if fb else Markup(""), fb.source_id if fb else None))
    return out


def build_statements(rnd: Round) -> list[PageStatement]:
    """Render a launched round's statements with the feedback of the round before."""
    items = rnd.items
    before = round_before(rnd)
    feedback = feedback_for_round(before, items) if before is not None else {}
    return render_statements(rnd.number, items, feedback)


def store_round_blocks(rnd: Round) -> int:
    """Render and store (replacing what was stored) the shared HTML of a launched round's
    statements; flushes, the caller commits. Returns how many statements were stored."""
    db.session.execute(sa.delete(StatementBlock).where(StatementBlock.round_id == rnd.id,
                                                       StatementBlock.locale == LOCALE))
    now = utcnow()
    statements = build_statements(rnd)
    db.session.add_all(StatementBlock(
        round_id=rnd.id, item_id=s.id, locale=LOCALE, template_version=TEMPLATE_VERSION,
        position=position, head_html=str(s.head_html), feedback_html=str(s.feedback_html),
        groups_html=str(s.groups_html), feedback_item_id=s.feedback_item_id, built_at=now)
        for position, s in enumerate(statements))
    db.session.flush()
    return len(statements)


def rebuild_round_feedback(round_: Round) -> int:
    """Recompute the stored feedback that shows the answers of ``round_``.

    ``round_`` is the round whose answers and comments are fed back (a comment's
    ``Rating.round_id``): the stored statements of the round launched after it are
    rendered again from what is stored now (its results, its comments as moderated).
    Call it in the same unit of work as the change (hiding or redacting a comment,
    erasing a panellist's answers, recomputing results), after flushing it; it flushes
    and never commits. Before the next round is launched there is nothing stored to
    rebuild (the launch renders it then) and it returns 0; otherwise it returns the
    number of statements rebuilt. Panellists see the change on their next page view.
    """
    shown_in = db.session.scalar(sa.select(Round).where(Round.study_id == round_.study_id,
                                                        Round.number == round_.number + 1))
    if shown_in is None or shown_in.state is RoundState.DRAFT:
        return 0
    return store_round_blocks(shown_in)


# --- reading ------------------------------------------------------------------------------

# The page's queries are built once (SQLAlchemy compiles each once per process too): a
# view only binds the round's and the panellist's ids.
PAGE_STATEMENTS = (
    sa.select(StatementBlock.item_id, Item.key, Item.version, Item.section_id,
              sa.func.coalesce(Section.scale_key, Study.scale_key), StatementBlock.head_html,
              StatementBlock.feedback_html, StatementBlock.groups_html,
              StatementBlock.feedback_item_id, StatementBlock.template_version)
    .join(Item, Item.id == StatementBlock.item_id)
    .join(Section, Section.id == Item.section_id)
    .join(Study, Study.id == Item.study_id)
    .where(StatementBlock.round_id == sa.bindparam("round_id"),
           StatementBlock.locale == sa.bindparam("locale"))
    .order_by(StatementBlock.position))


def page_statements(rnd: Round) -> list[PageStatement]:
    """A launched round's statements for its voting page: the stored rows, in one query.

    Rows missing or rendered from other templates (stored before a release) are not
    used: the statements are rendered afresh for this page (and not stored: a page view
    changes nothing; the next rebuild stores them).
    """
    rows = db.session.execute(PAGE_STATEMENTS, {"round_id": rnd.id, "locale": LOCALE}).all()
    if not rows or any(row[-1] != TEMPLATE_VERSION for row in rows):
        return build_statements(rnd)
    return [PageStatement(ident, key, version, section_id, scale_key, _stored(head),
                          _stored(fb), _stored(groups), source)
            for ident, key, version, section_id, scale_key, head, fb, groups, source, _
            in rows]


def _stored(html: str) -> Markup:
    """Stored HTML as markup: only ``store_round_blocks`` writes it, from the autoescaped
    templates, so whatever a panellist or facilitator typed in it is escaped already."""
    return Markup(html)  # noqa: S704 - see the docstring


def statement_keys(rnd: Round) -> list[PageStatement]:
    """A launched round's statements without their HTML (what the voting form needs)."""
    study_scale = db.session.execute(
        sa.select(Study.scale_key).where(Study.id == rnd.study_id)).scalar_one()
    return [PageStatement(ident, key, version, section_id, scale_key or study_scale, Markup(""))
            for ident, key, version, section_id, scale_key in db.session.execute(
                sa.select(Item.id, Item.key, Item.version, Item.section_id, Section.scale_key)
                .join(RoundItem, RoundItem.item_id == Item.id)
                .join(Section, Section.id == Item.section_id)
                .where(RoundItem.round_id == rnd.id).order_by(RoundItem.position))]


def by_id(statements: Iterable[PageStatement]) -> dict[int, PageStatement]:
    return {s.id: s for s in statements}
