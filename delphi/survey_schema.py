"""The survey file's format as pydantic models; ``SurveyFile`` is the whole file.

``delphi/surveys.py`` reads YAML, validates it with ``SurveyFile`` and turns every
validation error into ``path: problem`` (the wording of ``docs/survey-format.md``). The
``consensus`` block is generated from the settings registry
(``delphi.consensus.settings.SETTINGS``): each setting's place in the file, its range or
choices, its default and its help text. The file format is published as JSON Schema:

    python -m delphi.survey_schema        # writes docs/survey.schema.json

``SurveyFile`` is a stable name: the JSON API's OpenAPI document imports it.
"""

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from . import email_texts
from .consensus.scales import SCALES
from .consensus.settings import STUDY_SETTINGS, SettingsError, Spec, parse_number
from .models.study import ERASURE_POLICIES
from .surveys import (
    DOI_RE,
    KEY_RE,
    MARKUP_RE,
    MAX_REFERENCES,
    MAX_RETENTION_DAYS,
    MAX_TEXT,
    PMID_RE,
    SLUG_RE,
)

MAX_GROUP_SIZE = 1000
MAX_INFORMATION_SHEET = 30000  # a participant information sheet runs to a few pages
MAX_CONSENT_STATEMENT = 3000
MAX_REMINDERS, MAX_REMINDER_DAYS = 10, 90
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "survey.schema.json"


def problem(message: str) -> PydanticCustomError:
    """A validation error whose message is ``message`` as it is (braces and all)."""
    return PydanticCustomError("survey", "{message}", {"message": message})


def kind(value: Any) -> str:
    """What a value is, in the words of an error message."""
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), "nothing" if value is None else type(value).__name__
    )


# -- the kinds of value a survey file holds ------------------------------------------------
# Each kind is pydantic metadata written as ``Annotated[type, Kind(...)]``: a check run
# before the type's own validation (as ``BeforeValidator``) and the JSON Schema that the
# file format publishes for it (as ``WithJsonSchema``).

@dataclass(frozen=True)
class Rule:
    check: Callable[[Any], Any]
    schema: Callable[[], dict[str, Any]]

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return self.schema()


def Text(limit: int = MAX_TEXT, *, required: bool = True, pattern: re.Pattern[str] | None = None,
         allowed: str = "letters, digits, '.', '_' or '-'", one_line: bool = False) -> Rule:
    """Plain text of at most ``limit`` characters, stripped; numbers are read as text."""

    def check(value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise problem("required")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise problem(f"must be text, got {kind(value)}")
        found = str(value).strip()
        problems = []
        if len(found) > limit:
            problems.append(f"is {len(found)} characters long; at most {limit} are allowed")
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in found):
            problems.append("contains a control character")
        if MARKUP_RE.search(found):
            problems.append("contains markup such as <tag>; write plain text")
        if pattern is not None and not pattern.match(found):
            problems.append(f"{found!r} is not valid ({allowed})")
        if one_line and ("\n" in found or "\t" in found):
            problems.append("must be one line")
        if problems:
            raise problem("; ".join(problems))
        return found

    schema: dict[str, Any] = {"type": "string", "maxLength": limit}
    if required:
        schema["minLength"] = 1
    if pattern is not None:
        schema["pattern"] = pattern.pattern
    return Rule(check, lambda: dict(schema))


