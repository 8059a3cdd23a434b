"""The long ratings CSV (``round,item,panellist,group,rating[,uts]``) in, the items table out.

``rating`` is a number on the scale or empty; "unable to score" is ``uts`` = 1
(the platform's export writes it so, keeping ``rating`` numeric for pandas and
R), or, in files written by hand, the word ``UTS`` in ``rating``.

Errors name the file, the line and the problem, e.g.
``ratings.csv: line 14: rating '10' is not on the 1-9 scale``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from .scales import Scale
from .table import Record

COLUMNS = ("round", "item", "panellist", "group", "rating")
# The optional column that marks "unable to score"; the platform's export always writes it.
UTS_COLUMN = "uts"
EXPORT_COLUMNS = (*COLUMNS, UTS_COLUMN)
_TRUE, _FALSE = {"1", "true", "yes", "uts"}, {"", "0", "false", "no"}
_INTEGER = re.compile(r"^-?[0-9]+$")


class RatingsFileError(ValueError):
    """A ratings file that cannot be read; the message names the file and line."""


class _Reader:
    """Checks rows one by one and remembers what later rows must agree with."""

    def __init__(self, name: str, scale: Scale) -> None:
        self.name, self.scale = name, scale
        self.seen: dict[tuple[int, str, str], int] = {}
        self.groups: dict[str, tuple[str | None, int]] = {}

    def fail(self, line: int, problem: str) -> RatingsFileError:
        """Return the error for ``problem`` on ``line``."""
        return RatingsFileError(f"{self.name}: line {line}: {problem}")

    def record(self, line: int, fields: dict[str, str]) -> Record:
        """Return the record of one data row, or raise naming the first problem."""
        round_text = fields["round"]
        if not (round_text.isascii() and round_text.isdigit()):
            raise self.fail(line, f"round {round_text!r} is not a whole number")
        item, panellist = fields["item"], fields["panellist"]
        for column, value in (("item", item), ("panellist", panellist)):
            if not value:
                raise self.fail(line, f"{column} is empty")
        group = fields["group"] or None
        key = (int(round_text), item, panellist)
        if key in self.seen:
            raise self.fail(line, f"round {key[0]}, item {item!r}, panellist {panellist!r} "
                                  f"already appears on line {self.seen[key]}")
        self.seen[key] = line
        known_group, first_line = self.groups.setdefault(panellist, (group, line))
        if known_group != group:
            raise self.fail(line, f"panellist {panellist!r} is in group {group!r} here but in "
                                  f"group {known_group!r} on line {first_line}")
        rating = self.rating(line, fields["rating"])
        flag = fields.get(UTS_COLUMN, "").lower()
        if flag not in _TRUE | _FALSE:
            raise self.fail(line, f"uts {fields[UTS_COLUMN]!r} is not 1, 0 or empty")
        if flag in _TRUE:
            if rating is not None and rating != "UTS":
                raise self.fail(line, f"rating {rating!r} and uts 1: a rating or 'unable to "
                                      "score', not both")
            rating = "UTS"
        return key[0], item, panellist, group, rating

    def rating(self, line: int, text: str) -> int | str | None:
        """Return an integer on the scale, "UTS", or None for an empty cell."""
        if not text:
            return None
        if text.upper() == "UTS":
            return "UTS"
        if not (text.isascii() and _INTEGER.match(text)):
            raise self.fail(line, f"rating {text!r} is not a whole number, 'UTS' or empty")
        if int(text) not in self.scale.points:
            raise self.fail(line, f"rating {text!r} is not on the {self.scale.range_label} scale")
        return int(text)


def _decode(data: bytes, name: str) -> str:
    """Return the text of a UTF-8 file (a byte-order mark is allowed)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RatingsFileError(f"{name}: line {line}: the file is not UTF-8 text") from None


def _header(row: list[str] | None, name: str) -> list[str]:
    """Return the normalised column names, raising when a required one is missing."""
    if row is None:
        raise RatingsFileError(f"{name}: the file is empty")
    names = [c.strip().lower() for c in row]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise RatingsFileError(
            f"{name}: line 1: the header lacks column(s) {', '.join(missing)}; it must name "
            f"{','.join(COLUMNS)}"
        )
    repeated = sorted({c for c in names if names.count(c) > 1 and c in EXPORT_COLUMNS})
    if repeated:
        raise RatingsFileError(f"{name}: line 1: column(s) {', '.join(repeated)} appear twice")
    return names


def parse_ratings(data: bytes, scale: Scale, name: str = "ratings.csv") -> list[Record]:
    """Return the records of a ratings CSV, raising RatingsFileError on the first problem."""
    text = _decode(data, name)
    if not text.strip():
        raise RatingsFileError(f"{name}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    checker, records = _Reader(name, scale), []
    try:
        names = _header(next(reader, None), name)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                raise checker.fail(reader.line_num,
                                   f"expected {len(names)} fields, found {len(row)}")
            fields = {n: cell.strip() for n, cell in zip(names, row, strict=True)}
            records.append(checker.record(reader.line_num, fields))
    except csv.Error as error:
        raise RatingsFileError(f"{name}: line {reader.line_num}: {error}") from None
    if not records:
        raise RatingsFileError(f"{name}: there are no ratings after the header")
    return records


def read_ratings(path: Path, scale: Scale) -> list[Record]:
    """Return the records of the ratings CSV at ``path``."""
    return parse_ratings(path.read_bytes(), scale, path.name)


def _cell(value: Any) -> str:
    """Return one CSV cell: empty for None, true/false, floats at full precision."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def flatten_item(item: dict[str, Any], scale: Scale) -> dict[str, Any]:
    """Return an item object with its lists and verdict mappings spread into columns."""
    flat: dict[str, Any] = {}
    for key, value in item.items():
        if key in ("counts", "pcts"):
            prefix = "count" if key == "counts" else "pct"
            values = value if value is not None else [None] * len(scale.points)
            flat |= {f"{prefix}_{p}": v for p, v in zip(scale.points, values, strict=True)}
        elif key in ("verdicts", "combined_verdicts"):
            prefix = "verdict" if key == "verdicts" else "combined"
            flat |= {f"{prefix}_{rule}": (value or {}).get(rule) for rule in _rules(item)}
        else:
            flat[key] = value
    return flat


def _rules(item: dict[str, Any]) -> list[str]:
    """Return the rule keys of an item's verdicts."""
    return list(item["verdicts"])


def write_items_csv(items: Iterable[dict[str, Any]], scale: Scale, out: TextIO) -> None:
    """Write the items table, one row per item object."""
    writer: Any = None
    for item in items:
        flat = flatten_item(item, scale)
        if writer is None:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(list(flat))
        writer.writerow([_cell(v) for v in flat.values()])
