"""Survey definition files: parse and validate YAML into a definition, and write one back.

The format is documented in ``docs/survey-format.md`` and defined by the pydantic models
of ``delphi/survey_schema.py`` (published as ``docs/survey.schema.json``). Errors name the
file, the path of the bad field and what is wrong, e.g.
``surveys/impact.yaml: sections[1].items[4].text: required``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .consensus.rules import RULES
from .consensus.scales import SCALES
from .consensus.settings import STUDY_SETTINGS, Settings, SettingsError

if TYPE_CHECKING:
    from pydantic import BaseModel

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Markup in a text: "<" followed by a letter, "/", "!" or "?" (a tag, a comment, a
# processing instruction). "CRP < 10" and "<5 years" stay allowed.
MARKUP_RE = re.compile(r"<\s*[A-Za-z/!?]")
MAX_TEXT = 5000
# A DOI as Crossref and doi.org write it: "10.", a registrant code of 4-9 digits (with
# optional ".sub" parts), "/", then a suffix without spaces.
DOI_RE = re.compile(r"^10\.\d{4,9}(\.\d+)*/\S{1,250}$")
PMID_RE = re.compile(r"^[1-9]\d{0,8}$")
MAX_REFERENCES = 20
MAX_RETENTION_DAYS = 36500  # a hundred years


class SurveyError(ValueError):
    """A survey file that cannot be used; ``problems`` lists each ``path: message``.

    ``lines`` gives, for each problem, the line of the file it is on (the nearest
    enclosing entry for a missing key), or None where it is not known.
    """

    def __init__(self, source: str, problems: list[str], lines: list[int | None] | None = None):
        self.source = source
        self.problems = problems
        self.lines = lines or [None] * len(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in problems))

    def with_lines(self) -> list[str]:
        """Each problem as ``path: problem (line N)``."""
        return [f"{p} (line {line})" if line else p for p, line in zip(self.problems, self.lines,
                                                                      strict=True)]


@dataclass(frozen=True)
class GroupDef:
    key: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class ReferenceDef:
    """A cited source: how it reads, and its DOI and/or PubMed id (either may be empty)."""

    text: str
    doi: str = ""
    pmid: str = ""

    @property
    def url(self) -> str:
        """Where the source is: doi.org for a DOI, else PubMed."""
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    def as_dict(self) -> dict[str, str]:
        """The reference as stored and written: empty identifiers left out."""
        return {k: v for k, v in (("text", self.text), ("doi", self.doi), ("pmid", self.pmid))
                if v}

    @classmethod
    def of(cls, value: dict[str, str]) -> ReferenceDef:
        return cls(value.get("text", ""), value.get("doi", ""), value.get("pmid", ""))




@dataclass(frozen=True)
class ItemDef:
    key: str
    text: str
    rationale: str
    plain_text: str = ""
    references: tuple[ReferenceDef, ...] = ()


@dataclass(frozen=True)
class SectionDef:
    key: str
    title: str
    description: str
    items: tuple[ItemDef, ...]
    scale_key: str = ""  # empty: the study's scale
    evidence: str = ""
    references: tuple[ReferenceDef, ...] = ()


@dataclass(frozen=True)
class SurveyDefinition:
    slug: str
    title: str
    description: str
    method: str
    plain_language: str
    scale_key: str
    allow_uts: bool
    consensus: dict[str, Any]
    feedback_by_group: bool
    min_group_size: int
    ask_reason_on_band_change: bool
    groups: tuple[GroupDef, ...]
    sections: tuple[SectionDef, ...]
    short_name: str = ""
    sender_name: str = ""
    # The protocol's personal-data settings (``privacy:`` in the file).
    erasure: str = "keep-pseudonymised"
    retention_days: int | None = None
    # Deadlines and schedules (``schedule:``) and the email texts (``emails:``); left out
    # of a file while they hold their defaults.
    time_zone: str = "UTC"
    reminder_days: tuple[int, ...] = ()
    suggestions_every_round: bool = False
    reply_to: str = ""
    contact_person: str = ""
    email_texts: tuple[tuple[str, str, str], ...] = ()  # (kind, subject, body)
    # The participant information sheet and consent statement (``consent:`` in the file);
    # both empty: panellists are not asked for consent on the platform.
    information_sheet: str = ""
    consent_statement: str = ""
    # Panellists declare potential conflicts of interest (``declarations.conflicts``).
    asks_conflict_declarations: bool = False




class _AliasRefused(yaml.YAMLError):
    def __init__(self, path: str, mark: Any):
        self.path, self.mark = path, mark


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases.

    ``safe_load`` still expands aliases: a few kilobytes of nested aliases ("billion
    laughs") build a structure that takes minutes and gigabytes to walk.  A survey never
    needs them, so the first anchor (``&name``) or alias (``*name``) is refused with the
    path of the value that carries it.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._stack: list[str] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        base = self._stack[-1] if self._stack else ""
        if isinstance(index, yaml.ScalarNode):
            path = f"{base}.{index.value}" if base else str(index.value)
        elif isinstance(index, int):
            path = f"{base}[{index}]"
        else:
            path = base
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _AliasRefused(path, event.start_mark)
        self._stack.append(path)
        try:
            return super().compose_node(parent, index)
        finally:
            self._stack.pop()


def load_survey_file(path: str | Path) -> SurveyDefinition:
    """Read and validate a survey file, raising SurveyError naming the file."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SurveyError(source, [f"cannot be read: {exc.strerror or exc}"]) from None
    return parse_survey(raw, source)


