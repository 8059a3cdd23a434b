"""Decisions between rounds: what each statement becomes, with a reason, in the audit log.

Use cases flush and never commit; the caller commits once.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import sqlalchemy as sa

from .. import audit, mail
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
    MeetingOutcome,
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
           plain_text: str = "", rationale: str = "") -> Item:
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
                   plain_text=_clean(plain_text, "The plain-language version", required=False),
                   rationale=_clean(rationale, "The rationale", required=False))
    item.status = ItemStatus.SUPERSEDED
    _record(actor, study, decision, item=item.label, new=child.label)
    return child


def merge(study: Study, items: Sequence[Item], key: str, text: str, reason: str,
          actor: audit.Actor, plain_text: str = "", rationale: str = "") -> Item:
    """Replace several statements by one new statement."""
    _same_study(study, items)
    _replace_earlier(study, items, actor, DecisionKind.MERGE)
    items = [_active(study, i) for i in items]
    if len(items) < 2:
        raise DomainError("decision.merge_too_few", "choose at least two statements to merge")
    decision = _decision(study, DecisionKind.MERGE, reason, actor, items)
    child = _child(study, decision, items, key=_key_free(study, key), version=1,
                   text=_clean(text, "The merged statement"), origin=ItemOrigin.MERGED,
                   plain_text=_clean(plain_text, "The plain-language version", required=False),
                   rationale=_clean(rationale, "The rationale", required=False))
    for item in items:
        item.status = ItemStatus.SUPERSEDED
    _record(actor, study, decision, items=[i.label for i in items], new=child.label)
    return child


def split(study: Study, item: Item, texts: Sequence[str], reason: str,
          actor: audit.Actor, plain_texts: Sequence[str] = (), rationale: str = "") -> list[Item]:
    """Replace one statement by several narrower ones (keys KEY-a, KEY-b, ...); the
    plain-language versions are given line by line in the same order."""
    _same_study(study, [item])
    _replace_earlier(study, [item], actor, DecisionKind.SPLIT)
    _active(study, item)
    texts = [t for t in (_clean(t, "A new statement", required=False) for t in texts) if t]
    if len(texts) < 2:
        raise DomainError("decision.split_too_few", "a split needs at least two new statements")
    if len(texts) > len(string.ascii_lowercase):
        raise DomainError("decision.split_too_many", "a split makes at most {limit} statements",
                          limit=len(string.ascii_lowercase))
    plain = [_clean(t, "A plain-language version", required=False) for t in plain_texts]
    plain = [t for t in plain if t]
    if plain and len(plain) != len(texts):
        raise DomainError("decision.split_plain_count",
                          "Give one plain-language line per new statement ({texts} statements, "
                          "{plain} plain-language lines), or none.",
                          texts=len(texts), plain=len(plain))
    rationale = _clean(rationale, "The rationale", required=False)
    decision = _decision(study, DecisionKind.SPLIT, reason, actor, [item])
    children = [
        _child(study, decision, [item], key=_key_free(study, f"{item.key}-{letter}"), version=1,
               text=text, origin=ItemOrigin.SPLIT, rationale=rationale,
               plain_text=plain[n] if plain else "")
        for n, (letter, text) in enumerate(zip(string.ascii_lowercase, texts, strict=False))
    ]
    item.status = ItemStatus.SUPERSEDED
    _record(actor, study, decision, item=item.label, new=[c.label for c in children])
    return children


def add_statement(study: Study, section: Section, key: str, text: str, rationale: str,
                  reason: str, actor: audit.Actor, suggestion: Suggestion | None = None,
                  plain_text: str = "") -> Item:
    """Add a new statement for the next round, from a panellist's suggestion or the committee."""
    if section.study_id != study.id:
        raise DomainError("decision.other_study_section", "that section belongs to another study")
    decision = _decision(study, DecisionKind.ADD, reason, actor, [])
    item = Item(study=study, section_id=section.id, key=_key_free(study, key), version=1,
                text=_clean(text, "The statement"),
                rationale=_clean(rationale, "The rationale", required=False),
                plain_text=_clean(plain_text, "The plain-language version", required=False),
                origin=ItemOrigin.SUGGESTED if suggestion else ItemOrigin.PROPOSED,
                position=1 + max((i.position for i in study.items), default=0))
    db.session.add(item)
    db.session.flush()
    decision.subjects.append(DecisionSubject(item=item))
    if suggestion is not None:
        if suggestion.resulting_item_id is not None:
            raise DomainError("decision.suggestion_used",
                              "that suggestion has already become a statement")
        if suggestion.state != "open":
            raise DomainError("suggestion.not_open", "That suggestion was {state} already.",
                              state=suggestion.state)
        suggestion.resulting_item_id = item.id
    _record(actor, study, decision, new=item.label,
            suggestion=suggestion.id if suggestion else None)
    return item


