"""The final consensus statements: every item, its final status and its numbers in every round.

The final status of an item is derived, in this order, from:

1. a decision that ended it: a reword, merge or split makes it ``superseded``
   (by what it became); a drop makes it ``consensus_in`` or ``consensus_out``
   when the committee dropped it for that outcome, else ``dropped`` with the
   reason; it was settled in the round the decision followed;
2. otherwise the stored verdict under the primary rule (after the group rule)
   of the last round that rated it: ``consensus_in``, ``consensus_out`` or
   ``no_consensus`` (RAND/UCLA classes read as in / out / none), settled in
   that round;
3. otherwise ``not_rated`` (added after the last closed round).
"""

from __future__ import annotations

from typing import Any

from ..filters import fmt, pct
from ..models import DecisionKind, DropOutcome, Item, ItemDecision, ItemStatus
from ..results.items import STATUS_OF_VERDICT
from .data import StudyData, iso
from .formats import Table

STATUS_TEXT = {
    "consensus_in": "consensus in",
    "consensus_out": "consensus out",
    "no_consensus": "no consensus",
    "dropped": "dropped",
    "superseded": "superseded",
    "not_rated": "not rated yet",
}
DONE = {
    DecisionKind.CARRY: "carried forward", DecisionKind.DROP: "dropped",
    DecisionKind.REWORD: "reworded", DecisionKind.MERGE: "merged",
    DecisionKind.SPLIT: "split", DecisionKind.ADD: "added",
}
ROUND_KEYS = ("n", "median", "p25", "p75", "iqr", "pct_agree", "verdict")
BASE_COLUMNS = ("item", "key", "version", "section", "scale", "text", "origin", "came_from",
                "final_status", "final_status_text", "settled_in_round", "became", "decision")
# The final consensus meeting's outcome (empty cells until one is recorded).
MEETING_COLUMNS = ("meeting_for", "meeting_against", "meeting_abstain", "meeting_endorsed",
                   "meeting_final_wording")


def meeting_of(data: StudyData, item: Item) -> dict[str, Any] | None:
    """The meeting's vote on the item and the wording it endorsed, or None."""
    outcome = data.meeting.get(item.id)
    if outcome is None:
        return None
    return {"for": outcome.votes_for, "against": outcome.votes_against,
            "abstain": outcome.votes_abstain, "endorsed": outcome.endorsed,
            "final_wording": outcome.final_wording or item.text}


def round_numbers(data: StudyData, item: Item) -> list[dict[str, Any]]:
    """The item's pooled numbers in every round that rated it, from the stored results."""
    out = []
    for number in data.rounds:
        row = data.row(number, item.label)
        if row is None:
            continue
        out.append({"round": number, "n": row["n_valid"], "median": row["median"],
                    "p25": row["p25"], "p75": row["p75"], "iqr": row["iqr"],
                    "pct_agree": row["pct_agree"], "verdict": row["verdict"]})
    return out


def describe_decision(decision: ItemDecision | None) -> str | None:
    """One line: what the committee did, after which round, and why."""
    if decision is None:
        return None
    outcome = ""
    if decision.outcome is not None and decision.outcome is not DropOutcome.OTHER:
        outcome = f" ({STATUS_TEXT[decision.outcome.value]})"
    return f"{DONE[decision.kind]} after round {decision.after_round}{outcome}: {decision.reason}"


def final_status(data: StudyData, item: Item,
                 rounds: list[dict[str, Any]]) -> tuple[str, str, int | None]:
    """Return (status code, status text, round settled in); see the module docstring."""
    decision = data.lineage.ended_by.get(item.id)
    if item.status is ItemStatus.SUPERSEDED and decision is not None:
        became = ", ".join(c.label for c in data.lineage.children.get(item.id, []))
        text = f"superseded by {became} ({DONE[decision.kind]})"
        return "superseded", text, decision.after_round
    if item.status is ItemStatus.DROPPED and decision is not None:
        if decision.outcome in (DropOutcome.CONSENSUS_IN, DropOutcome.CONSENSUS_OUT):
            code = decision.outcome.value
            return code, STATUS_TEXT[code], decision.after_round
        return "dropped", f"dropped ({decision.reason})", decision.after_round
    if rounds:
        last = rounds[-1]
        code = STATUS_OF_VERDICT.get(last["verdict"], "no_consensus")
        return code, STATUS_TEXT[code], last["round"]
    return "not_rated", STATUS_TEXT["not_rated"], None