def parse_survey(raw: bytes | str, source: str) -> SurveyDefinition:
    """Validate survey text; every problem is listed, not only the first."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SurveyError(source, [f"is not UTF-8 text (byte {exc.start})"]) from None
    try:
        loader = _NoAliasLoader(raw)
        try:
            doc = loader.get_single_data()
        finally:
            loader.dispose()
    except _AliasRefused as exc:
        where = exc.path or f"line {exc.mark.line + 1}"
        raise SurveyError(source, [f"{where}: YAML anchors and aliases (&name, *name) are not "
                                   f"allowed (line {exc.mark.line + 1}); write the value out "
                                   "in full"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SurveyError(source, [f"{where}YAML syntax error: {problem}"]) from None
    definition, problems = _definition(doc, draft=False)
    if problems:
        raise SurveyError(source, problems, [_line_of(raw, p) for p in problems])
    assert definition is not None
    return definition


def check_document(doc: dict[str, Any], source: str, *, draft: bool = False) -> SurveyDefinition:
    """Validate a survey document (what ``survey_document`` gives) like a file.

    ``draft`` allows empty lists of groups, sections and statements: a study being built
    in the browser starts blank (launching round 1 still needs statements and a panel).
    """
    definition, problems = _definition(doc, draft=draft)
    if problems:
        raise SurveyError(source, problems)
    assert definition is not None
    return definition


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _line_of(raw: str, problem: str) -> int | None:
    """The line of ``raw`` that a ``path: problem`` is about (its nearest existing node)."""
    path, sep, _ = problem.partition(": ")
    if not sep or " " in path:
        return None
    try:
        node = yaml.compose(raw, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for name, index in _PATH_PART.findall(path):
        child = None
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
        elif name and isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == name:
                    child = value_node if not isinstance(value_node, yaml.ScalarNode) \
                        else key_node
                    break
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _definition(doc: Any, *, draft: bool) -> tuple[SurveyDefinition | None, list[str]]:
    """Validate a parsed document with ``SurveyFile``; return the definition, or the problems.

    The checks that compare one part of the file with another (keys used twice, a
    section's scale against the consensus rule) run once every part is valid on its own.
    """
    from pydantic import ValidationError

    from .survey_schema import SurveyFile, problems_of

    if doc is None or doc == {}:  # "{}" was a definition with no problem and no content
        return None, ["the file is empty"]
    try:
        model = SurveyFile.model_validate(doc, context={"draft": draft})
    except ValidationError as error:
        return None, problems_of(error.errors(include_url=False), doc)
    definition = _from_model(model)
    problems = _cross_checks(definition)
    return (None, problems) if problems else (definition, [])


def _references(refs: list[Any]) -> tuple[ReferenceDef, ...]:
    return tuple(ReferenceDef(r.text, r.doi, r.pmid) for r in refs)


def _from_model(model: BaseModel) -> SurveyDefinition:
    """The definition a validated ``SurveyFile`` describes."""
    from .survey_schema import SurveyFile, get_path, round_values

    assert isinstance(model, SurveyFile)
    consensus = {spec.column: get_path(model.consensus, spec.survey)
                 for spec in STUDY_SETTINGS.values() if spec.column and spec.kind != "rounds"}
    consensus["round_thresholds"] = {str(number): round_values(block)
                                     for number, block in model.consensus.by_round.items()}
    return SurveyDefinition(
        slug=model.slug, title=model.title, short_name=model.short_name,
        sender_name=model.sender_name, description=model.description,
        method=model.method or "modified e-Delphi", plain_language=model.plain_language,
        scale_key=model.scale.key, allow_uts=model.scale.unable_to_score,
        consensus=consensus,
        feedback_by_group=model.feedback.by_group, min_group_size=model.feedback.min_group_size,
        ask_reason_on_band_change=model.feedback.ask_reason,
        erasure=model.privacy.erasure, retention_days=model.privacy.retention_days,
        time_zone=model.schedule.time_zone,
        reminder_days=tuple(model.schedule.reminders),
        suggestions_every_round=model.schedule.suggestions_every_round,
        reply_to=model.emails.reply_to, contact_person=model.emails.contact_person,
        email_texts=model.emails.texts(),
        information_sheet=model.consent.information_sheet,
        consent_statement=model.consent.statement,
        asks_conflict_declarations=model.declarations.conflicts,
        groups=tuple(GroupDef(g.key, g.name, g.description) for g in model.groups),
        sections=tuple(SectionDef(
            key=s.key or f"section-{i + 1}", title=s.title, description=s.description,
            items=tuple(ItemDef(key=item.key, text=item.text, rationale=item.rationale,
                                plain_text=item.plain_text,
                                references=_references(item.references))
                        for item in s.items),
            scale_key=s.scale or "", evidence=s.evidence, references=_references(s.references),
        ) for i, s in enumerate(model.sections)),
    )


def _cross_checks(d: SurveyDefinition) -> list[str]:
    """What a valid file's parts must agree on, as ``path: problem`` each."""
    from .survey_schema import both_or_neither

    problems = both_or_neither(d.information_sheet, d.consent_statement)
    median_min = d.consensus["iqr_median_min"]
    scale = SCALES[d.scale_key]
    if median_min is not None and not scale.low <= median_min <= scale.high:
        problems.append(f"consensus.iqr.median_min: must be a point of the {scale.name} scale "
                        f"({scale.low}-{scale.high}), got {median_min}")
    if d.consensus["round_thresholds"] and not problems:
        try:  # each round's thresholds within their ranges, as the engine checks them
            Settings(scale=d.scale_key, **{
                name: d.consensus[spec.column] for name, spec in STUDY_SETTINGS.items()
                if spec.column and (spec.per_round
                                    or name in ("percentile_method", "round_thresholds"))})
        except SettingsError as error:
            problems.append(f"consensus.by_round: {error}")
    problems += _twice(d.groups, "groups", "key", what="group")
    problems += _twice(d.groups, "groups", "name", what="group")
    problems += _twice(d.sections, "sections", "key", what="section", casefold=False)
    seen: set[str] = set()
    for i, section in enumerate(d.sections):
        for j, item in enumerate(section.items):
            if item.key in seen:
                problems.append(f"sections[{i}].items[{j}].key: {item.key!r} is used by an "
                                "earlier item")
            seen.add(item.key)
        problems += _section_scale(section, f"sections[{i}]", d.consensus)
    return problems


def _twice(entries: tuple[Any, ...], where: str, attr: str, *, what: str,
           casefold: bool = True) -> list[str]:
    """``groups[1].name: 'X' is used by an earlier group`` for each repeated value."""
    problems, seen = [], set()
    for i, entry in enumerate(entries):
        value = getattr(entry, attr)
        folded = value.casefold() if casefold else value
        if folded in seen:
            problems.append(f"{where}[{i}].{attr}: {value!r} is used by an earlier {what}")
        seen.add(folded)
    return problems


def _section_scale(section: SectionDef, path: str, consensus: dict[str, Any]) -> list[str]:
    """A section's own scale, checked against the consensus settings."""
    if not section.scale_key:
        return []
    where, scale = f"{path}.scale", SCALES[section.scale_key]
    problems = []
    rule = consensus["primary_rule"]
    if rule in RULES and not RULES[rule].applies_to(scale):
        problems.append(f"{where}: the primary rule {rule} is not defined on the {scale.name} "
                        "scale")
    median_min = consensus["iqr_median_min"]
    if median_min is not None and not scale.low <= median_min <= scale.high:
        problems.append(f"{where}: consensus.iqr.median_min ({median_min}) is not a point of "
                        f"the {scale.name} scale ({scale.low}-{scale.high})")
    return problems


def check_consent_texts(sheet: str, statement: str, *, required: bool = False
                        ) -> tuple[str, str]:
    """The information sheet and consent statement checked as the survey file checks them
    (``required``: both must be given); raises SurveyError with ``consent.*`` paths."""
    from .survey_schema import consent_problems

    problems = consent_problems(sheet, statement, required=required)
    if problems:
        raise SurveyError("consent", problems)
    return sheet.strip(), statement.strip()


def dump_survey(definition: SurveyDefinition) -> str:
    """Write a definition in the survey file format."""
    return yaml.safe_dump(survey_document(definition), sort_keys=False, allow_unicode=True,
                          width=100)


def _item_document(item: ItemDef) -> dict[str, Any]:
    doc = _without_empty({"key": item.key, "text": item.text, "rationale": item.rationale,
                          "plain_text": item.plain_text}, keep=("key", "text", "rationale"))
    if item.references:
        doc["references"] = [r.as_dict() for r in item.references]
    return doc


def survey_document(definition: SurveyDefinition) -> dict[str, Any]:
    """A definition as the plain mapping a survey file holds."""
    c = definition.consensus
    doc: dict[str, Any] = {
        "slug": definition.slug,
        "title": definition.title,
        **({"short_name": definition.short_name} if definition.short_name else {}),
        **({"sender_name": definition.sender_name} if definition.sender_name else {}),
        "description": definition.description,
        "method": definition.method,
        "plain_language": definition.plain_language,
        "scale": {"key": definition.scale_key, "unable_to_score": definition.allow_uts},
        "consensus": consensus_document(c),
        "feedback": {"by_group": definition.feedback_by_group,
                     "min_group_size": definition.min_group_size,
                     "ask_reason": definition.ask_reason_on_band_change},
        "privacy": {"erasure": definition.erasure}
        | ({"retention_days": definition.retention_days}
           if definition.retention_days is not None else {}),
        **({"schedule": _without_empty({
            "time_zone": "" if definition.time_zone == "UTC" else definition.time_zone,
            "reminders": list(definition.reminder_days),
            "suggestions_every_round": definition.suggestions_every_round or None}, keep=())}
           if (definition.time_zone != "UTC" or definition.reminder_days
               or definition.suggestions_every_round) else {}),
        **({"emails": _without_empty({
            "reply_to": definition.reply_to, "contact_person": definition.contact_person,
            **{kind: {"subject": subject, "body": body}
               for kind, subject, body in definition.email_texts}}, keep=())}
           if (definition.reply_to or definition.contact_person or definition.email_texts)
           else {}),
        **({"consent": {"information_sheet": definition.information_sheet,
                        "statement": definition.consent_statement}}
           if definition.information_sheet or definition.consent_statement else {}),
        **({"declarations": {"conflicts": True}}
           if definition.asks_conflict_declarations else {}),
        "groups": [_without_empty(g.__dict__) for g in definition.groups],
        "sections": [
            _without_empty({
                "key": s.key,
                "title": s.title,
                "description": s.description,
                "scale": s.scale_key,
                "evidence": s.evidence,
                "references": [r.as_dict() for r in s.references],
                "items": [_item_document(item) for item in s.items],
            }, keep=("key", "items"))  # a draft's new section has no statements yet
            for s in definition.sections
        ],
    }
    return doc


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


def consensus_document(consensus: dict[str, Any]) -> dict[str, Any]:
    """The consensus settings (by column) as the survey file's ``consensus`` block: each
    setting at its place, in the registry's order; an unset optional setting and an empty
    ``by_round`` left out."""
    doc: dict[str, Any] = {}
    for spec in STUDY_SETTINGS.values():
        value = consensus.get(spec.column or spec.name)
        if spec.kind == "rounds":
            if value:
                doc[spec.survey[0]] = {int(number): _by_round_block(values)
                                       for number, values in value.items()}
        elif value is not None or spec.default is not None:
            _put(doc, spec.survey, value)
    return doc


def _by_round_block(values: dict[str, Any]) -> dict[str, Any]:
    """The survey file's nested form of one round's thresholds."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        _put(out, STUDY_SETTINGS[name].survey, value)
    return out


def _without_empty(values: dict[str, Any], keep: tuple[str, ...] = ("key",)) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in ("", None, []) or k in keep}
