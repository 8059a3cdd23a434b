"""Cells that a spreadsheet cannot run: text starting like a formula gets a leading quote.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or
a NUL may be read as a formula by Excel, LibreOffice or Google Sheets (CSV or
formula injection, OWASP).  Such text is written with a leading single quote;
numbers are written as numbers, so -0.5 stays the number -0.5.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
# Characters XML 1.0 cannot hold; openpyxl refuses them, so they become U+FFFD.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Cell = str | int | float | bool | None


def neutralise(text: str) -> str:
    """Return ``text`` with a leading quote when a spreadsheet could read it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_value(value: Any) -> Cell:
    """Return a number, a bool or None unchanged and anything else as neutralised text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return neutralise(str(value))


def csv_cell(value: Any) -> str:
    """Return one CSV cell: empty for None, true/false, floats at full precision, safe text.

    Line ends inside text become ``\n``: the writer quotes a cell holding ``\n`` but
    not one holding a lone ``\r``, which a reader would take for the end of the row.
    """
    value = safe_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n")


def xlsx_value(value: Any) -> Cell:
    """Return a value for an XLSX cell: numbers as numbers, text neutralised and XML-clean."""
    value = safe_value(value)
    if isinstance(value, str):
        return _ILLEGAL_XML.sub("\ufffd", value)
    return value
