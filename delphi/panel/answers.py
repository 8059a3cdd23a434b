"""The answer sheet of the voting page: what a panellist sent (see forms.py), before it is saved."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_COMMENT = 5000
MAX_SUGGESTION = 2000
UTS = "uts"


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
