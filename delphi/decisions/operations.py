"""Decisions between rounds: what each statement becomes, with a reason, in the audit log.

Use cases flush and never commit; the caller commits once.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import sqlalchemy as sa

from .. import audit
from ..extensions import db
from ..models import (
    DecisionKind,
    DecisionSubject,
    DomainError,
    DropOutcome,
    Item,
    ItemDecision,
    ItemLink,
    ItemOrigin,
    ItemStatus,
    RoundState,
    Section,
    Study,
    StudyState,
    Suggestion,
    utcnow,
)
from ..surveys import KEY_RE, MAX_TEXT


def last_closed_round_number(study: Study) -> int:
    """The round the committee is deciding after; refuses while a round is open."""
    current = study.current_round
    if current is None:
        raise DomainError("decision.no_round", "no round has been run yet; edit the survey file "
                          "instead")
    if current.state is not RoundState.CLOSED:
        raise DomainError("decision.round_not_closed", "round {number} is {state}; decide after it "
                          "closes", number=current.number, state=current.state.value)
    if study.is_closed_for_good:
        raise DomainError("decision.study_closed", "the study is {state}", state=study.state.value)
    return current.number


def _clean(text: str, what: str, required: bool = True) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise DomainError("decision.text_required", "{what} is required", what=what)
    if len(text) > MAX_TEXT:
        raise DomainError("decision.text_too_long", "{what} is longer than {limit} characters",
                          what=what, limit=MAX_TEXT)
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise DomainError("decision.control_character", "{what} contains a control character",
                          what=what)
    return text


def _same_study(study: Study, items: Sequence[Item]) -> None:
    if any(item.study_id != study.id for item in items):
        raise DomainError("decision.other_study_item", "that statement belongs to another study")


def _active(study: Study, item: Item) -> Item:
    if item.study_id != study.id:
        raise DomainError("decision.other_study_item", "that statement belongs to another study")
    if item.status is not ItemStatus.ACTIVE:
        raise DomainError("decision.item_not_active", "{item} is {item_status}; only current "
                          "statements can change", item=item.label,
                          item_status=item.status.value)
    return item


def _replace_earlier(study: Study, items: Sequence[Item], actor: audit.Actor,
                     replaced_by: DecisionKind) -> None:
    """Undo this round's earlier decisions about ``items``: one decision per statement per
    round, the later replacing the earlier (audited), so the item flow never holds two.

    Undoing puts the statements back as they were after the round closed: a drop is
    lifted, a rewording's, merge's or split's new statements are removed (a merge is
    undone for all its statements).  A statement made by a decision of this round (a
    new version, a merged, split or added statement) has not been rated yet: the
    decision that made it is the one to change.  Once the next round is launched its
    decisions are fixed: ``last_closed_round_number`` refuses any change.
    """
    number = last_closed_round_number(study)
    decisions = db.session.scalars(
        sa.select(ItemDecision).where(ItemDecision.study_id == study.id,
                                      ItemDecision.after_round == number)
        .order_by(ItemDecision.id)).all()
    made: dict[int, ItemDecision] = {}
    for decision in decisions:
        for link in decision.links:
            made[link.child_id] = decision
        if decision.kind is DecisionKind.ADD:
            for subject in decision.subjects:
                made[subject.item_id] = decision
    ids = {item.id for item in items}
    for item in items:
        if item.id in made:
            how = "added" if made[item.id].kind is DecisionKind.ADD else \
                f"made by a {made[item.id].kind.value}"
            raise DomainError("decision.item_not_rated", "{item} was {how} after round {number} "
                              "and has not been rated yet; change the decision that made it "
                              "instead", item=item.label, how=how, number=number)
    for decision in decisions:
        about = [s for s in decision.subjects if s.item_id in ids]
        if not about or decision.kind is DecisionKind.ADD:
            continue
        labels = [s.item.label for s in about]
        if decision.kind is DecisionKind.CARRY and len(about) < len(decision.subjects):
            for subject in about:  # the carry stands for the other statements
                decision.subjects.remove(subject)
            removed: list[str] = []
        else:
            labels = [s.item.label for s in decision.subjects]
            for subject in decision.subjects:
                subject.item.status = ItemStatus.ACTIVE
            children = list(dict.fromkeys(link.child for link in decision.links))
            removed = [c.label for c in children]
            db.session.delete(decision)
            db.session.flush()
            for child in children:
                db.session.delete(child)
        db.session.flush()
        audit.record(actor, "item.decision_replaced", study, decision=decision.id,
                     after_round=number, kind=decision.kind.value, items=labels,
                     removed=removed, replaced_by=replaced_by.value)
    db.session.expire(study, ["items"])


def _decision(study: Study, kind: DecisionKind, reason: str, actor: audit.Actor,
              subjects: Sequence[Item], outcome: DropOutcome | None = None) -> ItemDecision:
    decision = ItemDecision(study_id=study.id, after_round=last_closed_round_number(study),
                            kind=kind, outcome=outcome, reason=_clean(reason, "The reason"),
                            actor=audit.actor_label(actor))
    db.session.add(decision)
    for item in subjects:
        decision.subjects.append(DecisionSubject(item=item))
    return decision


def _record(actor: audit.Actor, study: Study, decision: ItemDecision, **detail: object) -> None:
    db.session.flush()
    audit.record(actor, f"item.{decision.kind.value}", study, decision=decision.id,
                 after_round=decision.after_round, reason=decision.reason, **detail)


def carry_forward(study: Study, items: Sequence[Item], reason: str,
                  actor: audit.Actor) -> ItemDecision:
    """Keep statements for the next round as they are."""
    _same_study(study, items)
    _replace_earlier(study, items, actor, DecisionKind.CARRY)
    items = [_active(study, i) for i in items]
    if not items:
        raise DomainError("decision.carry_none", "choose at least one statement to carry forward")
    decision = _decision(study, DecisionKind.CARRY, reason, actor, items)
    _record(actor, study, decision, items=[i.label for i in items])
    return decision


def drop(study: Study, item: Item, outcome: DropOutcome, reason: str,
         actor: audit.Actor) -> ItemDecision:
    """Take a statement out of later rounds: it reached consensus in or out, or another reason."""
    _same_study(study, [item])
    _replace_earlier(study, [item], actor, DecisionKind.DROP)
    _active(study, item)
    decision = _decision(study, DecisionKind.DROP, reason, actor, [item], outcome)
    item.status = ItemStatus.DROPPED
    _record(actor, study, decision, item=item.label, outcome=outcome.value)
    return decision


def _next_version(study: Study, key: str) -> int:
    return 1 + (db.session.scalar(
        sa.select(sa.func.max(Item.version)).where(Item.study_id == study.id, Item.key == key)
    ) or 0)


def _key_free(study: Study, key: str) -> str:
    key = key.strip()
    if not KEY_RE.match(key):
        raise DomainError("decision.bad_key", "{key!r} is not a valid key (letters, digits, '.', "
                          "'_' or '-')", key=key)
    if db.session.scalar(sa.select(Item.id).where(Item.study_id == study.id, Item.key == key)):
        raise DomainError("decision.key_taken", "the key {key!r} is already used in this study",
                          key=key)
    return key


def _child(study: Study, decision: ItemDecision, parents: Sequence[Item], *, key: str,
           version: int, text: str, origin: ItemOrigin, rationale: str = "",
           plain_text: str = "") -> Item:
    first = parents[0] if parents else None
    item = Item(study=study, section_id=first.section_id if first else None, key=key,
                version=version, text=text, plain_text=plain_text,
                rationale=rationale or (first.rationale if first else ""),
                # the sources go with the rationale they support
                references=list(first.references or []) if first and not rationale else [],
                parent_id=first.id if first else None, origin=origin,
                position=min(p.position for p in parents) if parents else len(study.items))
    db.session.add(item)
    db.session.flush()
    for parent in parents:
        decision.links.append(ItemLink(parent_id=parent.id, child_id=item.id))
    return item


def reword(study: Study, item: Item, text: str, reason: str, actor: audit.Actor,
           plain_text: str = "") -> Item:
    """Replace a statement by a new version of itself, linked to the old one."""
    _same_study(study, [item])
    _replace_earlier(study, [item], actor, DecisionKind.REWORD)
    _active(study, item)
    text = _clean(text, "The new wording")
    if text == item.text:
        raise DomainError("decision.same_wording", "the new wording is the same as the old one")
    decision = _decision(study, DecisionKind.REWORD, reason, actor, [item])
    child = _child(study, decision, [item], key=item.key, version=_next_version(study, item.key),
                   text=text, origin=ItemOrigin.REWORDED,
                   plain_text=_clean(plain_text, "The plain-language version", required=False))
    item.status = ItemStatus.SUPERSEDED
    _record(actor, study, decision, item=item.label, new=child.label)
    return child


def merge(study: Study, items: Sequence[Item], key: str, text: str, reason: str,
          actor: audit.Actor) -> Item:
    """Replace several statements by one new statement."""
    _same_study(study, items)
    _replace_earlier(study, items, actor, DecisionKind.MERGE)
    items = [_active(study, i) for i in items]
    if len(items) < 2:
        raise DomainError("decision.merge_too_few", "choose at least two statements to merge")
    decision = _decision(study, DecisionKind.MERGE, reason, actor, items)
    child = _child(study, decision, items, key=_key_free(study, key), version=1,
                   text=_clean(text, "The merged statement"), origin=ItemOrigin.MERGED)
    for item in items:
        item.status = ItemStatus.SUPERSEDED
    _record(actor, study, decision, items=[i.label for i in items], new=child.label)
    return child


def split(study: Study, item: Item, texts: Sequence[str], reason: str,
          actor: audit.Actor) -> list[Item]:
    """Replace one statement by several narrower ones (keys KEY-a, KEY-b, ...)."""
    _same_study(study, [item])
    _replace_earlier(study, [item], actor, DecisionKind.SPLIT)
    _active(study, item)
    texts = [t for t in (_clean(t, "A new statement", required=False) for t in texts) if t]
    if len(texts) < 2:
        raise DomainError("decision.split_too_few", "a split needs at least two new statements")
    if len(texts) > len(string.ascii_lowercase):
        raise DomainError("decision.split_too_many", "a split makes at most {limit} statements",
                          limit=len(string.ascii_lowercase))
    decision = _decision(study, DecisionKind.SPLIT, reason, actor, [item])
    children = [
        _child(study, decision, [item], key=_key_free(study, f"{item.key}-{letter}"), version=1,
               text=text, origin=ItemOrigin.SPLIT)
        for letter, text in zip(string.ascii_lowercase, texts, strict=False)
    ]
    item.status = ItemStatus.SUPERSEDED
    _record(actor, study, decision, item=item.label, new=[c.label for c in children])
    return children


def add_statement(study: Study, section: Section, key: str, text: str, rationale: str,
                  reason: str, actor: audit.Actor, suggestion: Suggestion | None = None) -> Item:
    """Add a new statement for the next round, from a panellist's suggestion or the committee."""
    if section.study_id != study.id:
        raise DomainError("decision.other_study_section", "that section belongs to another study")
    decision = _decision(study, DecisionKind.ADD, reason, actor, [])
    item = Item(study=study, section_id=section.id, key=_key_free(study, key), version=1,
                text=_clean(text, "The statement"),
                rationale=_clean(rationale, "The rationale", required=False),
                origin=ItemOrigin.SUGGESTED if suggestion else ItemOrigin.PROPOSED,
                position=1 + max((i.position for i in study.items), default=0))
    db.session.add(item)
    db.session.flush()
    decision.subjects.append(DecisionSubject(item=item))
    if suggestion is not None:
        if suggestion.resulting_item_id is not None:
            raise DomainError("decision.suggestion_used",
                              "that suggestion has already become a statement")
        suggestion.resulting_item_id = item.id
    _record(actor, study, decision, new=item.label,
            suggestion=suggestion.id if suggestion else None)
    return item


def finish_study(study: Study, actor: audit.Actor) -> None:
    """Close the study for good after its final round."""
    last_closed_round_number(study)
    study.move_to(StudyState.FINISHED)
    study.finished_at = utcnow()  # the retention period runs from here
    db.session.flush()
    audit.record(actor, "study.finished", study, rounds=len(study.rounds))
