"""``delphi export STUDY --what ... --format ...``: the console's downloads, from the CLI."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from ..definitions import find_study
from ..models import DomainError
from .downloads import EXPORTS, FORMATS, ExportError, check_combination, export
from .pdf import PdfUnavailable


@click.command("export")
@click.argument("study")
@click.option("--what", type=click.Choice(list(EXPORTS)), default="statements",
              show_default=True, help="Statements, raw data, ratings only, or the report.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="statements: csv xlsx json md; raw: csv (a ZIP) xlsx json; "
                   "ratings: csv xlsx json; report: html pdf docx md.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write to this file instead of standard output.")
@with_appcontext
def export_command(study: str, what: str, fmt: str, out: Path | None) -> None:
    """Export STUDY's final statements, raw data or report (see docs/exports.md)."""
    try:
        check_combination(what, fmt)
    except ExportError as exc:
        raise click.UsageError(str(exc)) from None
    target = find_study(study)
    if target is None:
        raise click.ClickException(f"there is no study with the slug {study!r}")
    try:
        made = export(target, what, fmt)
    except (ExportError, PdfUnavailable, DomainError) as exc:
        raise click.ClickException(str(exc)) from None
    if out is None:
        click.echo(made.data, nl=False)  # bytes go to the binary stream
        return
    try:
        out.write_bytes(made.data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"Wrote {out} ({what}, {fmt}).", err=True)
