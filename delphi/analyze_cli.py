"""``delphi analyze RATINGS.csv``: the statistics engine on a ratings file, without the web app."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from .consensus.csvio import RatingsFileError, read_ratings, write_items_csv
from .consensus.schema import AnalysisResult, as_json
from .consensus.settings import SETTINGS, Settings, SettingsError, Spec, number_to_json

DEFAULTS = Settings()


def _default(value: int | Fraction) -> str:
    """Return a setting's default as the text a user would type."""
    return str(number_to_json(value))


def _comet(text: str) -> tuple[str, str]:
    """Split ``AGREE/DISAGREE`` (e.g. ``70/15``) into its two thresholds."""
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise click.BadParameter(f"{text!r} is not AGREE/DISAGREE, e.g. 70/15",
                                 param_hint="--comet")
    return parts[0].strip(), parts[1].strip()


def _settings(options: dict[str, object]) -> Settings:
    """Build validated settings from the command's options, as a usage error when invalid."""
    agree, disagree = _comet(str(options.pop("comet")))
    rounds = options.pop("round_thresholds", None)
    if rounds:
        try:
            options["round_thresholds"] = json.loads(str(rounds))
        except ValueError:
            raise click.UsageError(f"--round-thresholds must be JSON, not {rounds!r}") from None
    try:
        return Settings.from_dict({**options, "comet_agree_pct": agree,
                                   "comet_disagree_pct": disagree})
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


def _render(result: AnalysisResult, fmt: str, settings: Settings) -> str:
    """Return the analysis as JSON text, with the words of its codes (each rule's description,
    the scale's name and labels: ``consensus.words``), or as the items CSV."""
    if fmt == "json":
        from .consensus.words import with_words

        return json.dumps(with_words(result), indent=2, allow_nan=False) + "\n"
    buffer = io.StringIO()
    write_items_csv(as_json(result)["items"], settings.scale_obj, buffer)
    return buffer.getvalue()


class LiveChoice(click.Choice):
    """A choice whose options are read when it is used (a rule registered later counts)."""

    def __init__(self, options: Callable[[], tuple[str, ...]]) -> None:
        self._options = options
        super().__init__(options())

    @property
    def choices(self) -> tuple[str, ...]:
        return self._options()

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # click sets it once; the options are always read from the registry


def setting_option(spec: Spec) -> Callable[[Any], Any]:
    """The ``delphi analyze`` option of one setting, from its spec."""
    name = spec.option
    assert name is not None
    if spec.kind in ("choice", "scale"):
        return click.option(name, spec.name, type=LiveChoice(spec.options), default=spec.default,
                            show_default=True, help=spec.help)
    if spec.kind == "flag":
        return click.option(f"{name}/--no-{name[2:]}", spec.name, default=spec.default,
                            show_default=True, help=spec.help)
    if spec.kind == "integer":
        return click.option(name, spec.name, type=int, default=spec.default, show_default=True,
                            help=spec.help)
    if spec.kind == "rounds":
        example = json.dumps({"2": {"comet_agree_pct": 75}})
        return click.option(name, spec.name, metavar="JSON", default=None,
                            help=f"{spec.help} JSON, e.g. '{example}'.")
    default = None if spec.default is None else _default(spec.default)
    return click.option(name, spec.name, metavar="NUMBER", default=default,
                        show_default=default is not None, help=spec.help)


# COMET's two thresholds are given together, as the method's papers write them (70/15).
COMET_OPTION = click.option(
    "--comet", default=f"{DEFAULTS.comet_agree_pct}/{DEFAULTS.comet_disagree_pct}",
    show_default=True, metavar="AGREE/DISAGREE",
    help="COMET thresholds in %: at least AGREE in the agree band, fewer than DISAGREE in the "
         "disagree band.")


def setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add an option for every setting of the registry, in its order (``--comet`` for the
    settings that have none of their own)."""
    options = []
    for spec in SETTINGS.values():
        if spec.option is not None:
            options.append(setting_option(spec))
        elif COMET_OPTION not in options:
            options.append(COMET_OPTION)
    for option in reversed(options):
        command = option(command)
    return command


@click.command("analyze")
@click.argument("ratings", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@setting_options
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True, help="JSON with every section, or CSV of the items table.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write to this file instead of standard output.")
def analyze_command(ratings: Path, fmt: str, out: Path | None, **options: object) -> None:
    """Analyse RATINGS, a CSV with the header round,item,panellist,group,rating.

    A rating is an integer on the scale, UTS (unable to score) or empty
    (invited but no answer); the group may be empty.  Prints every per-item
    statistic and verdict, stability between rounds, panel agreement, response
    and attrition (see docs/statistics.md for every output key).
    """
    settings = _settings(options)
    try:
        records = read_ratings(ratings, settings.scale_obj)
        # Imported here: numpy and scipy load only when a command computes something, so
        # `delphi --help` stays quick.
        from .consensus.analyze import analyze

        result = analyze(records, settings)
    except RatingsFileError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"{ratings.name}: cannot read: {error.strerror}") from None
    except ValueError as error:
        raise click.ClickException(f"{ratings.name}: {error}") from None
    _write(_render(result, fmt, settings), out)


def _write(text: str, out: Path | None) -> None:
    """Print ``text``, or write it to ``out``, as a usage-level error when that fails."""
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror}") from None
