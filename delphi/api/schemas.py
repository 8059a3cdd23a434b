"""The API's request and response bodies: pydantic models, the source of the OpenAPI
document's schemas (``spec.py``). Limits here match the columns and the console's forms."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel

Text = str  # a free-text field; the use cases check control characters and lengths


class Strict(BaseModel):
    """A request body: unknown fields are refused, so a misspelt one is not silently lost."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel):
    """A page of a list; ``next`` is the cursor of the next page, null on the last one."""

    next: str | None = Field(description="Pass as `cursor` to get the next page.")


class PageQuery(Strict):
    cursor: str | None = Field(None, max_length=40, description="From `next` of the page before.")
    limit: int = Field(50, ge=1, le=200)


class Me(BaseModel):
    email: str
    name: str
    token_name: str
    scopes: list[Literal["read", "write"]]
    expires_at: datetime


class StudySummary(BaseModel):
    slug: str
    title: str
    state: Literal["draft", "running", "finished", "archived"]
    role: str
    rounds: int
    created_at: datetime


class StudyList(Page):
    studies: list[StudySummary]


class GroupOut(BaseModel):
    key: str
    name: str
    panellists: int


class StudyOut(StudySummary):
    description: str
    method: str
    scale: str
    groups: list[GroupOut]
    items: int
    current_round: int | None
    definition: dict[str, Any] = Field(description="The survey file, as `delphi export-survey` "
                                                   "writes it (see docs/survey-format.md).")


class SurveyInput(Strict):
    """A survey definition: exactly one of `definition` (the survey file as a JSON object)
    or `yaml` (the survey file's text)."""

    definition: dict[str, Any] | None = Field(
        None, description="The survey file's content as JSON (docs/survey-format.md).")
    yaml: str | None = Field(None, max_length=2_000_000, description="The survey file as YAML.")


class PanellistOut(BaseModel):
    pseudonym: str
    name: str
    email: str
    group: str
    attributes: dict[str, str]
    active: bool
    withdrawn_at: datetime | None
    erased: bool


class PanelList(Page):
    panellists: list[PanellistOut]


class PanellistIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    group: str = Field(min_length=1, max_length=64, description="The group's key.")
    attributes: dict[str, str] = Field(default_factory=dict)