def finish_study(study: Study, actor: audit.Actor, thank: bool = False) -> int:
    """Close the study for good after its final round; with ``thank``, queue the
    thank-you message to the panel in the same transaction. How many were queued."""
    last_closed_round_number(study)
    study.move_to(StudyState.FINISHED)
    study.finished_at = utcnow()  # the retention period runs from here
    db.session.flush()
    audit.record(actor, "study.finished", study, rounds=len(study.rounds))
    thanked = 0
    if thank:
        thanked = mail.queue_thank_yous(study)
        audit.record(actor, "study.thanked", study, messages=thanked)
    from .. import webhooks

    webhooks.emit(study, "study.finished", {"rounds": len(study.rounds)})
    return thanked


def _decision_facts(decision: ItemDecision) -> dict[str, object]:
    return {"kind": decision.kind.value, "reason": decision.reason,
            "outcome": decision.outcome.value if decision.outcome else None,
            "items": [s.item.label for s in decision.subjects],
            "new": [link.child.label for link in decision.links]}


def undo_decision(study: Study, decision: ItemDecision, actor: audit.Actor) -> list[str]:
    """Undo a decision made after the latest round, before the next launch: its
    statements are back as they were after the round closed, and the statements it
    made (a new version, merged, split or added statement) are removed.  Returns the
    labels of the statements it was about."""
    if decision.study_id != study.id:
        raise DomainError("decision.other_study", "That decision belongs to another study.")
    number = last_closed_round_number(study)
    if decision.after_round != number:
        raise DomainError("decision.fixed", "The decisions after round {round} were fixed "
                          "when round {next} was launched.", round=decision.after_round,
                          next=decision.after_round + 1)
    before = _decision_facts(decision)
    made = {link.child_id for link in decision.links}
    if decision.kind is DecisionKind.ADD:
        made |= {s.item_id for s in decision.subjects}
    used = db.session.scalars(
        sa.select(DecisionSubject).join(ItemDecision)
        .where(DecisionSubject.item_id.in_(made), ItemDecision.id != decision.id)).first() \
        if made else None
    if used is not None:
        raise DomainError("decision.has_later", "A later decision is about a statement this "
                          "one made; undo that one first.")
    children = [db.session.get(Item, i) for i in made]
    if decision.kind is not DecisionKind.ADD:
        for subject in decision.subjects:
            subject.item.status = ItemStatus.ACTIVE
    for suggestion in db.session.scalars(
            sa.select(Suggestion).where(Suggestion.resulting_item_id.in_(made))):
        suggestion.resulting_item_id = None
    db.session.delete(decision)
    db.session.flush()
    for child in children:
        if child is not None:
            db.session.delete(child)
    db.session.flush()
    db.session.expire(study, ["items"])
    audit.record(actor, "item.decision_undone", study, decision=decision.id,
                 after_round=number, before=before, after=None)
    return before["items"] or before["new"]  # type: ignore[return-value]


def _open_suggestion(study: Study, suggestion: Suggestion) -> Suggestion:
    if suggestion.round.study_id != study.id:
        raise DomainError("suggestion.other_study", "That suggestion belongs to another study.")
    last_closed_round_number(study)
    if suggestion.round is not study.current_round:
        raise DomainError("suggestion.old_round", "That suggestion is from an earlier round.")
    if suggestion.state != "open" or suggestion.resulting_item_id is not None:
        raise DomainError("suggestion.not_open", "That suggestion was {state} already.",
                          state="added" if suggestion.resulting_item_id else suggestion.state)
    return suggestion


def _suggestion_facts(suggestion: Suggestion) -> dict[str, object]:
    return {"id": suggestion.id, "state": suggestion.state, "text": suggestion.text}


def dismiss_suggestion(study: Study, suggestion: Suggestion, reason: str,
                       actor: audit.Actor) -> Suggestion:
    """Set a panel suggestion aside, with the reason."""
    _open_suggestion(study, suggestion)
    before = _suggestion_facts(suggestion)
    suggestion.state = "dismissed"
    suggestion.state_reason = _clean(reason, "The reason")
    db.session.flush()
    audit.record(actor, "suggestion.dismissed", study, suggestion=suggestion.id,
                 reason=suggestion.state_reason, before=before,
                 after=_suggestion_facts(suggestion))
    return suggestion


def _derived(source: Suggestion, text: str) -> Suggestion:
    made = Suggestion(round_id=source.round_id, panellist_id=source.panellist_id,
                      item_id=source.item_id, text=text, parent_id=source.id)
    db.session.add(made)
    return made


