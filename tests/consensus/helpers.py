"""Shared helpers of the statistics tests: reference data and running ``delphi analyze``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from delphi.analyze_cli import analyze_command

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
HEADER = "round,item,panellist,group,rating"


def reference_rows(name: str) -> list[dict[str, str]]:
    """Return the rows of a reference CSV as dicts."""
    with (REFERENCE / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def reference_matrix(name: str) -> list[list[float | None]]:
    """Return a reference CSV's value columns (all but the first) as numbers, None for blanks."""
    rows = reference_rows(name)
    columns = list(rows[0])[1:]
    return [[float(row[c]) if row[c] else None for c in columns] for row in rows]


def ratings_csv(path: Path, records: Iterable[Sequence[Any]]) -> Path:
    """Write long-format records to ``path`` and return it."""
    lines = [HEADER]
    for record in records:
        lines.append(",".join("" if v is None else str(v) for v in record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_analyze(*args: str) -> Any:
    """Invoke the analyze command with ``args`` and return Click's result."""
    return CliRunner().invoke(analyze_command, list(args), catch_exceptions=False)


def analyze_file(path: Path, *args: str) -> dict[str, Any]:
    """Run ``delphi analyze`` on ``path`` and return its JSON output."""
    result = run_analyze(str(path), *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def matrix_records(matrix: Sequence[Sequence[float | None]], round_no: int = 1,
                   blank: str | None = None) -> list[tuple[Any, ...]]:
    """Return records with rows as items and columns as panellists (blank cells as ``blank``)."""
    return [
        (round_no, f"item{i + 1}", f"p{j + 1}", None, blank if v is None else int(v))
        for i, row in enumerate(matrix) for j, v in enumerate(row)
    ]