def Whole(low: int, high: int, *, optional: bool = False) -> Rule:
    """A whole number from ``low`` to ``high`` (true/false is not a number)."""

    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise problem(f"must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise problem(f"must be between {low} and {high}, got {value}")
        return value

    schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    if optional:
        return Rule(check, lambda: {"anyOf": [dict(schema), {"type": "null"}]})
    return Rule(check, lambda: dict(schema))


def ExactNumber(low: Any, high: Any) -> Rule:
    """A number such as 0.15, kept as the decimal written (exactly, as the engine reads it)."""

    def check(value: Any) -> float:
        try:
            number = parse_number("", value)
        except SettingsError:
            raise problem(f"must be a number from {low} to {high}, got {value!r}") from None
        if not low <= number <= high:
            raise problem(f"must be between {low} and {high}, got {value!r}")
        return float(number)

    return Rule(check, lambda: {"type": "number", "minimum": low, "maximum": high})


def Flag() -> Rule:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise problem(f"must be true or false, got {value!r}")
        return value

    return Rule(check, lambda: {"type": "boolean"})


def Choice(options: Callable[[], tuple[str, ...]]) -> Rule:
    """One of ``options()``, read when a file is checked (a rule registered later counts)."""

    def check(value: Any) -> str:
        known = options()
        if not isinstance(value, str) or value not in known:
            raise problem(f"{value!r} is not one of: {', '.join(known)}")
        return value

    # The options as they are when the schema is written.
    return Rule(check, lambda: {"type": "string", "enum": list(options())})


def nonempty_unless_draft(value: list[Any], info: ValidationInfo) -> list[Any]:
    """A list that a draft built in the browser may leave empty, and a file may not."""
    if not value and not (info.context or {}).get("draft"):
        raise problem("must not be empty")
    return value


class Strict(BaseModel):
    """Unknown keys are refused (a misspelt key would otherwise be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


# -- the file ----------------------------------------------------------------------------

class Reference(Strict):
    """A cited source: how it reads, and its DOI and/or PubMed id."""

    text: Annotated[str, Text(1000)] = Field(description="The citation as it reads.")
    doi: Annotated[str, Text(300, required=False)] = Field(
        "", description="DOI as 10.NNNN/suffix, without https://doi.org/.")
    pmid: Annotated[str, Text(20, required=False)] = Field("", description="PubMed id (digits).")

    @field_validator("doi")
    @classmethod
    def _doi(cls, value: str) -> str:
        if value and not DOI_RE.match(value):
            raise problem(f"{value!r} is not a DOI (10.NNNN/suffix, without https://doi.org/)")
        return value

    @field_validator("pmid")
    @classmethod
    def _pmid(cls, value: str) -> str:
        if value and not PMID_RE.match(value):
            raise problem(f"{value!r} is not a PubMed id (digits only)")
        return value

    @model_validator(mode="after")
    def _identified(self) -> Self:
        if not self.doi and not self.pmid:
            raise problem("needs a doi (10.NNNN/...) or a pmid (digits)")
        return self


def _at_most_references(value: Any) -> Any:
    if isinstance(value, list) and len(value) > MAX_REFERENCES:
        raise problem(f"has {len(value)} entries; at most {MAX_REFERENCES} are allowed")
    return value


References = Annotated[list[Reference], BeforeValidator(_at_most_references),
                       Field(default_factory=list, max_length=MAX_REFERENCES,
                             description="Sources, each with a DOI or a PubMed id.")]


class Item(Strict):
    """A statement the panel rates."""

    key: Annotated[str, Text(64, pattern=KEY_RE)] = Field(
        description="Stays the same when reworded.")
    text: Annotated[str, Text()] = Field(description="The statement.")
    rationale: Annotated[str, Text()] = Field(description="Why it is proposed, with its sources.")
    plain_text: Annotated[str, Text(required=False)] = Field(
        "", description="A plain-language version.")
    references: References


class Section(Strict):
    """A titled part of the questionnaire."""

    key: Annotated[str, Text(64, required=False, pattern=KEY_RE)] = Field(
        "", description="Default: section-N, by position.")
    title: Annotated[str, Text(300)]
    description: Annotated[str, Text(required=False)] = ""
    scale: Annotated[str, Choice(lambda: tuple(SCALES))] | None = Field(
        None, description="The section's own rating scale (default: the study's).")
    evidence: Annotated[str, Text(required=False)] = Field(
        "", description="A summary of the evidence, shown at the top of the section.")
    references: References
    items: list[Item]

    _items = field_validator("items")(nonempty_unless_draft)


class Group(Strict):
    """A stakeholder group of the panel."""

    key: Annotated[str, Text(64, pattern=KEY_RE)] = Field(description="Used in panel files.")
    name: Annotated[str, Text(200)]
    description: Annotated[str, Text(required=False)] = ""


class Scale(Strict):
    key: Annotated[str, Choice(lambda: tuple(SCALES))] = Field(
        "grade-1-9", description="The rating scale.")
    unable_to_score: Annotated[bool, Flag()] = Field(
        True, description="Panellists may answer unable to score.")


class Feedback(Strict):
    by_group: Annotated[bool, Flag()] = Field(
        True, description="From round 2, show each group's ratings.")
    min_group_size: Annotated[int, Whole(1, MAX_GROUP_SIZE)] = Field(
        3, description="A group with fewer ratings on a statement is not shown on its own.")
    ask_reason: Annotated[bool, Flag()] = Field(
        True, description="Ask why when a panellist moves a rating to another band.")


class Privacy(Strict):
    erasure: Annotated[str, Choice(lambda: ERASURE_POLICIES)] = Field(
        "keep-pseudonymised", description="What erasing a panellist does to their answers.")
    retention_days: Annotated[int | None, Whole(0, MAX_RETENTION_DAYS, optional=True)] = Field(
        None, description="Days after finishing that an archived study may be deleted.")


class Consent(Strict):
    information_sheet: Annotated[str, Text(MAX_INFORMATION_SHEET, required=False)] = Field(
        "", description="The participant information sheet, read before consenting.")
    statement: Annotated[str, Text(MAX_CONSENT_STATEMENT, required=False)] = Field(
        "", description="What the panellist agrees to. Both texts, or neither (then "
        "panellists are not asked for consent on the platform).")


class Declarations(Strict):
    conflicts: Annotated[bool, Flag()] = Field(
        False, description="Ask each panellist to declare potential conflicts of interest on "
        "their first visit (after consent); the report counts the declarations.")


def _time_zone(value: Any) -> str:
    from .timezones import zone_names

    if value is None or (isinstance(value, str) and not value.strip()):
        return "UTC"
    name = value.strip() if isinstance(value, str) else value
    if not isinstance(name, str) or len(name) > 64 or name not in zone_names():
        raise problem(f"{name!r} is not a time zone name such as Europe/London")
    return name


def _reminder_days(value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_REMINDERS or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_REMINDER_DAYS
            for d in value):
        raise problem(f"must be a list of at most {MAX_REMINDERS} whole numbers of days "
                      f"from 1 to {MAX_REMINDER_DAYS}, such as [7, 2]")
    return sorted(set(value), reverse=True)


class Schedule(Strict):
    time_zone: Annotated[str, BeforeValidator(_time_zone),
                         WithJsonSchema({"type": "string", "maxLength": 64})] = Field(
        "UTC", description="The IANA zone times are entered and shown in, e.g. Europe/London.")
    reminders: Annotated[list[int], BeforeValidator(_reminder_days), WithJsonSchema({
        "type": "array", "maxItems": MAX_REMINDERS, "uniqueItems": True,
        "items": {"type": "integer", "minimum": 1, "maximum": MAX_REMINDER_DAYS}})] = Field(
        default_factory=list, description="Days before a round's deadline when those who "
        "have not submitted are reminded, e.g. [7, 2].")
    suggestions_every_round: Annotated[bool, Flag()] = Field(
        False, description="Panellists may suggest statements in every round, not only round 1.")


def _reply_to(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    if not isinstance(value, str):
        raise problem(f"must be text, got {kind(value)}")
    from .mail import address_problem

    address = value.strip().lower()
    if len(address) > 254:
        raise problem(f"is {len(address)} characters long; at most 254 are allowed")
    if found := address_problem(address):
        raise problem(found)
    return address


class EmailText(Strict):
    subject: Annotated[str, Text(email_texts.MAX_SUBJECT)] = Field(
        description="The subject, with placeholders.")
    body: Annotated[str, Text(email_texts.MAX_BODY)] = Field(
        description="Plain text with placeholders such as {name} and {link}; a blank line "
        "starts a paragraph.")


class Emails(Strict):
    reply_to: Annotated[str, BeforeValidator(_reply_to), WithJsonSchema(
        {"type": "string", "maxLength": 254})] = Field(
        "", description="Where panellists' replies go (empty: the platform's sender).")
    contact_person: Annotated[str, Text(200, required=False)] = Field(
        "", description="Who panellists may contact, as the {contact} placeholder reads.")
    invitation: EmailText | None = None
    reminder: EmailText | None = None
    receipt: EmailText | None = None
    extension: EmailText | None = None
    thankyou: EmailText | None = None

    @field_validator(*email_texts.KINDS)
    @classmethod
    def _checked(cls, value: EmailText | None, info: ValidationInfo) -> EmailText | None:
        """Placeholders only, and ``{link}`` where the message needs it (as the Emails tab)."""
        from .models import DomainError

        if value is not None:
            try:
                email_texts.check(str(info.field_name), value.subject, value.body)
            except DomainError as exc:
                raise problem(str(exc)) from None
        return value

    def texts(self) -> tuple[tuple[str, str, str], ...]:
        """(kind, subject, body) of each edited text, in the order of the message kinds."""
        return tuple((k, t.subject, t.body) for k in email_texts.KINDS
                     if (t := getattr(self, k)) is not None)


def consent_problems(sheet: str, statement: str, *, required: bool = False) -> list[str]:
    """The information sheet and consent statement checked as the survey file checks them
    (``required``: both must be given), as ``consent.*: problem``."""
    from pydantic import ValidationError

    doc = {"consent": {"information_sheet": sheet, "statement": statement}}
    try:
        model = Consent.model_validate(doc["consent"])
    except ValidationError as error:
        errors = [{**e, "loc": ("consent", *e["loc"])} for e in error.errors(include_url=False)]
        return problems_of(errors, doc)
    return both_or_neither(model.information_sheet, model.statement, required=required)


def both_or_neither(sheet: str, statement: str, *, required: bool = False) -> list[str]:
    if required and not sheet and not statement:
        return ["consent.information_sheet: required", "consent.statement: required"]
    if statement and not sheet:
        return ["consent.information_sheet: required with a consent statement"]
    if sheet and not statement:
        return ["consent.statement: required with an information sheet"]
    return []


# -- the consensus block, from the settings registry ----------------------------------------

def setting_type(spec: Spec, *, optional: bool = False) -> Any:
    """The survey file's type of one setting, from its spec."""
    if spec.kind == "choice":
        return Annotated[str, Choice(spec.options)]
    if spec.kind == "flag":
        return Annotated[bool, Flag()]
    low, high = spec.study_range
    assert high is not None, f"{spec.name}: a study's setting needs an upper bound"
    if spec.stored is float:
        return Annotated[float, ExactNumber(low, high)]
    if optional or spec.default is None:
        return Annotated[int | None, Whole(int(low), int(high), optional=True)]
    return Annotated[int, Whole(int(low), int(high))]


def _block(name: str, fields: dict[str, Any], doc: str) -> type[BaseModel]:
    model = create_model(name, __base__=Strict, __doc__=doc, **fields)
    return model


def _blocks(specs: list[Spec], make: Callable[[Spec], tuple[Any, Any]],
            prefix: str) -> dict[str, Any]:
    """Fields for ``specs`` at their survey paths: ``(key,)`` at the top, ``(block, key)``
    in a nested block, in the registry's order."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if len(spec.survey) == 1:
            top[spec.survey[0]] = make(spec)
        else:
            block, key = spec.survey
            if block not in nested:
                nested[block] = {}
                top[block] = None  # keeps the block where its first setting is
            nested[block][key] = make(spec)
    for block, fields in nested.items():
        model = _block(f"{prefix}{block.title()}", fields, f"The {block} settings.")
        top[block] = (model, Field(default_factory=model))
    return top


def _round_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise problem("must be a round number of 2 or more (round 1 uses the thresholds above)")
    return value


RoundNumber = Annotated[int, BeforeValidator(_round_number),
                        WithJsonSchema({"type": "string", "pattern": "^([2-9]|[1-9][0-9]+)$"})]
ROUND_SPECS = [spec for spec in STUDY_SETTINGS.values() if spec.per_round]


def _round_block() -> type[BaseModel]:
    # Each threshold within its own range, as at the top of the block and in the database.
    fields = _blocks(ROUND_SPECS, lambda spec: (setting_type(spec, optional=True), None),
                     "Round")
    model = _block("RoundThresholds", fields, "Thresholds that change from a round on.")

    def named(self: BaseModel) -> BaseModel:
        if not round_values(self):
            blocks = list(dict.fromkeys(spec.survey[0] for spec in ROUND_SPECS))
            names = ", ".join(blocks[:-1]) + f" or {blocks[-1]}" if len(blocks) > 1 else blocks[0]
            raise problem(f"names no threshold ({names})")
        return self

    # pydantic documents decorated validators here; its annotation says plain functions.
    validators = {"_named": model_validator(mode="after")(named)}
    return create_model("RoundThresholds", __base__=model,
                        __validators__=validators)  # type: ignore[arg-type]


def round_values(block: BaseModel) -> dict[str, int]:
    """One round's thresholds as ``{setting name: value}``, unset ones left out."""
    out = {}
    for spec in ROUND_SPECS:
        value = get_path(block, spec.survey)
        if value is not None:
            out[spec.name] = value
    return out


def get_path(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value


if TYPE_CHECKING:  # built from the registry when the module loads
    class RoundThresholds(Strict):
        def __getattr__(self, name: str) -> Any: ...
else:
    RoundThresholds = _round_block()


def _consensus_model() -> type[BaseModel]:
    specs = [spec for spec in STUDY_SETTINGS.values() if spec.kind != "rounds"]
    fields = _blocks(specs, lambda spec: (setting_type(spec), Field(
        spec.study_default, description=spec.help)), "")
    rounds = STUDY_SETTINGS["round_thresholds"]
    fields[rounds.survey[0]] = (dict[RoundNumber, RoundThresholds], Field(
        default_factory=dict, description=rounds.help))
    return _block("Consensus", fields, "The consensus rule and the analysis conventions, "
                                       "fixed when round 1 is launched.")


if TYPE_CHECKING:  # built from the registry when the module loads
    class Consensus(Strict):
        def __getattr__(self, name: str) -> Any: ...
else:
    Consensus = _consensus_model()


class SurveyFile(Strict):
    """A Delphi study's definition: what ``delphi import-survey`` reads and
    ``delphi export-survey`` writes (docs/survey-format.md)."""

    model_config = ConfigDict(extra="forbid", title="Delphi survey file")

    slug: Annotated[str, Text(80, pattern=SLUG_RE,
                              allowed="2-80 lower-case letters, digits or '-'")] = Field(
        description="The study's short address.")
    title: Annotated[str, Text(300)]
    short_name: Annotated[str, Text(40, required=False, one_line=True)] = Field(
        "", description="How emails name the study.")
    sender_name: Annotated[str, Text(120, required=False, one_line=True)] = Field(
        "", description="Who signs the emails.")
    description: Annotated[str, Text(required=False)] = ""
    method: Annotated[str, Text(120, required=False)] = Field(
        "", description="Default: modified e-Delphi.")
    plain_language: Annotated[str, Text(required=False)] = ""
    scale: Scale = Field(default_factory=Scale)
    consensus: Consensus = Field(default_factory=Consensus)
    feedback: Feedback = Field(default_factory=Feedback)
    privacy: Privacy = Field(default_factory=Privacy)
    schedule: Schedule = Field(default_factory=Schedule)
    emails: Emails = Field(default_factory=Emails)
    consent: Consent = Field(default_factory=Consent)
    declarations: Declarations = Field(default_factory=Declarations)
    groups: list[Group]
    sections: list[Section]

    _lists = field_validator("groups", "sections")(nonempty_unless_draft)


# -- errors as ``path: problem`` -------------------------------------------------------------

def _inner(annotation: Any) -> Any:
    """The model a field holds, through lists, mappings, Optional and Annotated."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (list, dict) or (args and not isinstance(annotation, type)):
        return _inner(args[-1]) if args else annotation
    return annotation


def _model_at(loc: list[Any]) -> Any:
    """The model at ``loc`` (a path of keys and indexes from the file's top)."""
    model: Any = SurveyFile
    for part in loc:
        if isinstance(part, str) and isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(part)
            if field is not None:  # else a key of a mapping, such as a round number
                model = _inner(field.annotation)
    return model


def path_of(loc: list[Any], doc: Any) -> str:
    """``sections[1].items[0].text``: a path as the error messages write it."""
    out = ""
    for part in loc:
        if isinstance(doc, list) and isinstance(part, int):
            out += f"[{part}]"
            doc = doc[part] if part < len(doc) else None
        else:
            out += f".{part}" if out else str(part)
            doc = doc.get(part) if isinstance(doc, dict) else None
    return out


def message_of(error: Mapping[str, Any], loc: list[Any]) -> str:
    """The words of one validation error, as the survey file's docs write them."""
    kind_of = error["type"]
    if kind_of == "survey":
        return str(error["ctx"]["message"])
    if kind_of == "missing":
        return "required"
    if kind_of in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping, got {kind(error['input'])}"
    if kind_of == "list_type":
        return f"must be a list, got {kind(error['input'])}"
    if kind_of == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = sorted(model.model_fields) if isinstance(model, type) and issubclass(
            model, BaseModel) else []
        return f"unknown key (allowed: {', '.join(allowed)})"
    return str(error["msg"])


def problems_of(errors: Sequence[Mapping[str, Any]], doc: Any) -> list[str]:
    """Each error as ``path: problem`` (only the problem for the file as a whole)."""
    out = []
    for error in errors:
        loc = [part for part in error["loc"] if part != "[key]"]
        path = path_of(loc, doc)
        message = message_of(error, loc)
        out.append(f"{path}: {message}" if path else message)
    return list(dict.fromkeys(out))


# -- JSON Schema -------------------------------------------------------------------------------

def json_schema() -> dict[str, Any]:
    """The survey file format as JSON Schema (draft 2020-12), for editors."""
    schema = SurveyFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


SETTINGS_TABLE_START = "<!-- consensus settings: generated by python -m delphi.survey_schema -->"
SETTINGS_TABLE_END = "<!-- end of the generated consensus settings -->"
DOC_FILE = SCHEMA_FILE.parent / "survey-format.md"


def _allowed(spec: Spec) -> str:
    if spec.kind == "choice":
        return ", ".join(f"`{option}`" for option in spec.options())
    if spec.kind == "flag":
        return "`true` or `false`"
    if spec.kind == "rounds":
        return "round numbers (2 or more), each with " + ", ".join(
            dict.fromkeys(f"`{s.survey[0]}`" for s in ROUND_SPECS)) + " blocks"
    low, high = spec.study_range
    what = "number" if spec.stored is float else "whole number"
    return f"{what}, {low}-{high}"


def _default_text(spec: Spec) -> str:
    value = spec.study_default
    if value is None or value == {}:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if isinstance(value, str) else str(value)


def settings_table() -> str:
    """The ``consensus`` block's settings as a Markdown table (docs/survey-format.md)."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for spec in STUDY_SETTINGS.values():
        key = f"`{spec.survey[-1]}`" + (f" (in `{spec.survey[0]}`)" if len(spec.survey) > 1
                                        else "")
        rows.append(f"| {key} | {_default_text(spec)} | {_allowed(spec)} | {spec.help} |")
    return "\n".join(rows) + "\n"


def write_docs() -> list[Path]:
    """Write docs/survey.schema.json and the settings table of docs/survey-format.md."""
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    doc = DOC_FILE.read_text(encoding="utf-8")
    head, rest = doc.split(SETTINGS_TABLE_START)
    _, tail = rest.split(SETTINGS_TABLE_END)
    DOC_FILE.write_text(f"{head}{SETTINGS_TABLE_START}\n{settings_table()}{SETTINGS_TABLE_END}"
                        f"{tail}", encoding="utf-8")
    return [SCHEMA_FILE, DOC_FILE]


def main(argv: list[str]) -> int:
    """Write the JSON Schema and the docs' settings table from the models."""
    for path in write_docs():
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