class PanellistPatch(Strict):
    """The details to change; those not sent stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, min_length=3, max_length=254)
    group: str | None = Field(None, min_length=1, max_length=200,
                              description="A group's key or name.")
    language: str | None = Field(None, max_length=20,
                                 description="A language tag such as `fr`; empty for the "
                                             "study's language.")


class WithdrawIn(Strict):
    reason: str = Field("withdrawn through the API", min_length=1, max_length=500)


class PanelImportIn(Strict):
    csv: str = Field(min_length=1, max_length=2 * 1024 * 1024,
                     description="The panel file: `name,email,group` plus extra columns.")


class PanelImportOut(BaseModel):
    added: list[str] = Field(description="The new panellists' pseudonyms.")


class GroupProgress(BaseModel):
    group: str
    invited: int
    submitted: int


class RoundOut(BaseModel):
    number: int
    state: Literal["draft", "open", "closed"]
    opened_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    invited: int
    submitted: int
    progress: list[GroupProgress]
    has_results: bool


class RoundList(BaseModel):
    rounds: list[RoundOut]


class LaunchIn(Strict):
    closes_at: AwareDatetime | None = Field(None, description="The deadline, with a time zone.")


class ExtendIn(Strict):
    closes_at: AwareDatetime = Field(description="The new deadline, with a time zone.")


class RemindOut(BaseModel):
    reminders: int


class ResultsOut(BaseModel):
    round: int
    computed_at: datetime
    analysis: dict[str, Any] = Field(description="The stored analysis of the round: the same "
                                                 "numbers as the results page and "
                                                 "`delphi analyze`.")


class DecisionOut(BaseModel):
    id: int
    after_round: int
    kind: Literal["carry", "drop", "reword", "merge", "split", "add"]
    outcome: Literal["consensus_in", "consensus_out", "other"] | None
    reason: str
    items: list[str] = Field(description="The statements it is about (none for `add`).")
    new: list[str] = Field(default_factory=list,
                           description="The statements it made: a new version, the merged, "
                                       "split or added statements.")
    actor: str
    created_at: datetime


class DecisionList(BaseModel):
    decisions: list[DecisionOut]


Label = Annotated[str, Field(min_length=1, max_length=80,
                             description="A statement's label, e.g. `a-01` or `a-01.v2`.")]
Reason = Annotated[str, Field(min_length=1, max_length=5000,
                              description="Why: kept with the decision and in the audit log.")]
Wording = Annotated[str, Field(min_length=1, max_length=5000)]
Note = Annotated[str, Field(max_length=5000)]
PLAIN = "The plain-language version (optional)."
RATIONALE = "The rationale (optional; empty keeps the old statement's)."
KEY = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # delphi.surveys.KEY_RE


class CarryIn(Strict):
    """Keep statements for the next round as they are."""

    kind: Literal["carry"]
    items: list[Label] = Field(min_length=1, max_length=500)
    reason: Reason


class DropIn(Strict):
    """Take one statement out of later rounds."""

    kind: Literal["drop"]
    items: list[Label] = Field(min_length=1, max_length=1, description="The one statement.")
    outcome: Literal["consensus_in", "consensus_out", "other"] = Field(
        description="Why it leaves the questionnaire.")
    reason: Reason


class RewordIn(Strict):
    """Replace one statement by a new version of itself (`a-01` becomes `a-01.v2`)."""

    kind: Literal["reword"]
    items: list[Label] = Field(min_length=1, max_length=1, description="The one statement.")
    text: Wording = Field(description="The new wording.")
    plain_text: Note = Field("", description=PLAIN)
    rationale: Note = Field("", description=RATIONALE)
    reason: Reason


class SplitIn(Strict):
    """Replace one statement by narrower ones, keyed `KEY-a`, `KEY-b`, ..."""

    kind: Literal["split"]
    items: list[Label] = Field(min_length=1, max_length=1, description="The one statement.")
    texts: list[Wording] = Field(min_length=2, max_length=26, description="The new statements.")
    plain_texts: list[Annotated[str, Field(max_length=5000)]] = Field(
        default_factory=list, max_length=26,
        description="Their plain-language versions, in the same order (optional: none, or "
                    "one per new statement).")
    rationale: Note = Field("", description=RATIONALE)
    reason: Reason


class MergeIn(Strict):
    """Replace several statements by one new statement."""

    kind: Literal["merge"]
    items: list[Label] = Field(min_length=2, max_length=500)
    key: str = Field(pattern=KEY, max_length=64, description="The merged statement's key.")
    text: Wording = Field(description="The merged statement.")
    plain_text: Note = Field("", description=PLAIN)
    rationale: Note = Field("", description=RATIONALE)
    reason: Reason


class AddIn(Strict):
    """Add a new statement for the next round: the committee's own, or from a panellist's
    suggestion (`suggestion`: its id, from the round's suggestions)."""

    kind: Literal["add"]
    section: str = Field(min_length=1, max_length=64, description="The section's key.")
    key: str = Field(pattern=KEY, max_length=64, description="The new statement's key.")
    text: Wording = Field(description="The statement.")
    plain_text: Note = Field("", description=PLAIN)
    rationale: Note = Field("", description="The rationale (optional).")
    suggestion: int | None = Field(None, ge=1, le=2**62,
                                   description="The suggestion it comes from, if any.")
    reason: Reason


class DecisionIn(RootModel[Annotated[CarryIn | DropIn | RewordIn | SplitIn | MergeIn | AddIn,
                                      Field(discriminator="kind")]]):
    """A decision after a closed round; `kind` says which, and which fields it takes."""


class SuggestionOut(BaseModel):
    id: int
    item: str | None = Field(description="The statement it is about; null for a new one.")
    text: str


class SuggestionList(BaseModel):
    suggestions: list[SuggestionOut]


class AuditEventOut(BaseModel):
    id: int
    actor: str
    action: str
    detail: dict[str, Any]
    created_at: datetime


class AuditList(Page):
    events: list[AuditEventOut]


class ExportOut(BaseModel):
    what: str
    format: str
    description: str
    url: str


class ExportList(BaseModel):
    exports: list[ExportOut]


class WebhookIn(Strict):
    url: str = Field(min_length=8, max_length=500, description="An http(s) URL.")
    events: list[Literal["round.closed", "study.finished", "panellist.withdrew"]] = Field(
        min_length=1, max_length=3)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_at: datetime
    secret: str | None = Field(None, description="The signing secret; shown once, at creation.")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    event: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    last_status: int | None
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None


class DeliveryList(Page):
    deliveries: list[DeliveryOut]