def statement_rows(data: StudyData) -> list[dict[str, Any]]:
    """One object per item (every version), in questionnaire order."""
    rows = []
    for item in data.items:
        rounds = round_numbers(data, item)
        code, text, settled = final_status(data, item, rounds)
        rows.append({
            "item": item.label, "key": item.key, "version": item.version,
            "section": item.section.title if item.section else None,
            "scale": item.scale_key, "text": item.text,
            "origin": item.origin.value,
            "came_from": [p.label for p in data.lineage.parents.get(item.id, [])],
            "final_status": code, "final_status_text": text, "settled_in_round": settled,
            "became": [c.label for c in data.lineage.children.get(item.id, [])],
            "decision": describe_decision(data.lineage.ended_by.get(item.id)),
            "meeting": meeting_of(data, item),
            "rounds": rounds,
        })
    return rows


def statements_table(data: StudyData, rows: list[dict[str, Any]]) -> Table:
    """The statements as one wide table: the base columns, then ``r<N>_<statistic>``."""
    headers = [*BASE_COLUMNS, *MEETING_COLUMNS,
               *(f"r{n}_{k}" for n in data.rounds for k in ROUND_KEYS)]
    body = []
    for row in rows:
        by_round = {r["round"]: r for r in row["rounds"]}
        cells = [";".join(v) if isinstance(v, list) else v
                 for v in (row[c] for c in BASE_COLUMNS)]
        meeting = row["meeting"] or {}
        cells.extend(meeting.get(k.removeprefix("meeting_")) for k in MEETING_COLUMNS)
        for number in data.rounds:
            stats = by_round.get(number, {})
            cells.extend(stats.get(k) for k in ROUND_KEYS)
        body.append(cells)
    return Table(headers, body)


def study_header(data: StudyData) -> dict[str, Any]:
    """The study fields every JSON export starts with."""
    study = data.study
    return {"slug": study.slug, "title": study.title, "method": study.method,
            "state": study.state.value, "generated_at": iso(data.generated_at)}


def statements_document(data: StudyData, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The statements as one JSON document."""
    consensus = data.study.consensus
    return {
        "study": study_header(data),
        "primary_rule": consensus.primary_rule,
        "rule": consensus.describe(),
        "settings_locked_at": iso(consensus.locked_at),
        "rounds": data.rounds,
        "statements": rows,
    }


def round_summary(stats: dict[str, Any]) -> str:
    """One round's numbers in a few words, for the Markdown table."""
    if not stats["n"]:
        return f"n {stats['n']}, no ratings"
    verdict = STATUS_TEXT.get(STATUS_OF_VERDICT.get(stats["verdict"], ""), stats["verdict"])
    return (f"n {stats['n']}, median {fmt(stats['median'])} (IQR {fmt(stats['p25'])}–"
            f"{fmt(stats['p75'])}), {pct(stats['pct_agree'])} agree, {verdict}")


def meeting_summary(meeting: dict[str, Any] | None) -> str:
    """The meeting's vote in a few words."""
    if meeting is None:
        return "–"
    verdict = "endorsed" if meeting["endorsed"] else "not endorsed"
    return (f"{verdict} ({meeting['for']} for, {meeting['against']} against, "
            f"{meeting['abstain']} abstained): {meeting['final_wording']}")


MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>!|~"})


def md(text: Any) -> str:
    """Text that Markdown shows as written: no links, images, HTML or table breaks."""
    return " ".join(str(text).split()).translate(MD_SPECIAL)


def statements_markdown(data: StudyData, rows: list[dict[str, Any]]) -> str:
    """The statements as a Markdown document with one table."""
    study = data.study
    lines = [f"# {md(study.title)}: final statements", "",
             f"Generated {iso(data.generated_at)}. {md(study.consensus.describe())}", "",
             "| Statement | Text | Final status | Settled in | "
             + " | ".join(f"Round {n}" for n in data.rounds)
             + (" | Final meeting" if data.meeting else "") + " |",
             "|---|---|---|---|" + "---|" * (len(data.rounds) + bool(data.meeting))]
    for row in rows:
        by_round = {r["round"]: r for r in row["rounds"]}
        cells = [md(row["item"]), md(row["text"]), md(row["final_status_text"]),
                 f"round {row['settled_in_round']}" if row["settled_in_round"] else "–"]
        cells += [md(round_summary(by_round[n])) if n in by_round else "–" for n in data.rounds]
        if data.meeting:
            cells.append(md(meeting_summary(row["meeting"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
