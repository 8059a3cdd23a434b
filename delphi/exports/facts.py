"""What the study's own data says for each ACCORD item: one short answer, or None.

An item is "answered in the report" only when its fact here is not None; the
checklist shows the fact beside the item, so a reader sees what the data
answers and what the team must still write.  Facts are counted from the
stored results, the rounds, the decisions and the audit log; nothing here is
typed by a person.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..models import DecisionKind, ItemOrigin
from .data import StudyData, iso
from .flow import reminders_per_round, study_changes

Fact = str | None


def _rounds_launched(data: StudyData) -> list[Any]:
    return [r for r in data.study.rounds if r.opened_at is not None]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def title(data: StudyData) -> Fact:
    rounds = len(data.closed_rounds)
    if not rounds:
        return None
    return f"a {data.study.method} study in {_plural(rounds, 'round')}"


def aim(data: StudyData) -> Fact:
    return data.study.description.strip() or None


def registration(data: StudyData) -> Fact:
    locked = data.study.consensus.locked_at
    return f"consensus criteria locked on the platform at {iso(locked)}" if locked else None


def leaders(data: StudyData) -> Fact:
    seats = data.study.memberships
    if not seats:
        return None
    owners = sum(1 for m in seats if m.role == "owner")
    return (f"{_plural(len(seats), 'facilitator')} on the steering committee "
            f"({owners} owner{'s' if owners != 1 else ''}); facilitators cannot rate")


def panel_size(data: StudyData) -> Fact:
    groups = [(g.name, sum(1 for p in g.panellists if p.is_active)) for g in data.study.groups]
    total = sum(n for _, n in groups)
    if not total:
        return None
    return f"{_plural(total, 'panellist')}: " + ", ".join(f"{name} {n}" for name, n in groups)


def invitations(data: StudyData) -> Fact:
    rounds = _rounds_launched(data)
    if not rounds or not any(r.invitations for r in rounds):
        return None
    per_round = ", ".join(f"round {r.number}: {len(r.invitations)}" for r in rounds)
    return (f"personal invitations sent by email from the platform ({per_round}); "
            "no nomination or referral links")


def public_groups(data: StudyData) -> Fact:
    rows = [r for r in data.section("response") if r["group"] is not None]
    if not rows:
        return None
    return "; ".join(f"round {r['round']}, {data.group_name(r['group'])}: {r['responded']} of "
                     f"{r['invited']} responded" for r in rows)


def origins(data: StudyData) -> Fact:
    counts: dict[str, int] = {}
    for item in data.items:
        counts[item.origin.value] = counts.get(item.origin.value, 0) + 1
    if not counts:
        return None
    suggested = counts.get(ItemOrigin.SUGGESTED.value, 0)
    return (", ".join(f"{n} {origin}" for origin, n in sorted(counts.items()))
            + f"; {suggested} from panellists' suggestions")


def evidence(data: StudyData) -> Fact:
    items = data.items
    if not items:
        return None
    shown = sum(1 for i in items if i.rationale.strip())
    return f"a rationale with its sources was shown with {shown} of {len(items)} statements"


def method(data: StudyData) -> Fact:
    rounds = _rounds_launched(data)
    if not rounds:
        return None
    return f"{data.study.method}, {_plural(len(rounds), 'online round')}"


def questionnaire(data: StudyData) -> Fact:
    if not data.closed_rounds:
        return None
    return "; ".join(f"round {r.number}: {_plural(len(r.round_items), 'statement')}"
                     for r in data.closed_rounds)


def steps(data: StudyData) -> Fact:
    rounds = _rounds_launched(data)
    if not rounds:
        return None
    return f"{_plural(len(rounds), 'online Delphi round')}; no meeting was held on the platform"


def definition(data: StudyData) -> Fact:
    consensus = data.study.consensus
    if consensus.locked_at is None:
        return None
    return f"{consensus.primary_rule} rule, locked before round 1 at {iso(consensus.locked_at)}"


def carried(data: StudyData) -> Fact:
    if not data.closed_rounds:
        return None
    if len(data.closed_rounds) == 1 and not data.decisions:
        return "a single round: no statement was put to a later round"
    counts: dict[str, int] = {}
    for d in data.decisions:
        key = d.kind.value if d.kind is not DecisionKind.DROP or d.outcome is None \
            else f"drop ({d.outcome.value.replace('_', ' ')})"
        counts[key] = counts.get(key, 0) + max(len(d.subjects), 1)
    return "decisions after each round: " + ", ".join(f"{k} {n}" for k, n in sorted(
        counts.items()))


def collected(data: StudyData) -> Fact:
    if not _rounds_launched(data):
        return None
    return "each panellist rated online, individually and asynchronously, by a personal link"


def analysis(data: StudyData) -> Fact:
    block = data.settings_block
    if not block:
        return None
    return (f"{block.get('software')} {block.get('software_version')} (numpy "
            f"{block.get('numpy_version')}, scipy {block.get('scipy_version')}); every "
            "statistic and test named in the methods")


def pilot(data: StudyData) -> Fact:
    """The platform has no pilot round: every round run on it counted toward consensus.
    A pilot run outside the platform is the team's to describe (field ``pilot``)."""
    rounds = _rounds_launched(data)
    if not rounds:
        return None
    counted = {1: "its one round", 2: "both its rounds"}.get(len(rounds),
                                                           f"all {len(rounds)} of its rounds")
    return f"no pilot round was run on the platform; {counted} counted toward consensus"


