"""The database read as the statistics engine reads it, and the engine's results stored.

``study_table`` reads the ratings of a study in one query into the engine's
``RatingsTable``; ``study_records`` (the long records ``delphi analyze`` and the raw
export read) are derived from that table, not read a second time. Items are named by
``item_label`` (``key``, or ``key.vN`` after a reword): the stored results and the
exports key on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa

from ..consensus.schema import as_json
from ..consensus.settings import Settings
from ..consensus.table import ABSENT_CODE, MISSING_CODE, NO_GROUP, UTS_CODE, RatingsTable, Record
from ..extensions import db
from ..models import (
    Invitation,
    Item,
    Panellist,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundItem,
    RoundResult,
    Section,
    StakeholderGroup,
    Study,
    item_label,
    utcnow,
)
from .blocks import rebuild_round_feedback


def analyze(*args: Any, **kwargs: Any) -> Any:
    """The engine's ``analyze``, imported when a round is analysed: scipy takes about half a
    second to load, which every command (``delphi --help`` too) would otherwise pay. A
    module attribute, so that tests can replace it to prove nothing is recomputed."""
    from ..consensus.analyze import analyze as engine_analyze

    return engine_analyze(*args, **kwargs)


def analysis_settings(study: Study) -> Settings:
    """The statistics engine's settings for a study's consensus settings."""
    settings: Settings = study.consensus.engine_settings()
    return settings


def submitted_ratings(*columns: Any) -> sa.Select[Any]:
    """SELECT ``columns`` over the ratings of submitted answer sheets, joined to their round,
    statement, panellist and stakeholder group (add the study's filter)."""
    return (
        sa.select(*columns).select_from(Rating)
        .join(Response, Rating.response_id == Response.id)
        .join(Round, Rating.round_id == Round.id)
        .join(Item, Rating.item_id == Item.id)
        .join(Panellist, Rating.panellist_id == Panellist.id)
        .join(StakeholderGroup, Panellist.group_id == StakeholderGroup.id)
        .where(Response.state == ResponseState.SUBMITTED)
    )


def study_table(study: Study, up_to: int) -> RatingsTable:
    """The engine's table of every round up to ``up_to``, in one query of the ratings.

    Invited panellists who submitted nothing are missing (not absent) on the round's
    statements; only submitted answer sheets count.  Statements keep the order of their
    first round and position, panellists the order of their first invitation, as the
    records do.  The ratings come as integer columns and land in the array with numpy:
    a million ratings take a fraction of a second instead of building a million tuples.
    """
    rounds = db.session.execute(
        sa.select(Round.id, Round.number).where(Round.study_id == study.id, Round.number <= up_to)
        .order_by(Round.number)
    ).all()
    round_pos = {round_id: k for k, (round_id, _) in enumerate(rounds)}
    labels: dict[str, int] = {}
    item_pos: dict[tuple[int, int], int] = {}  # (round id, item id) -> column
    items_of_round: dict[int, list[int]] = {k: [] for k in range(len(rounds))}
    for round_id, item_id, key, version in db.session.execute(
        sa.select(RoundItem.round_id, Item.id, Item.key, Item.version)
        .join(Round, RoundItem.round_id == Round.id).join(Item, RoundItem.item_id == Item.id)
        .where(Round.study_id == study.id, Round.number <= up_to)
        .order_by(Round.number, RoundItem.position)
    ):
        column = labels.setdefault(item_label(key, version), len(labels))
        item_pos[(round_id, item_id)] = column
        items_of_round[round_pos[round_id]].append(column)
    panellists: dict[int, int] = {}
    pseudonyms: list[str] = []
    group_names: list[str] = []
    invited: list[tuple[int, int]] = []
    for round_id, panellist_id, pseudonym, group in db.session.execute(
        sa.select(Invitation.round_id, Panellist.id, Panellist.pseudonym, StakeholderGroup.key)
        .join(Round, Invitation.round_id == Round.id)
        .join(Panellist, Invitation.panellist_id == Panellist.id)
        .join(StakeholderGroup, Panellist.group_id == StakeholderGroup.id)
        .where(Round.study_id == study.id, Round.number <= up_to)
        .order_by(Round.number, Invitation.id)
    ):
        if panellist_id not in panellists:
            panellists[panellist_id] = len(pseudonyms)
            pseudonyms.append(pseudonym)
            group_names.append(group)
        invited.append((round_pos[round_id], panellists[panellist_id]))
    shape = (len(rounds), len(labels), len(pseudonyms))
    values = np.full(shape, ABSENT_CODE, dtype=np.int16)
    for r, p in invited:
        values[r, items_of_round[r], p] = MISSING_CODE
    code = sa.case((Rating.is_uts, UTS_CODE), (Rating.value.is_(None), MISSING_CODE),
                   else_=Rating.value)
    result = db.session.connection().execute(
        sa.select(Rating.round_id, Rating.item_id, Rating.panellist_id, code)
        .join(Response, Rating.response_id == Response.id)
        .join(Round, Rating.round_id == Round.id)
        .where(Round.study_id == study.id, Round.number <= up_to,
               Response.state == ResponseState.SUBMITTED)
    )
    # Four integers per rating, read from the driver's cursor: a million Row objects
    # would cost more than the query.
    rows = np.array(result.cursor.fetchall() or np.empty((0, 4)), dtype=np.int64)
    result.close()
    if len(rows):
        # Ids to positions with lookup arrays: -1 for what the table does not hold.
        round_of = np.full(max(round_pos) + 1, -1)
        round_of[list(round_pos)] = list(round_pos.values())
        max_item = max(i for _, i in item_pos) if item_pos else 0
        column_of = np.full((len(rounds), max(max_item, int(rows[:, 1].max())) + 1), -1)
        for (round_id, item_id), column in item_pos.items():
            column_of[round_pos[round_id], item_id] = column
        person_of = np.full(max(max(panellists, default=0), int(rows[:, 2].max())) + 1, -1)
        person_of[list(panellists)] = list(panellists.values())
        r_idx = round_of[rows[:, 0]]
        i_idx = column_of[r_idx, rows[:, 1]]
        p_idx = person_of[rows[:, 2]]
        keep = (i_idx >= 0) & (p_idx >= 0)
        r_idx, i_idx, p_idx, codes = r_idx[keep], i_idx[keep], p_idx[keep], rows[keep, 3]
        invited_cell = values[r_idx, i_idx, p_idx] != ABSENT_CODE  # as the records: invited only
        values[r_idx[invited_cell], i_idx[invited_cell], p_idx[invited_cell]] = \
            codes[invited_cell]
    names = sorted(set(group_names))
    return RatingsTable(
        rounds=tuple(number for _, number in rounds), items=tuple(labels),
        panellists=tuple(pseudonyms), groups=tuple(names),
        group_of=np.array([names.index(g) for g in group_names], dtype=np.int64),
        values=values,
    )


def study_records(study: Study, up_to: int) -> list[Record]:
    """The long-format records of every round up to ``up_to``: the input of ``analyze``.

    Read from ``study_table`` (the same query, no second reading of the ratings): one
    record per invited panellist and statement of a round, ordered by round, statement
    and panellist; invited panellists who submitted nothing appear with an empty rating;
    only submitted answer sheets count.
    """
    return table_records(study_table(study, up_to))


def table_records(table: RatingsTable) -> list[Record]:
    """The ``(round, item, panellist, group, rating)`` records of a table's invited cells."""
    rounds, items, people = np.nonzero(table.values != ABSENT_CODE)
    codes = table.values[rounds, items, people].tolist()
    return [(table.rounds[r], table.items[i], table.panellists[p],
             table.groups[g] if (g := int(table.group_of[p])) != NO_GROUP else None,
             None if code == MISSING_CODE else "UTS" if code == UTS_CODE else code)
            for r, i, p, code in zip(rounds.tolist(), items.tolist(), people.tolist(), codes,
                                     strict=True)]


def item_scales(study: Study) -> dict[str, str]:
    """The scale of each statement (every version) by its label: its section's, else the
    study's."""
    return {item_label(key, version): scale_key or study.scale_key
            for key, version, scale_key in db.session.execute(
                sa.select(Item.key, Item.version, Section.scale_key)
                .join(Section, Item.section_id == Section.id)
                .where(Item.study_id == study.id))}


def store_results(study: Study, rnd: Round) -> RoundResult:
    """Compute and store the statistics of ``rnd``, with stability against the round before;
    each statement is analysed on its own scale (see ``consensus.multiscale``)."""
    from ..consensus.multiscale import analyze_by_scale

    result = analyze_by_scale(study_table(study, rnd.number), analysis_settings(study),
                              item_scales(study), analyze=analyze)
    stored = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    if stored is None:
        stored = RoundResult(round_id=rnd.id, data=as_json(result))
        db.session.add(stored)
    else:
        stored.data = as_json(result)
        stored.computed_at = utcnow()
    db.session.flush()
    rebuild_round_feedback(rnd)  # recomputed after the next round was launched: show it
    return stored


