"""docs/statistics.md documents every output key, setting, rule, scale and CLI option."""

import csv
import io
import re
from dataclasses import fields
from pathlib import Path

from delphi.analyze_cli import analyze_command
from delphi.consensus import RULES, SCALES, Settings, analyze
from delphi.consensus.csvio import write_items_csv
from delphi.consensus.scales import SCALE_ALIASES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "statistics.md").read_text(encoding="utf-8")


def documented_tables():
    """Return {section: keys in the first column of its table} for each ``### `section` ``."""
    tables, section = {}, None
    for line in DOC.splitlines():
        heading = re.match(r"^### `([^`]+)`", line)
        if heading:
            section = heading.group(1)
            tables[section] = set()
        elif line.startswith("#"):
            section = None
        elif section and (cell := re.match(r"^\| `([^`]+)` \|", line)):
            tables[section].add(cell.group(1))
    return tables


def sample():
    """Return an analysis with groups, UTS, missing answers and two rounds."""
    records = [(r, item, f"p{k}", ("a", "b", None)[k % 3], (8, 5, "UTS", None, 2, 9)[k % 6])
               for r in (1, 2) for item in ("q1", "q2") for k in range(12)]
    return analyze(records, Settings(group_rule="all"))


def keys(obj, prefix=""):
    """Return the keys of a mapping, nested ones dotted."""
    out = set()
    for key, value in obj.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= keys(value, prefix + key + ".")
    return out


def test_every_output_key_is_documented_and_every_documented_key_exists():
    result, tables = sample(), documented_tables()
    actual = {"top level": set(result), "settings": set(result["settings"]),
              "rule_descriptions": set(result["rule_descriptions"]), "scale": set(result["scale"])}
    for section in ("items", "stability", "panel", "response", "attrition_bias"):
        assert result[section], section
        actual[section] = set().union(*(keys(row) for row in result[section]))
    for section, names in actual.items():
        assert names - tables.get(section, set()) == set(), f"undocumented in {section}"
        assert tables.get(section, set()) - names == set(), f"documented but absent: {section}"


def test_every_csv_column_is_documented():
    buffer = io.StringIO()
    write_items_csv(sample()["items"], Settings().scale_obj, buffer)
    items = documented_tables()["items"]
    patterns = {"count": "count_<point>", "pct": "pct_<point>", "verdict": "verdict_<rule>",
                "combined": "combined_<rule>"}
    for column in next(csv.reader(io.StringIO(buffer.getvalue()))):
        spread = re.match(r"^(count|pct|verdict|combined)_(\d+|[a-z]+)$", column)
        is_spread = spread is not None and (spread.group(2).isdigit() or spread.group(2) in RULES)
        assert column in items or (is_spread and patterns[spread.group(1)] in DOC), column


def test_every_setting_rule_scale_and_option_is_documented():
    for field in fields(Settings):
        assert f"| `{field.name}` |" in DOC, field.name
    for key in RULES:
        assert f"| `{key}` |" in DOC, key
    for key in [*SCALES, *SCALE_ALIASES]:
        assert f"`{key}`" in DOC, key
    for param in analyze_command.params:
        for name in getattr(param, "opts", []):
            assert name in DOC, name
