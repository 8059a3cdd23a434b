"""Which export comes in which format: a registry shared by the console and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Response, current_app

from ..models import Study
from . import formats
from .data import StudyData, load
from .document import report_docx, report_markdown
from .formats import ExportError
from .pdf import html_to_pdf
from .raw import ratings_document, ratings_table, raw_document, raw_tables
from .report import report_html
from .statements import (
    statement_rows,
    statements_document,
    statements_markdown,
    statements_table,
)

MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
WHAT = {
    "statements": "Final consensus statements with their status and numbers in every round",
    "raw": "Raw data: ratings (long format), items, settings, comments and the audit log",
    "ratings": "Ratings only: the long format that delphi analyze reads",
    "report": "The study report with the reporting checklist",
}


@dataclass(frozen=True)
class Download:
    filename: str
    mimetype: str
    data: bytes


Renderer = Callable[[StudyData], bytes]


def _statements_csv(data: StudyData) -> bytes:
    return formats.csv_bytes(statements_table(data, statement_rows(data)))


def _statements_xlsx(data: StudyData) -> bytes:
    return formats.xlsx_bytes({"statements": statements_table(data, statement_rows(data))})


def _statements_json(data: StudyData) -> bytes:
    return formats.json_bytes(statements_document(data, statement_rows(data)))


def _statements_md(data: StudyData) -> bytes:
    return statements_markdown(data, statement_rows(data)).encode()


def _raw_zip(data: StudyData) -> bytes:
    files = {f"{name}.csv": formats.csv_bytes(t) for name, t in raw_tables(data).items()}
    return formats.zip_bytes(files, data.generated_at)


def _report_pdf(data: StudyData) -> bytes:
    return html_to_pdf(report_html(data, paged=True), Path(current_app.static_folder or "static"))


EXPORTS: dict[str, dict[str, tuple[str, Renderer]]] = {
    "statements": {
        "csv": ("csv", _statements_csv),
        "xlsx": ("xlsx", _statements_xlsx),
        "json": ("json", _statements_json),
        "md": ("md", _statements_md),
    },
    "raw": {
        "csv": ("zip", _raw_zip),
        "xlsx": ("xlsx", lambda d: formats.xlsx_bytes(raw_tables(d))),
        "json": ("json", lambda d: formats.json_bytes(raw_document(d))),
    },
    "ratings": {
        "csv": ("csv", lambda d: formats.csv_bytes(ratings_table(d))),
        "xlsx": ("xlsx", lambda d: formats.xlsx_bytes({"ratings": ratings_table(d)})),
        "json": ("json", lambda d: formats.json_bytes(ratings_document(d))),
    },
    "report": {
        "html": ("html", lambda d: report_html(d).encode()),
        "pdf": ("pdf", _report_pdf),
        "docx": ("docx", lambda d: report_docx(report_html(d))),
        "md": ("md", lambda d: report_markdown(report_html(d)).encode()),
    },
}
FORMATS = ("csv", "xlsx", "json", "md", "html", "pdf", "docx")


def check_combination(what: str, fmt: str) -> None:
    """Raise ExportError naming the formats that fit when ``what`` cannot be written as ``fmt``."""
    if what not in EXPORTS:
        raise ExportError(f"there is no export {what!r}; choose one of {', '.join(EXPORTS)}")
    if fmt not in EXPORTS[what]:
        raise ExportError(f"--what {what} cannot be written as {fmt}; choose one of "
                          f"{', '.join(EXPORTS[what])}")


def export(study: Study, what: str, fmt: str, generated_at: datetime | None = None) -> Download:
    """Build one export of ``study``; PdfUnavailable when PDF is asked without WeasyPrint."""
    check_combination(what, fmt)
    extension, render = EXPORTS[what][fmt]
    data = load(study, generated_at)
    return Download(f"{study.slug}-{what}.{extension}", MIMETYPES[extension], render(data))


def send(made: Download) -> Response:
    """The download as an attachment that no cache keeps (it holds the study's data).

    Not ``send_file``: it sets ``Cache-Control: no-cache`` (which the security hook's
    ``setdefault`` then leaves alone) and appends a second ``charset`` to a mimetype
    that already has one.
    """
    response = Response(made.data, content_type=made.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
