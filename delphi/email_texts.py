"""The study's email texts: edited subjects and bodies, filled in a sandbox.

A facilitator may rewrite the subject and body of each kind of message.  Their text is
never run as a template: it is parsed with ``string.Formatter`` and only whole
``{placeholder}`` fields from ``PLACEHOLDERS`` are filled (no attribute or index
access, no format specs or conversions).  An unknown placeholder or a stray brace is
refused with a message naming it; the HTML part escapes everything, so a text can
neither run code nor inject HTML.  A kind the study has not edited keeps the default
(the shipped templates in ``templates/email/``, unchanged for existing studies).
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import Markup

from .models import DomainError

KINDS = ("invitation", "reminder", "receipt", "extension", "thankyou")
KIND_NAMES = {"invitation": "Invitation", "reminder": "Reminder", "receipt": "Receipt",
              "extension": "Deadline extended", "thankyou": "Thank you"}
# Kinds whose text must carry the personal link.
NEEDS_LINK = ("invitation", "reminder")

PLACEHOLDERS = {
    "name": "the panellist's name",
    "deadline": "the round's closing time in the study's time zone, with its UTC offset",
    "link": "the panellist's personal link",
    "statements": "how many statements the round has",
    "minutes": "about how many minutes rating them takes",
    "withdraw_link": "the link to withdraw from the study (no reason needed)",
    "study": "the study's name in emails (its short name, else its title)",
    "round": "the round's number",
    "signature": "who signs the emails (the sender name)",
    "contact": "the contact person",
}
LINK_PLACEHOLDERS = ("link", "withdraw_link")
MAX_SUBJECT = 200
MAX_BODY = 10000

DEFAULTS: dict[str, dict[str, str]] = {
    "invitation": {
        "subject": "{study}: round {round} is open for your ratings",
        "body": (
            "Dear {name},\n\n"
            "Round {round} of the study \"{study}\" is open.\n\n"
            "This round has {statements} statements; rating them takes about {minutes} "
            "minutes.\n\n"
            "Please rate each statement on the scale shown. You can answer \"unable to "
            "score\" for any statement outside your expertise, save and come back later, "
            "and change your answers until the round closes.\n\n"
            "The round closes on {deadline}.\n\n"
            "Your personal link (do not forward it; it opens your own answers):\n{link}\n\n"
            "Your answers are anonymous to the other panellists: they only ever see totals "
            "and comments without names.\n\n"
            "With thanks,\n{signature}"),
    },
    "reminder": {
        "subject": "Reminder: {study}, round {round}",
        "body": (
            "Dear {name},\n\n"
            "This is a reminder that round {round} of the study \"{study}\" is waiting for "
            "your ratings; it closes on {deadline}. Anything you saved before is still "
            "there.\n\n"
            "Your personal link:\n{link}\n\n"
            "With thanks,\n{signature}"),
    },
    "receipt": {
        "subject": "Received: your answers to {study}, round {round}",
        "body": (
            "Dear {name},\n\n"
            "We have received your answers to round {round} of \"{study}\".\n\n"
            "You can change them until the round closes on {deadline}:\n{link}\n\n"
            "Thank you for your time.\n{signature}"),
    },
    "extension": {
        "subject": "{study}: round {round} now closes on {deadline}",
        "body": (
            "Dear {name},\n\n"
            "Round {round} of the study \"{study}\" has been extended: it now closes on "
            "{deadline}. Anything you saved before is still there.\n\n"
            "Your personal link:\n{link}\n\n"
            "With thanks,\n{signature}"),
    },
    "thankyou": {
        "subject": "Thank you: {study}",
        "body": (
            "Dear {name},\n\n"
            "The study \"{study}\" is finished. Thank you for the time and thought you gave "
            "to it as a member of the expert panel.\n\n"
            "With thanks,\n{signature}"),
    },
}


class TemplateProblem(DomainError):
    """A text that cannot be used, with what is wrong and where."""


@dataclass(frozen=True)
class Piece:
    literal: str
    field: str | None


def parse(text: str, where: str) -> list[Piece]:
    """The literal parts and placeholders of ``text``; refuses anything but known
    ``{placeholder}`` fields (``{{`` and ``}}`` are literal braces)."""
    if "\x00" in text:
        raise TemplateProblem("email.nul", "{where}: contains a NUL character.", where=where)
    pieces = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateProblem(
            "email.stray_brace",
            "{where}: a stray brace ({problem}); write {{{{ or }}}} for a literal brace, or "
            "a placeholder such as {{name}}.", where=where, problem=str(exc)) from None
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append(Piece(literal, None))
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            shown = "{" + field + ("!" + conversion if conversion else "") + \
                (":" + spec if spec else "") + "}"
            raise TemplateProblem(
                "email.unknown_placeholder",
                "{where}: {placeholder} is not a placeholder; use one of {known}.",
                where=where, placeholder=shown[:60],
                known=", ".join("{" + p + "}" for p in PLACEHOLDERS))
        pieces.append(Piece(literal, field))
    return pieces


def check(kind: str, subject: str, body: str) -> None:
    """Refuse a subject or body that cannot be sent (DomainError naming the problem)."""
    name = KIND_NAMES[kind]
    if not subject.strip():
        raise TemplateProblem("email.subject_empty", "{kind} subject: it is empty.", kind=name)
    if not body.strip():
        raise TemplateProblem("email.body_empty", "{kind} body: it is empty.", kind=name)
    if len(subject) > MAX_SUBJECT:
        raise TemplateProblem("email.subject_long", "{kind} subject: longer than {max} "
                              "characters.", kind=name, max=MAX_SUBJECT)
    if len(body) > MAX_BODY:
        raise TemplateProblem("email.body_long", "{kind} body: longer than {max} characters.",
                              kind=name, max=MAX_BODY)
    if "\n" in subject.strip() or "\r" in subject:
        raise TemplateProblem("email.subject_lines", "{kind} subject: must be one line.",
                              kind=name)
    subject_fields = {p.field for p in parse(subject, f"{name} subject")}
    if subject_fields & set(LINK_PLACEHOLDERS):
        raise TemplateProblem("email.link_in_subject", "{kind} subject: a link cannot go in "
                              "the subject.", kind=name)
    fields = {p.field for p in parse(body, f"{name} body")}
    if kind in NEEDS_LINK and "link" not in fields:
        raise TemplateProblem("email.link_missing", "{kind} body: it must contain {{link}}, "
                              "the panellist's personal link.", kind=name)


def texts_for(study_texts: Mapping[str, object] | None, kind: str) -> dict[str, str] | None:
    """The study's edited subject and body of ``kind``, or None for the default."""
    entry = (study_texts or {}).get(kind)
    if isinstance(entry, Mapping) and entry.get("subject") and entry.get("body"):
        return {"subject": str(entry["subject"]), "body": str(entry["body"])}
    return None


def fill_text(text: str, values: Mapping[str, object], where: str = "text") -> str:
    """``text`` with its placeholders filled (plain text)."""
    return "".join(p.literal + ("" if p.field is None else str(values.get(p.field, "")))
                   for p in parse(text, where))


_URL = re.compile(r"https?://\S+")


def fill_html(text: str, values: Mapping[str, object], where: str = "text") -> Markup:
    """``text`` filled as HTML: every character escaped, paragraphs at blank lines, the
    link placeholders as links."""
    out = []
    for piece in parse(text, where):
        out.append(html.escape(piece.literal))
        if piece.field is None:
            continue
        value = str(values.get(piece.field, ""))
        if piece.field in LINK_PLACEHOLDERS and _URL.fullmatch(value):
            out.append(f'<a href="{html.escape(value)}">{html.escape(value)}</a>')
        else:
            out.append(html.escape(value))
    paragraphs = "".join(out).replace("\r\n", "\n").split("\n\n")
    # Every literal and value above is escaped; only <p>, <br> and the links are markup.
    joined = "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>\n"
                     for p in paragraphs if p.strip())
    return Markup(joined)  # noqa: S704
