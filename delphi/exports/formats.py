"""Writers: tables to CSV, XLSX and ZIP bytes, documents to JSON; every cell made safe."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .safe import csv_cell, xlsx_value

XLSX_MAX_ROWS = 1_048_576  # Excel's limit, the header row included
# The first 31 characters of a sheet name count, and these characters are not allowed.
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


class ExportError(ValueError):
    """An export that cannot be made, e.g. a format that makes no sense for it."""


@dataclass(frozen=True)
class Table:
    """A header and rows of plain values (str, int, float, bool or None)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Any]] = field(default_factory=list)

    @classmethod
    def from_dicts(cls, headers: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Table:
        """Build a table from dicts, taking ``headers`` as the keys in order."""
        return cls(list(headers), [[row.get(h) for h in headers] for row in rows])


def csv_text(table: Table) -> str:
    """Return the table as CSV text (UTF-8, ``\\n`` line ends), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()


def csv_bytes(table: Table) -> bytes:
    return csv_text(table).encode("utf-8")


def json_bytes(document: Any) -> bytes:
    """Return a JSON document, indented, with NaN refused."""
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def zip_bytes(files: Mapping[str, bytes], when: datetime) -> bytes:
    """Return a ZIP of ``files`` whose entries all carry the time ``when`` (reproducible)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def sheet_title(name: str) -> str:
    """Return a name Excel accepts for a sheet."""
    return name.translate(_SHEET_FORBIDDEN)[:31] or "sheet"


def xlsx_bytes(sheets: Mapping[str, Table]) -> bytes:
    """Return a workbook with one sheet per table; text cells are strings, never formulas."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)  # streams rows: fast, and small in memory
    for name, table in sheets.items():
        if len(table.rows) >= XLSX_MAX_ROWS:
            raise ExportError(f"the {name} table has {len(table.rows)} rows, more than a "
                              "spreadsheet holds; export it as CSV or JSON")
        sheet = workbook.create_sheet(sheet_title(name))
        sheet.freeze_panes = "A2"
        sheet.append([_header_cell(sheet, h) for h in table.headers])
        for row in table.rows:
            # Neutralised text never starts with "=", so openpyxl stores it as a string.
            sheet.append([xlsx_value(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _header_cell(sheet: Any, name: str) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cell = WriteOnlyCell(sheet, value=xlsx_value(name))
    cell.font = Font(bold=True)
    return cell
