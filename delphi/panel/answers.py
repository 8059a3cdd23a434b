"""The answer sheet posted from the voting page, parsed and checked before anything is saved."""

from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from ..consensus.scales import Scale, get_scale
from ..models import Item

MAX_COMMENT = 5000
MAX_SUGGESTION = 2000
UTS = "uts"
FIELD_PREFIXES = ("rating-", "comment-", "reason-", "reword-")
# The buttons are named "intent": a control named "action" (or "submit", "method", "id")
# shadows the form's own property in the browser (form.action became a RadioNodeList and
# every autosave went to "/[object RadioNodeList]"). "action" is still read from pages
# loaded before the rename. "confirmed": the page's own dialog already asked before a
# submit with blank statements (see panel/views.py).
OTHER_FIELDS = {"csrf_token", "round", "intent", "action", "confirmed", "suggestion",
                "sheet_version"}
ACTIONS = ("save", "submit", "autosave")


@dataclass
class Answer:
    value: int | None = None
    is_uts: bool = False
    comment: str = ""
    reason: str = ""
    reword: str = ""

    @property
    def is_empty(self) -> bool:
        return self.value is None and not self.is_uts and not self.comment and not self.reason


@dataclass
class AnswerSheet:
    """What a panellist sent: one answer per item, a suggestion, and the action asked for."""

    action: str = "save"
    answers: dict[int, Answer] = field(default_factory=dict)
    suggestion: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return sum(1 for a in self.answers.values() if a.value is not None or a.is_uts)


def clean_text(value: str, limit: int, what: str) -> tuple[str, str | None]:
    """Normalise line ends and refuse NUL and other control characters (same on every database)."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in text):
        return "", f"{what} contains a control character that cannot be stored; remove it"
    if len(text) > limit:
        return text[:limit], f"{what} is {len(text)} characters long; at most {limit} are allowed"
    return text, None


def parse_sheet(form: MultiDict[str, str], items: list[Item], scale: Scale, allow_uts: bool,
                round_id: int, allow_suggestions: bool) -> AnswerSheet:
    """Check every field of the posted form; problems go in ``errors`` keyed by field name."""
    sheet = AnswerSheet()
    by_id = {item.id: item for item in items}
    unknown = 0
    for name in form:
        if name not in OTHER_FIELDS and not _known_item_field(name, by_id):
            # Never echoed by name: a page that repeats what was sent would carry
            # whatever a crafted form put there, as many times as it was sent.
            unknown += 1
        elif len(form.getlist(name)) > 1:
            sheet.errors[name] = f"the field {name!r} was sent more than once"
    if unknown:
        sheet.errors["form"] = (f"{unknown} field{'s' if unknown != 1 else ''} of the form "
                                f"{'are' if unknown != 1 else 'is'} not part of this round's "
                                "page; reload the page and send it again")
    action = form.get("intent", form.get("action", "save"))
    if action not in ACTIONS:
        sheet.errors["intent"] = f"unknown action {action!r}"
    sheet.action = action if action in ACTIONS else "save"
    if form.get("round", "") != str(round_id):
        sheet.errors["round"] = ("this form belongs to another round; reload the page to see "
                                 "the current one")
    for item in items:
        sheet.answers[item.id] = _answer(form, item, item_scale(item, scale), allow_uts,
                                         sheet.errors)
    if allow_suggestions:
        sheet.suggestion, problem = clean_text(form.get("suggestion", ""), MAX_SUGGESTION,
                                               "Your suggestion")
        if problem:
            sheet.errors["suggestion"] = problem
    elif form.get("suggestion", "").strip():
        sheet.errors["suggestion"] = "suggestions are not collected in this round"
    return sheet


def item_scale(item: object, default: Scale) -> Scale:
    """The scale a statement is rated on: its own (its section's) if it has one."""
    key = getattr(item, "scale_key", None)
    return get_scale(key) if key else default


def _known_item_field(name: str, by_id: dict[int, Item]) -> bool:
    for prefix in FIELD_PREFIXES:
        if name.startswith(prefix):
            ident = name[len(prefix):]
            return ident.isascii() and ident.isdigit() and int(ident) in by_id
    return False


def _answer(form: MultiDict[str, str], item: Item, scale: Scale, allow_uts: bool,
            errors: dict[str, str]) -> Answer:
    answer = Answer()
    where = f"statement {item.label}"
    raw = form.get(f"rating-{item.id}", "").strip()
    if raw == UTS and allow_uts:
        answer.is_uts = True
    elif raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 \
                or not scale.low <= int(raw) <= scale.high:
            errors[f"rating-{item.id}"] = (
                f"{where}: {raw[:20]!r} is not a point of the scale ({scale.low}-{scale.high}"
                + (" or unable to score)" if allow_uts else ")")
            )
        else:
            answer.value = int(raw)
    for name, limit, label in (("comment", MAX_COMMENT, "comment"),
                               ("reason", MAX_COMMENT, "reason for the change"),
                               ("reword", MAX_SUGGESTION, "suggested rewording")):
        text, problem = clean_text(form.get(f"{name}-{item.id}", ""), limit,
                                   f"The {label} on {where}")
        setattr(answer, name, text)
        if problem:
            errors[f"{name}-{item.id}"] = problem
    return answer
