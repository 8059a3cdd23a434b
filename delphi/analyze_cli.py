"""``delphi analyze RATINGS.csv``: the statistics engine on a ratings file, without the web app."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import click

from .consensus.csvio import RatingsFileError, read_ratings, write_items_csv
from .consensus.percentiles import METHODS
from .consensus.rules import RULES
from .consensus.scales import SCALE_ALIASES, SCALES
from .consensus.schema import AnalysisResult, as_json
from .consensus.settings import (
    GROUP_RULES,
    UTS_CHOICES,
    ZERO_METHODS,
    Settings,
    SettingsError,
    number_to_json,
)

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


@click.command("analyze")
@click.argument("ratings", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scale", type=click.Choice([*SCALES, *SCALE_ALIASES]), default=DEFAULTS.scale,
              show_default=True, help="Rating scale (registry key or its points, e.g. 1-9).")
@click.option("--percentile", "percentile_method", type=click.Choice(list(METHODS)),
              default=DEFAULTS.percentile_method, show_default=True,
              help="Percentile method (Hyndman-Fan type, numpy's names; linear = type 7).")
@click.option("--uts", type=click.Choice(UTS_CHOICES), default=DEFAULTS.uts, show_default=True,
              help="Leave 'unable to score' out of the denominators, or count it in.")
@click.option("--group-rule", type=click.Choice(GROUP_RULES), default=DEFAULTS.group_rule,
              show_default=True, help="Consensus from the pooled panel, all groups, or any group.")
@click.option("--primary-rule", type=click.Choice(list(RULES)), default=DEFAULTS.primary_rule,
              show_default=True, help="The rule whose verdict is the item's verdict.")
@click.option("--comet", default=f"{DEFAULTS.comet_agree_pct}/{DEFAULTS.comet_disagree_pct}",
              show_default=True, metavar="AGREE/DISAGREE",
              help="COMET thresholds in %: at least AGREE in the agree band, fewer than "
                   "DISAGREE in the disagree band.")
@click.option("--percent-threshold", metavar="NUMBER", default=_default(DEFAULTS.percent_threshold),
              show_default=True, help="Percent-agreement rule: % in the agree band needed.")
@click.option("--iqr-max", metavar="NUMBER", default=_default(DEFAULTS.iqr_max), show_default=True,
              help="IQR rule: the largest interquartile range that counts as agreement.")
@click.option("--iqr-median-min", metavar="NUMBER", default=None,
              help="IQR rule: least median for consensus in (out mirrors it); default the agree "
                   "band's lowest point.")
@click.option("--stability-pp", metavar="NUMBER", default=_default(DEFAULTS.stability_pp),
              show_default=True,
              help="Stable when % agreement changes by less than this many percentage points.")
@click.option("--scheibe-threshold", metavar="NUMBER", default=_default(DEFAULTS.scheibe_threshold),
              show_default=True, help="Stable when Scheibe's net change is below this fraction.")
@click.option("--min-group-size", type=int, default=DEFAULTS.min_group_size, show_default=True,
              help="Groups with fewer valid ratings are left out of the all/any group rules.")
@click.option("--wilcoxon-zero-method", type=click.Choice(ZERO_METHODS),
              default=DEFAULTS.wilcoxon_zero_method, show_default=True,
              help="How the Wilcoxon test treats zero differences (R: wilcox).")
@click.option("--wilcoxon-correction/--no-wilcoxon-correction",
              default=DEFAULTS.wilcoxon_correction, show_default=True,
              help="Continuity correction of the Wilcoxon normal approximation (R: on).")
@click.option("--round-thresholds", metavar="JSON", default=None,
              help='Thresholds that change from a round on, e.g. \'{"2": {"comet_agree_pct": '
                   '75}}\'.')
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