def split_suggestion(study: Study, suggestion: Suggestion, actor: audit.Actor,
                     texts: Sequence[str] | None = None) -> list[Suggestion]:
    """Make one suggestion per line of a multi-line suggestion (or per given text)."""
    _open_suggestion(study, suggestion)
    lines = texts if texts is not None else suggestion.text.splitlines()
    parts = [t for t in (_clean(line.strip(" -*•\t"), "A suggestion", required=False)
                         for line in lines) if t]
    if len(parts) < 2:
        raise DomainError("suggestion.one_line", "That suggestion has only one line; "
                          "there is nothing to split.")
    before = _suggestion_facts(suggestion)
    suggestion.state = "split"
    made = [_derived(suggestion, text) for text in parts]
    db.session.flush()
    audit.record(actor, "suggestion.split", study, suggestion=suggestion.id, before=before,
                 after={"state": "split", "into": [m.id for m in made]})
    return made


def merge_suggestions(study: Study, suggestions: Sequence[Suggestion], text: str,
                      actor: audit.Actor) -> Suggestion:
    """Make one suggestion of several (their texts are kept, marked merged)."""
    suggestions = list(dict.fromkeys(suggestions))
    if len(suggestions) < 2:
        raise DomainError("suggestion.merge_two", "Choose at least two suggestions to merge.")
    for s in suggestions:
        _open_suggestion(study, s)
    text = _clean(text, "The merged suggestion")
    before = [_suggestion_facts(s) for s in suggestions]
    made = _derived(suggestions[0], text)
    made.item_id = None if len({s.item_id for s in suggestions}) > 1 else suggestions[0].item_id
    db.session.flush()
    for s in suggestions:
        s.state = "merged"
        s.state_reason = f"merged into #{made.id}"
    db.session.flush()
    audit.record(actor, "suggestion.merged", study, suggestions=[s.id for s in suggestions],
                 before=before, after={"id": made.id, "text": text})
    return made


MAX_VOTES = 10000


def _meeting_facts(outcome: MeetingOutcome | None) -> dict[str, object] | None:
    if outcome is None:
        return None
    return {"for": outcome.votes_for, "against": outcome.votes_against,
            "abstain": outcome.votes_abstain, "final_wording": outcome.final_wording}


def meeting_items(study: Study) -> list[Item]:
    """The statements the final meeting may vote on: every current or dropped statement
    that a closed round rated."""
    from ..models import Round, RoundItem

    rated = set(db.session.scalars(
        sa.select(RoundItem.item_id).join(Round, RoundItem.round_id == Round.id)
        .where(Round.study_id == study.id, Round.state == RoundState.CLOSED)))
    return [i for i in study.items if i.id in rated and i.status is not ItemStatus.SUPERSEDED]


def record_meeting_outcome(study: Study, item: Item, votes_for: int, votes_against: int,
                           votes_abstain: int, final_wording: str,
                           actor: audit.Actor) -> MeetingOutcome:
    """Record (or correct) the consensus meeting's vote on one statement and the wording
    it endorsed; audited with before and after."""
    if item.study_id != study.id:
        raise DomainError("meeting.other_study", "That statement belongs to another study.")
    current = study.current_round
    if current is None or current.state is not RoundState.CLOSED:
        raise DomainError("meeting.round_open", "The final meeting is recorded once the last "
                          "round has closed.")
    if item not in meeting_items(study):
        raise DomainError("meeting.not_rated", "{item} was not rated in a closed round, or "
                          "was replaced.", item=item.label)
    votes = (votes_for, votes_against, votes_abstain)
    if any(v is None or v < 0 or v > MAX_VOTES for v in votes):
        raise DomainError("meeting.votes", "Votes are whole numbers from 0 to {max}.",
                          max=MAX_VOTES)
    if not sum(votes):
        raise DomainError("meeting.no_votes", "Enter the meeting's votes: all three are 0.")
    wording = _clean(final_wording, "The endorsed wording", required=False)
    outcome = db.session.scalar(sa.select(MeetingOutcome).where(
        MeetingOutcome.study_id == study.id, MeetingOutcome.item_id == item.id))
    before = _meeting_facts(outcome)
    if outcome is None:
        outcome = MeetingOutcome(study_id=study.id, item_id=item.id)
        db.session.add(outcome)
    outcome.votes_for, outcome.votes_against, outcome.votes_abstain = votes
    outcome.final_wording = "" if wording == item.text else wording
    outcome.recorded_at = utcnow()
    after = _meeting_facts(outcome)
    if before == after:
        raise DomainError("settings.unchanged", "Nothing was different from before.")
    db.session.flush()
    audit.record(actor, "meeting.recorded", study, item=item.label, before=before, after=after)
    return outcome
