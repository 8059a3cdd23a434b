"""Time ``analyze`` on a synthetic study (2,000 panellists x 500 items x 2 rounds, 3 groups).

Run ``python bench/bench_analyze.py``.  It prints the engine's time next to a
numpy lower bound measured in the same run (one ``np.percentile`` and one
``np.bincount`` over the same ratings matrix) and their ratio, and, apart,
the time to turn long records into the engine's ``RatingsTable``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from delphi.consensus import RatingsTable, Settings, analyze  # noqa: E402
from delphi.consensus.table import MISSING_CODE, NO_GROUP, UTS_CODE  # noqa: E402

GROUPS = ("clinicians", "patients", "researchers")


def synthetic_table(panellists: int, items: int, rounds: int, seed: int = 1) -> RatingsTable:
    """Return random 1-9 ratings: 30% of panellists leave gaps (UTS, no answer), 10% drop out."""
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 10, size=(rounds, items, panellists), dtype=np.int16)
    noise = rng.random(values.shape)
    gappy = rng.random(panellists) < 0.3
    values[(noise < 0.10) & gappy] = MISSING_CODE
    values[(noise >= 0.10) & (noise < 0.15) & gappy] = UTS_CODE
    values[1:, :, rng.random(panellists) < 0.1] = MISSING_CODE
    group_of = rng.integers(NO_GROUP, len(GROUPS), size=panellists)
    return RatingsTable(
        rounds=tuple(range(1, rounds + 1)), items=tuple(f"item-{i}" for i in range(items)),
        panellists=tuple(f"p{p}" for p in range(panellists)), groups=GROUPS,
        group_of=group_of, values=values,
    )


def records_of(table: RatingsTable) -> list[tuple]:
    """Return the table as long records, the form the web app passes."""
    names = {UTS_CODE: "UTS", MISSING_CODE: None}
    groups = [table.groups[g] if g >= 0 else None for g in table.group_of.tolist()]
    out = []
    for r, round_no in enumerate(table.rounds):
        for i, item in enumerate(table.items):
            for p, value in enumerate(table.values[r, i].tolist()):
                out.append((round_no, item, table.panellists[p], groups[p],
                            names.get(value, value)))
    return out


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Return the fastest of ``repeats`` timings of ``fn`` in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def lower_bound(table: RatingsTable) -> float:
    """One percentile pass and one bincount pass over the ratings matrix: the floor."""
    matrix = table.values.reshape(-1, table.values.shape[-1]).astype(float)
    flat = (table.values.astype(np.int64) + 3).ravel()
    return best_of(5, lambda: (np.percentile(matrix, 50, axis=1), np.bincount(flat)))


def main() -> None:
    """Build the study, time everything and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--panellists", type=int, default=2000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    table = synthetic_table(args.panellists, args.items, args.rounds)
    settings = Settings(group_rule="all")
    result = analyze(table, settings)
    engine = best_of(args.repeats, lambda: analyze(table, settings))
    floor = lower_bound(table)
    records = records_of(table)
    convert = best_of(1, lambda: RatingsTable.from_records(records))
    print(f"study: {args.panellists} panellists x {args.items} items x {args.rounds} rounds, "
          f"{len(GROUPS)} groups ({table.values.size:,} cells)")
    print(f"output: {len(result['items'])} item objects, {len(result['stability'])} stability "
          f"objects, {len(result['attrition_bias'])} attrition, {len(result['response'])} "
          f"response; Kendall's W over {result['panel'][0]['n_complete']} complete panellists")
    print(f"analyze(table):          {engine * 1000:8.1f} ms")
    print(f"numpy lower bound:       {floor * 1000:8.1f} ms")
    print(f"ratio:                   {engine / floor:8.1f} x")
    print(f"records -> RatingsTable: {convert * 1000:8.1f} ms (the app's path, timed apart)")


if __name__ == "__main__":
    main()