def feedback(data: StudyData) -> Fact:
    if len(_rounds_launched(data)) < 2:
        return None
    s = data.study
    by_group = (f", per group of at least {s.min_group_size}" if s.feedback_by_group else "")
    return (f"from round 2 each panellist saw the distribution, median, IQR and % agreement"
            f"{by_group}, their own previous rating and anonymised comments")


def anonymity(data: StudyData) -> Fact:
    if not _rounds_launched(data):
        return None
    return ("panellists were anonymous to each other; facilitators and exports see "
            "pseudonyms only")


def roles(data: StudyData) -> Fact:
    if not data.study.memberships:
        return None
    return "facilitators ran the rounds and had no rating link; only invited panellists rated"


def reminders(data: StudyData) -> Fact:
    rounds = _rounds_launched(data)
    if not rounds:
        return None
    sent = reminders_per_round(data)
    return "reminders: " + ", ".join(f"round {r.number}: {sent.get(r.number, 0)}"
                                     for r in rounds)


def languages(data: StudyData) -> Fact:
    if not data.study.plain_language.strip():
        return None
    return "a plain-language explanation was shown to panellists"


def timing(data: StudyData) -> Fact:
    spans = [f"round {r.number}: {opened:%Y-%m-%d} to {closed:%Y-%m-%d} "
             f"({(closed - opened).days} days)"
             for r in data.study.rounds if (opened := r.opened_at) and (closed := r.closed_at)]
    return "; ".join(spans) or None


def changes(data: StudyData) -> Fact:
    if data.study.consensus.locked_at is None:
        return None
    found = study_changes(data)
    if not found:
        return "no panellist added and no link revoked after the criteria were locked"
    return f"{_plural(len(found), 'change')} after the criteria were locked, listed with dates"


def response(data: StudyData) -> Fact:
    rows = [r for r in data.section("response") if r["group"] is None]
    if not rows:
        return None
    return "; ".join(f"round {r['round']}: {r['responded']} of {r['invited']}" for r in rows)


def outcome(data: StudyData) -> Fact:
    if not data.result:
        return None
    return "per-round median, IQR, % agreement and verdict of every statement, and its final status"


def modified(data: StudyData) -> Fact:
    if not data.closed_rounds:
        return None
    ended = [d for d in data.decisions if d.kind is not DecisionKind.CARRY
             and d.kind is not DecisionKind.ADD]
    if not ended:
        return "no statement was reworded, merged, split or dropped"
    return f"{_plural(len(ended), 'decision')} with round and reason"


def limitations(data: StudyData) -> Fact:
    rows = [r for r in data.section("response") if r["group"] is None]
    if len(rows) < 2:
        return None
    last = rows[-1]
    rate = last["retention"]
    return (f"retention in round {last['round']}: "
            f"{'–' if rate is None else f'{100 * rate:.0f}%'}; attrition bias per statement "
            "and group is reported")


def conflicts(data: StudyData) -> Fact:
    """How many panellists declared potential conflicts of interest (never who or what),
    and each organiser's declaration by name (they are the authors)."""
    from ..declarations.operations import organisers, panel_counts

    study = data.study
    declared = [(f, d) for f, d in organisers(study) if d is not None]
    if not study.asks_conflict_declarations and not declared:
        return None
    parts = []
    if study.asks_conflict_declarations:
        with_conflicts, answered = panel_counts(study)
        parts.append(f"{with_conflicts} of {_plural(answered, 'panellist')} who answered "
                     f"declared potential conflicts of interest ({answered} of "
                     f"{len(study.panellists)} on the panel answered)")
    else:
        parts.append("panellists were not asked to declare on the platform")
    parts.append("the organisers' declarations: " + ("; ".join(
        f"{f.name or 'a team member'}: "
        + (f"declares {d.details}" if d.has_conflicts else "none to declare")
        for f, d in declared) or "none recorded on the platform"))
    return "; ".join(parts)


FACTS: dict[str, Callable[[StudyData], Fact]] = {
    "T1": title, "I2": aim, "M1": registration, "M2": leaders, "M3": panel_size,
    "M4": invitations, "M5": public_groups, "M6": origins, "M8": evidence, "M9": method,
    "M10": questionnaire, "M11": steps, "M12": definition, "M13": carried, "M14": collected,
    "M15": analysis, "M16": pilot, "M17": feedback, "M18": anonymity, "M19": roles,
    "M20": reminders, "M21": languages, "R1": timing, "R2": changes, "R3": response,
    "R4": outcome, "R5": modified, "D1": limitations, "O2": conflicts,
}


def accord_facts(data: StudyData) -> dict[str, Fact]:
    """Each ACCORD id's answer from the data (None where the data gives none)."""
    return {key: fact(data) for key, fact in FACTS.items()}
