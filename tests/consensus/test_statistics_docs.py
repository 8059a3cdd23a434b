"""docs/statistics.md documents every field of the analysis schema (and nothing else), every
setting, rule, scale and CLI option."""

import csv
import io
import re
from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

from delphi.analyze_cli import analyze_command
from delphi.consensus import RULES, SCALES, Settings, analyze, schema, words
from delphi.consensus.csvio import write_items_csv
from delphi.consensus.scales import SCALE_ALIASES
from delphi.consensus.settings import METADATA_KEYS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "statistics.md").read_text(encoding="utf-8")


def documented_rows():
    """Return {(section, key): the whole table row} for every documented key."""
    rows, section = {}, None
    for line in DOC.splitlines():
        heading = re.match(r"^### `([^`]+)`", line)
        if heading:
            section = heading.group(1)
        elif line.startswith("#"):
            section = None
        elif section and (cell := re.match(r"^\| `([^`]+)` \|", line)):
            rows[(section, cell.group(1))] = line
    return rows


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


def by_rule(names):
    """The schema's keys with each mapping keyed by rule spelt out per rule (``verdicts.comet``)."""
    return set(names) | {f"{name}.{rule}" for name in BY_RULE & set(names) for rule in RULES}


# Mappings keyed by rule: docs/statistics.md lists one row per registered rule.
BY_RULE = {"verdicts", "combined_verdicts"}
# The schema of each documented section (``### `section` `` in docs/statistics.md).
SCHEMA_SECTIONS = {"top level": schema.AnalysisResult, "settings": schema.SettingsBlock,
                   "scale": schema.ScaleBlock, **schema.ROW_SECTIONS}


def rendered_keys():
    """The keys ``delphi analyze`` adds with words, per documented section (not stored)."""
    found = {section: set(names) for section, names in words.RENDERED.items()}
    found["rule_descriptions"] = set(RULES)
    return found


def test_every_schema_field_is_documented_and_every_documented_field_exists():
    tables, rendered = documented_tables(), rendered_keys()
    for section, kind in SCHEMA_SECTIONS.items():
        fields_ = by_rule(get_type_hints(kind))
        wanted = fields_ | rendered.get(section, set())
        assert fields_ - tables.get(section, set()) == set(), f"undocumented in {section}"
        assert tables.get(section, set()) - wanted == set(), f"documented, not in {section}"
    assert set(tables) - set(SCHEMA_SECTIONS) - set(rendered) == set()


def test_the_words_rendered_at_display_time_are_documented_as_not_stored():
    tables, rows = documented_tables(), documented_rows()
    for section, names in rendered_keys().items():
        assert names == tables[section] & names, section
        for name in names:
            assert "(not stored)" in rows[(section, name)] or section == "rule_descriptions", name
    for section, kind in SCHEMA_SECTIONS.items():
        for name in get_type_hints(kind):
            assert "(not stored)" not in rows[(section, name)], (section, name)


def test_an_analysis_has_exactly_the_schema_fields_in_the_schema_order():
    result = sample()
    assert list(result) == [k for k in schema.keys_of(schema.AnalysisResult)
                            if k in schema.AnalysisResult.__required_keys__]
    assert list(result["settings"]) == list(schema.keys_of(schema.SettingsBlock))
    assert list(result["scale"]) == list(schema.keys_of(schema.ScaleBlock))
    for section, kind in schema.ROW_SECTIONS.items():
        assert result[section], section
        for row in result[section]:
            assert list(row) == list(schema.keys_of(kind)), section
    for row in result["items"]:
        assert set(row["verdicts"]) == set(RULES)


def test_the_settings_block_holds_every_setting_and_the_software():
    assert set(get_type_hints(schema.SettingsBlock)) == (
        {f.name for f in fields(Settings)} | METADATA_KEYS)


def test_what_delphi_analyze_prints_is_documented_too():
    printed, tables = words.with_words(sample()), documented_tables()
    actual = {"top level": set(printed), "settings": set(printed["settings"]),
              "rule_descriptions": set(printed["rule_descriptions"]),
              "scale": set(printed["scale"])}
    for section in schema.ROW_SECTIONS:
        actual[section] = set().union(*(keys(row) for row in printed[section]))
    for section, names in actual.items():
        assert names - tables.get(section, set()) == set(), f"undocumented in {section}"


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
