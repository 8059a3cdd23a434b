"""Reporting checklists as data: ACCORD's 35 items, DELPHISTAR's numbers, CREDES's domains.

Wording is a short paraphrase (see ACCORD, Gattrell et al., PLoS Med 2024,
DELPHISTAR, Niederberger et al., PLoS One 2024, and CREDES, Junger et al.,
Palliat Med 2017, before quoting).  ``fill`` says who answers, as the shared
reporting table classes them: AUTO the platform, SEMI the platform's numbers
plus the team's text, TEAM the team alone.  ``anchor`` is the report section
that answers it.  Whether an item is *answered* is decided per study by the
facts its data gives (``facts.accord_facts``), never by its class alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TeamField:
    """A text the study team writes for the report (stored in ``Study.report_fields``)."""

    key: str
    label: str
    anchor: str
    hint: str = ""


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    section: str
    asks: str
    fill: str
    anchor: str
    team_field: str | None = None


TEAM_FIELDS = (
    TeamField("title", "Title", "title",
              "Name the method, e.g. 'A modified e-Delphi consensus study'."),
    TeamField("justification", "Why a consensus method", "introduction"),
    TeamField("aim", "Aim, intended audience and geographic scope", "introduction"),
    TeamField("update", "Update of an earlier consensus (why, and the citation)", "introduction"),
    TeamField("registration", "Registration (registry, identifier, date)", "registration"),
    TeamField("steering_committee", "Who led the study and how they were chosen", "panel"),
    TeamField("panel_selection", "Panellist criteria, rationale for the panel size, who selected",
              "panel"),
    TeamField("recruitment", "Recruitment channels; nomination or snowballing", "panel"),
    TeamField("public_involvement", "Role of patients, carers or the public at each stage",
              "panel"),
    TeamField("preparatory_research", "How the material for the statements was gathered",
              "preparation"),
    TeamField("literature_review", "Literature review (PRISMA / PRISMA-S)", "preparation"),
    TeamField("evidence_summary", "Evidence summary and whether panellists saw it",
              "preparation"),
    TeamField("method_changes", "Changes to the classic method, and why", "conduct"),
    TeamField("consensus_rationale", "Why this definition of consensus", "consensus"),
    TeamField("qualitative_analysis", "Analysis of free-text comments", "consensus"),
    TeamField("pilot", "Pilot outside the platform: who piloted, what changed, whether "
              "answers counted", "conduct"),
    TeamField("participation", "Incentives or reimbursement beyond reminders", "conduct"),
    TeamField("languages", "Languages, translations, plain-language summaries", "conduct"),
    TeamField("demographics", "Socio-demographics of the panellists", "participants"),
    TeamField("limitations", "Strengths and limitations", "discussion"),
    TeamField("prior_literature", "Agreement with prior literature", "discussion"),
    TeamField("endorsement", "Endorsing organisations and their role", "other"),
    TeamField("conflicts_of_interest", "How conflicts of interest were managed", "other"),
    TeamField("funding", "Funding and the funder's role", "other"),
    TeamField("ethics", "Ethics approval or exemption", "other"),
    TeamField("external_validation", "External validation of the results (CREDES)",
              "discussion"),
    TeamField("conclusions", "Conclusions, implications and dissemination (CREDES)",
              "discussion"),
)
TEAM_FIELD_KEYS = tuple(f.key for f in TEAM_FIELDS)

_ACCORD_ROWS = (
    ("T1", "Title", "flag the paper as a consensus exercise and name the method", "SEMI",
     "title", "title"),
    ("I1", "Introduction", "why a consensus approach", "TEAM", "introduction", "justification"),
    ("I2", "Introduction", "aim, intended audience, geographic scope", "SEMI", "introduction",
     "aim"),
    ("I3", "Introduction", "if an update: why, and cite the original", "TEAM", "introduction",
     "update"),
    ("M1", "Registration", "registration and its date", "SEMI", "registration", "registration"),
    ("M2", "Panel", "who led the exercise and how they were chosen", "SEMI", "panel",
     "steering_committee"),
    ("M3", "Panel", "inclusion criteria, panel size rationale, who selected", "SEMI", "panel",
     "panel_selection"),
    ("M4", "Panel", "recruitment: channels, number of invitations, snowballing", "AUTO",
     "participants", "recruitment"),
    ("M5", "Panel", "role of patients, carers or the public", "SEMI", "panel",
     "public_involvement"),
    ("M6", "Preparatory research", "how the material for the items was gathered", "SEMI",
     "preparation", "preparatory_research"),
    ("M7", "Preparatory research", "literature review to PRISMA / PRISMA-S", "TEAM",
     "preparation", "literature_review"),
    ("M8", "Preparatory research", "evidence summary and whether panellists saw it", "SEMI",
     "preparation", "evidence_summary"),
    ("M9", "Assessing consensus", "the consensus method and any departures from it", "SEMI",
     "conduct", "method_changes"),
    ("M10", "Assessing consensus", "the questionnaire or statement list", "AUTO", "rounds",
     None),
    ("M11", "Assessing consensus", "number and type of steps", "AUTO", "conduct", None),
    ("M12", "Assessing consensus", "definition of consensus and its rationale", "AUTO",
     "consensus", "consensus_rationale"),
    ("M13", "Assessing consensus", "whether items with consensus were put to later rounds",
     "AUTO", "item-flow", None),
    ("M14", "Assessing consensus", "how responses were collected, in a group or individually",
     "AUTO", "conduct", None),
    ("M15", "Assessing consensus", "qualitative and quantitative analysis methods", "AUTO",
     "consensus", "qualitative_analysis"),
    ("M16", "Assessing consensus", "piloting, or that there was none", "AUTO", "conduct",
     "pilot"),
    ("M17", "Assessing consensus", "feedback between steps and whether it was anonymised",
     "AUTO", "conduct", None),
    ("M18", "Assessing consensus", "anonymity: planned, to whom, how guaranteed", "AUTO",
     "conduct", None),
    ("M19", "Assessing consensus", "roles of the organisers, e.g. whether they voted", "AUTO",
     "conduct", None),
    ("M20", "Participation", "steps to encourage participation", "AUTO", "conduct",
     "participation"),
    ("M21", "Participation", "languages and accessibility", "AUTO", "conduct", "languages"),
    ("R1", "Results", "when the exercise ran, time per step, delays", "AUTO", "conduct", None),
    ("R2", "Results", "changes during the exercise and when", "AUTO", "changes", None),
    ("R3", "Results", "panellists and response rate per step, socio-demographics", "AUTO",
     "participants", "demographics"),
    ("R4", "Results", "final outcome, qualitative and quantitative", "AUTO", "statements",
     None),
    ("R5", "Results", "items modified or dropped, why and when", "AUTO", "item-flow", None),
    ("D1", "Discussion", "strengths and limitations", "SEMI", "discussion", "limitations"),
    ("D2", "Discussion", "agreement with prior literature", "TEAM", "discussion",
     "prior_literature"),
    ("O1", "Other information", "endorsing organisations and their role", "TEAM", "other",
     "endorsement"),
    ("O2", "Other information", "conflicts of interest and their management", "SEMI", "other",
     "conflicts_of_interest"),
    ("O3", "Other information", "funding and the funder's role", "TEAM", "other", "funding"),
)
ACCORD = tuple(ChecklistItem(*row) for row in _ACCORD_ROWS)

DELPHISTAR_PARTS = ((1, 3, "Title and abstract"), (4, 10, "Context"), (11, 30, "Method"),
                    (31, 34, "Results"), (35, 38, "Discussion"))
# number -> (what the report gives, anchor); numbers not listed are written by the team.
DELPHISTAR_ANSWERS = {
    5: ("roles and voting rights", "conduct"),
    **{n: ("the panel: groups, invitations, sizes", "panel") for n in (11, 12, 13, 16, 17, 18)},
    14: ("rounds, dates and rules", "conduct"),
    15: ("rounds; changes in the audit log", "changes"),
    19: ("the statements of each round", "rounds"),
    20: ("the questionnaire of each round", "rounds"),
    21: ("number of rounds", "conduct"),
    22: ("rounds and stopping", "conduct"),
    23: ("whether the number of rounds was fixed in advance (the lock time is given)",
         "consensus"),
    24: ("feedback given between rounds", "conduct"),
    25: ("feedback and statistics", "conduct"),
    26: ("feedback per group", "conduct"),
    27: ("handling of items without consensus", "item-flow"),
    28: ("statistics", "consensus"),
    29: ("definition of consensus", "consensus"),
    30: ("statistics, software and version", "consensus"),
    31: ("flow chart", "participants"),
    33: ("participants and response rate per round", "participants"),
    34: ("results per round", "rounds"),
    38: ("response and attrition figures for the discussion", "participants"),
}
# The report gives the numbers; the team adds the words.
DELPHISTAR_SEMI = frozenset({23, 38})


def delphistar_rows() -> list[dict[str, Any]]:
    """One row per DELPHISTAR number: its part, and where the report answers it (or TEAM)."""
    rows = []
    for low, high, part in DELPHISTAR_PARTS:
        for number in range(low, high + 1):
            what, anchor = DELPHISTAR_ANSWERS.get(number, (None, None))
            rows.append({"number": number, "part": part, "what": what, "anchor": anchor,
                         "fill": _delphistar_fill(number, anchor)})
    return rows


def _delphistar_fill(number: int, anchor: str | None) -> str:
    if anchor is None:
        return "TEAM"
    return "SEMI" if number in DELPHISTAR_SEMI else "AUTO"


STATUS_TEXT = {
    "answered": "answered in the report",
    "written": "written by the team",
    "numbers_given": "numbers given; the team adds the reasons",
    "to_write": "to write",
    "no_data": "not answered by the data yet",
}


def _status(fill: str, fact: str | None, filled: bool, has_field: bool) -> str:
    """Where an item stands: answered by the data, written, half done, or still to write."""
    if fill == "AUTO":
        if fact is not None:
            return "answered"
        return "written" if filled else ("to_write" if has_field else "no_data")
    if filled:
        return "written"
    if fill == "SEMI" and fact is not None:
        return "numbers_given"
    return "to_write"


def accord_rows(fields: dict[str, str],
                facts: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """ACCORD items with where the report answers them, what the data says, and their status."""
    facts = facts or {}
    rows = []
    for item in ACCORD:
        filled = bool(item.team_field and fields.get(item.team_field, "").strip())
        fact = facts.get(item.id)
        status = _status(item.fill, fact, filled, item.team_field is not None)
        rows.append({"id": item.id, "section": item.section, "asks": item.asks,
                     "fill": item.fill, "anchor": item.anchor, "team_field": item.team_field,
                     "fact": fact, "filled": filled, "status": status,
                     "status_text": STATUS_TEXT[status],
                     "answered": status == "answered",
                     "to_write": status in ("to_write", "no_data", "numbers_given")})
    return rows


@dataclass(frozen=True)
class CredesDomain:
    """A CREDES domain, answered by the ACCORD items that carry the same data."""

    domain: str
    gives: str
    anchor: str
    accord: tuple[str, ...] = ()
    team_field: str | None = None


CREDES = (
    CredesDomain("Rationale for the choice of the Delphi technique", "", "introduction",
                 team_field="justification"),
    CredesDomain("Planning and process", "rounds, dates, stopping and carry-forward",
                 "conduct", ("M9", "M11", "M13", "R1")),
    CredesDomain("Definition of consensus", "the rule, its thresholds and when it was locked",
                 "consensus", ("M12", "M1")),
    CredesDomain("Informational input", "evidence shown, feedback between rounds", "conduct",
                 ("M8", "M17")),
    CredesDomain("Prevention of bias", "anonymity, roles and voting rights", "conduct",
                 ("M18", "M19")),
    CredesDomain("Expert panel", "invitations, groups, response and attrition", "participants",
                 ("M3", "M4", "R3")),
    CredesDomain("Description of the methods", "questionnaire, analysis, software, changes",
                 "consensus", ("M10", "M14", "M15", "R2")),
    CredesDomain("Procedure: flow chart", "participant and item flow diagrams", "participants",
                 ("R3", "R5")),
    CredesDomain("Results", "per-round results, final statements, modified items", "statements",
                 ("R4", "R5")),
    CredesDomain("External validation", "", "discussion", team_field="external_validation"),
    CredesDomain("Discussion of limitations", "response, attrition and attrition bias",
                 "discussion", ("D1",), "limitations"),
    CredesDomain("Conclusions and dissemination", "", "discussion", team_field="conclusions"),
)


def credes_rows(fields: dict[str, str],
                facts: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """CREDES domains: answered when every ACCORD item carrying their data is answered."""
    facts = facts or {}
    rows = []
    for d in CREDES:
        filled = bool(d.team_field and fields.get(d.team_field, "").strip())
        found = [facts.get(a) for a in d.accord]
        if not d.accord:
            fill, fact = "TEAM", None
        else:
            fill = "SEMI" if d.team_field else "AUTO"
            fact = "; ".join(f for f in found if f) if all(found) else None
        status = _status(fill, fact, filled, d.team_field is not None)
        rows.append({"domain": d.domain, "gives": d.gives, "anchor": d.anchor,
                     "accord": d.accord, "fill": fill, "fact": fact, "status": status,
                     "status_text": STATUS_TEXT[status], "answered": status == "answered",
                     "to_write": status in ("to_write", "no_data", "numbers_given")})
    return rows
