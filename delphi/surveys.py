"""Survey definition files: parse and validate YAML into a definition, and write one back.

The format is documented in ``docs/survey-format.md``.  Errors name the file, the
path of the bad field and what is wrong, e.g.
``surveys/impact.yaml: sections[1].items[4].text: required``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .consensus.rules import RULES as ENGINE_RULES
from .consensus.scales import SCALES
from .consensus.settings import Settings, SettingsError, parse_number
from .models.study import (
    ERASURE_POLICIES,
    GROUP_RULES,
    PERCENTILE_METHODS,
    RULES,
    UTS_RULES,
    ZERO_METHODS,
)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Markup in a text: "<" followed by a letter, "/", "!" or "?" (a tag, a comment, a
# processing instruction). "CRP < 10" and "<5 years" stay allowed.
MARKUP_RE = re.compile(r"<\s*[A-Za-z/!?]")
MAX_TEXT = 5000
# A DOI as Crossref and doi.org write it: "10.", a registrant code of 4-9 digits (with
# optional ".sub" parts), "/", then a suffix without spaces.
DOI_RE = re.compile(r"^10\.\d{4,9}(\.\d+)*/\S{1,250}$")
PMID_RE = re.compile(r"^[1-9]\d{0,8}$")
MAX_REFERENCES = 20


class SurveyError(ValueError):
    """A survey file that cannot be used; ``problems`` lists each ``path: message``.

    ``lines`` gives, for each problem, the line of the file it is on (the nearest
    enclosing entry for a missing key), or None where it is not known.
    """

    def __init__(self, source: str, problems: list[str], lines: list[int | None] | None = None):
        self.source = source
        self.problems = problems
        self.lines = lines or [None] * len(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in problems))

    def with_lines(self) -> list[str]:
        """Each problem as ``path: problem (line N)``."""
        return [f"{p} (line {line})" if line else p for p, line in zip(self.problems, self.lines,
                                                                      strict=True)]


@dataclass(frozen=True)
class GroupDef:
    key: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class ReferenceDef:
    """A cited source: how it reads, and its DOI and/or PubMed id (either may be empty)."""

    text: str
    doi: str = ""
    pmid: str = ""

    @property
    def url(self) -> str:
        """Where the source is: doi.org for a DOI, else PubMed."""
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    def as_dict(self) -> dict[str, str]:
        """The reference as stored and written: empty identifiers left out."""
        return {k: v for k, v in (("text", self.text), ("doi", self.doi), ("pmid", self.pmid))
                if v}

    @classmethod
    def of(cls, value: dict[str, str]) -> ReferenceDef:
        return cls(value.get("text", ""), value.get("doi", ""), value.get("pmid", ""))


Reference = ReferenceDef  # the name the study builder uses


@dataclass(frozen=True)
class ItemDef:
    key: str
    text: str
    rationale: str
    plain_text: str = ""
    references: tuple[ReferenceDef, ...] = ()


@dataclass(frozen=True)
class SectionDef:
    key: str
    title: str
    description: str
    items: tuple[ItemDef, ...]
    scale_key: str = ""  # empty: the study's scale
    evidence: str = ""
    references: tuple[ReferenceDef, ...] = ()


@dataclass(frozen=True)
class SurveyDefinition:
    slug: str
    title: str
    description: str
    method: str
    plain_language: str
    scale_key: str
    allow_uts: bool
    consensus: dict[str, Any]
    feedback_by_group: bool
    min_group_size: int
    ask_reason_on_band_change: bool
    groups: tuple[GroupDef, ...]
    sections: tuple[SectionDef, ...]
    short_name: str = ""
    sender_name: str = ""
    # The protocol's personal-data settings (``privacy:`` in the file).
    erasure: str = "keep-pseudonymised"
    retention_days: int | None = None


CONSENSUS_DEFAULTS: dict[str, Any] = {
    "primary_rule": "comet",
    "comet_agree_pct": 70,
    "comet_disagree_pct": 15,
    "percent_threshold": 75,
    "iqr_max": 1,
    "iqr_median_min": None,
    "uts_rule": "exclude",
    "percentile_method": "linear",
    "group_rule": "pooled",
    "min_group_size": 3,
    "stability_pp": 15,
    "scheibe_threshold": 0.15,
    "wilcoxon_zero_method": "wilcox",
    "wilcoxon_correction": True,
    "round_thresholds": {},
}


@dataclass
class _Checker:
    """Walks a parsed document and collects every problem with its path."""

    problems: list[str] = field(default_factory=list)
    draft: bool = False  # a draft built in the browser may have no groups or sections yet

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def mapping(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.fail(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def text(self, doc: dict[str, Any], key: str, path: str, *, required: bool = True,
             limit: int = MAX_TEXT, pattern: re.Pattern[str] | None = None,
             allowed: str = "letters, digits, '.', '_' or '-'") -> str:
        where = f"{path}.{key}" if path else key
        value = doc.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(where, "required")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(where, f"must be text, got {_kind(value)}")
            return ""
        text = str(value).strip()
        if len(text) > limit:
            self.fail(where, f"is {len(text)} characters long; at most {limit} are allowed")
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
            self.fail(where, "contains a control character")
        if MARKUP_RE.search(text):
            self.fail(where, "contains markup such as <tag>; write plain text")
        if pattern is not None and not pattern.match(text):
            self.fail(where, f"{text!r} is not valid ({allowed})")
        return text

    def integer(self, doc: dict[str, Any], key: str, path: str, default: int | None,
                low: int, high: int) -> int | None:
        where = f"{path}.{key}"
        value = doc.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"must be a whole number, got {value!r}")
            return default
        if not low <= value <= high:
            self.fail(where, f"must be between {low} and {high}, got {value}")
        return value

    def choice(self, doc: dict[str, Any], key: str, path: str, default: str,
               options: tuple[str, ...]) -> str:
        value = doc.get(key, default)
        if value not in options:
            self.fail(f"{path}.{key}", f"{value!r} is not one of: {', '.join(options)}")
            return default
        return value

    def boolean(self, doc: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = doc.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{path}.{key}", f"must be true or false, got {value!r}")
            return default
        return value

    def sequence(self, doc: dict[str, Any], key: str, path: str) -> list[Any]:
        where = f"{path}.{key}" if path else key
        value = doc.get(key)
        if value is None:
            self.fail(where, "required")
            return []
        if not isinstance(value, list):
            self.fail(where, f"must be a list, got {_kind(value)}")
            return []
        if not value and not self.draft:
            self.fail(where, "must not be empty")
        return value


class _AliasRefused(yaml.YAMLError):
    def __init__(self, path: str, mark: Any):
        self.path, self.mark = path, mark


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases.

    ``safe_load`` still expands aliases: a few kilobytes of nested aliases ("billion
    laughs") build a structure that takes minutes and gigabytes to walk.  A survey never
    needs them, so the first anchor (``&name``) or alias (``*name``) is refused with the
    path of the value that carries it.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._stack: list[str] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        base = self._stack[-1] if self._stack else ""
        if isinstance(index, yaml.ScalarNode):
            path = f"{base}.{index.value}" if base else str(index.value)
        elif isinstance(index, int):
            path = f"{base}[{index}]"
        else:
            path = base
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _AliasRefused(path, event.start_mark)
        self._stack.append(path)
        try:
            return super().compose_node(parent, index)
        finally:
            self._stack.pop()


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), "nothing" if value is None else type(value).__name__
    )


def load_survey_file(path: str | Path) -> SurveyDefinition:
    """Read and validate a survey file, raising SurveyError naming the file."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SurveyError(source, [f"cannot be read: {exc.strerror or exc}"]) from None
    return parse_survey(raw, source)


def parse_survey(raw: bytes | str, source: str) -> SurveyDefinition:
    """Validate survey text; every problem is listed, not only the first."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SurveyError(source, [f"is not UTF-8 text (byte {exc.start})"]) from None
    try:
        loader = _NoAliasLoader(raw)
        try:
            doc = loader.get_single_data()
        finally:
            loader.dispose()
    except _AliasRefused as exc:
        where = exc.path or f"line {exc.mark.line + 1}"
        raise SurveyError(source, [f"{where}: YAML anchors and aliases (&name, *name) are not "
                                   f"allowed (line {exc.mark.line + 1}); write the value out "
                                   "in full"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SurveyError(source, [f"{where}YAML syntax error: {problem}"]) from None
    check = _Checker()
    definition = _definition(check, doc)
    if check.problems:
        raise SurveyError(source, check.problems, [_line_of(raw, p) for p in check.problems])
    assert definition is not None
    return definition


def check_document(doc: dict[str, Any], source: str, *, draft: bool = False) -> SurveyDefinition:
    """Validate a survey document (what ``survey_document`` gives) like a file.

    ``draft`` allows empty lists of groups, sections and statements: a study being built
    in the browser starts blank (launching round 1 still needs statements and a panel).
    """
    check = _Checker(draft=draft)
    definition = _definition(check, doc)
    if check.problems:
        raise SurveyError(source, check.problems)
    assert definition is not None
    return definition


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _line_of(raw: str, problem: str) -> int | None:
    """The line of ``raw`` that a ``path: problem`` is about (its nearest existing node)."""
    path, sep, _ = problem.partition(": ")
    if not sep or " " in path:
        return None
    try:
        node = yaml.compose(raw, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for name, index in _PATH_PART.findall(path):
        child = None
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
        elif name and isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == name:
                    child = value_node if not isinstance(value_node, yaml.ScalarNode) \
                        else key_node
                    break
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


TOP_KEYS = {"slug", "title", "short_name", "sender_name", "description", "method",
            "plain_language", "scale", "consensus", "feedback", "groups", "sections",
            "privacy"}
MAX_RETENTION_DAYS = 36500  # a hundred years


def _definition(check: _Checker, doc: Any) -> SurveyDefinition | None:
    if doc is None or doc == {}:  # "{}" was a definition with no problem and no content
        check.fail("", "the file is empty")
        return None
    top = check.mapping(doc, "", TOP_KEYS)
    if not top:
        return None
    scale = check.mapping(top.get("scale", {}), "scale", {"key", "unable_to_score"})
    scale_key = scale.get("key", "grade-1-9")
    if scale_key not in SCALES:
        check.fail("scale.key", f"{scale_key!r} is not one of: {', '.join(SCALES)}")
    consensus = _consensus(check, top.get("consensus", {}))
    median_min = consensus["iqr_median_min"]
    if scale_key in SCALES and median_min is not None:
        points = SCALES[scale_key]
        if not points.low <= median_min <= points.high:
            check.fail("consensus.iqr.median_min",
                       f"must be a point of the {points.name} scale ({points.low}-{points.high}), "
                       f"got {median_min}")
    if scale_key in SCALES and consensus["round_thresholds"] and not check.problems:
        try:  # each round's thresholds within their ranges, as the engine checks them
            Settings(scale=scale_key, percentile_method=consensus["percentile_method"],
                     **{k: consensus[k] for k in ("comet_agree_pct", "comet_disagree_pct",
                                                  "percent_threshold", "iqr_max",
                                                  "iqr_median_min", "round_thresholds")})
        except SettingsError as error:
            check.fail("consensus.by_round", str(error))
    feedback = check.mapping(top.get("feedback", {}), "feedback",
                             {"by_group", "min_group_size", "ask_reason"})
    privacy = check.mapping(top.get("privacy", {}), "privacy", {"erasure", "retention_days"})
    return SurveyDefinition(
        slug=check.text(top, "slug", "", limit=80, pattern=SLUG_RE,
                        allowed="2-80 lower-case letters, digits or '-'"),
        title=check.text(top, "title", "", limit=300),
        short_name=_one_line(check, top, "short_name", 40),
        sender_name=_one_line(check, top, "sender_name", 120),
        description=check.text(top, "description", "", required=False),
        method=check.text(top, "method", "", required=False, limit=120) or "modified e-Delphi",
        plain_language=check.text(top, "plain_language", "", required=False),
        scale_key=scale_key,
        allow_uts=check.boolean(scale, "unable_to_score", "scale", True),
        consensus=consensus,
        feedback_by_group=check.boolean(feedback, "by_group", "feedback", True),
        min_group_size=check.integer(feedback, "min_group_size", "feedback", 3, 1, 1000) or 3,
        ask_reason_on_band_change=check.boolean(feedback, "ask_reason", "feedback", True),
        erasure=check.choice(privacy, "erasure", "privacy", "keep-pseudonymised",
                             ERASURE_POLICIES),
        retention_days=check.integer(privacy, "retention_days", "privacy", None, 0,
                                     MAX_RETENTION_DAYS),
        groups=_groups(check, top),
        sections=_sections(check, top, consensus),
    )


def _one_line(check: _Checker, top: dict[str, Any], key: str, limit: int) -> str:
    """An optional text of one line (it goes into email subjects and sign-offs)."""
    text = check.text(top, key, "", required=False, limit=limit)
    if "\n" in text or "\t" in text:
        check.fail(key, "must be one line")
    return text


def _consensus(check: _Checker, value: Any) -> dict[str, Any]:
    allowed = {"primary_rule", "comet", "percent", "iqr", "uts", "percentile_method",
               "group_rule", "stability_pp", "min_group_size", "scheibe_threshold", "wilcoxon",
               "by_round"}
    doc = check.mapping(value, "consensus", allowed)
    comet = check.mapping(doc.get("comet", {}), "consensus.comet", {"agree_pct", "disagree_pct"})
    percent = check.mapping(doc.get("percent", {}), "consensus.percent", {"threshold"})
    iqr = check.mapping(doc.get("iqr", {}), "consensus.iqr", {"max_iqr", "median_min"})
    wilcoxon = check.mapping(doc.get("wilcoxon", {}), "consensus.wilcoxon",
                             {"zero_method", "correction"})
    d = CONSENSUS_DEFAULTS
    return {
        "min_group_size": check.integer(doc, "min_group_size", "consensus", 3, 1, 1000),
        "scheibe_threshold": _fraction(check, doc, "scheibe_threshold", "consensus", 0.15),
        "wilcoxon_zero_method": check.choice(wilcoxon, "zero_method", "consensus.wilcoxon",
                                             "wilcox", ZERO_METHODS),
        "wilcoxon_correction": check.boolean(wilcoxon, "correction", "consensus.wilcoxon", True),
        "round_thresholds": _by_round(check, doc.get("by_round", {})),
        "primary_rule": check.choice(doc, "primary_rule", "consensus", d["primary_rule"], RULES),
        "comet_agree_pct": check.integer(comet, "agree_pct", "consensus.comet", 70, 1, 100),
        "comet_disagree_pct": check.integer(comet, "disagree_pct", "consensus.comet", 15, 1, 100),
        "percent_threshold": check.integer(percent, "threshold", "consensus.percent", 75, 1, 100),
        "iqr_max": check.integer(iqr, "max_iqr", "consensus.iqr", 1, 0, 100),
        "iqr_median_min": check.integer(iqr, "median_min", "consensus.iqr", None, 0, 100),
        "uts_rule": check.choice(doc, "uts", "consensus", d["uts_rule"], UTS_RULES),
        "percentile_method": check.choice(
            doc, "percentile_method", "consensus", d["percentile_method"], PERCENTILE_METHODS
        ),
        "group_rule": check.choice(doc, "group_rule", "consensus", d["group_rule"], GROUP_RULES),
        "stability_pp": check.integer(doc, "stability_pp", "consensus", 15, 1, 100),
    }


def _fraction(check: _Checker, doc: dict[str, Any], key: str, path: str,
              default: float) -> float:
    """A number from 0 to 1 (a fraction such as 0.15), kept as the decimal written."""
    value = doc.get(key, default)
    try:
        number = parse_number(key, value)
    except SettingsError:
        check.fail(f"{path}.{key}", f"must be a number from 0 to 1, got {value!r}")
        return default
    if not 0 <= number <= 1:
        check.fail(f"{path}.{key}", f"must be between 0 and 1, got {value!r}")
        return default
    return float(number)


BY_ROUND_KEYS = {("comet", "agree_pct"): "comet_agree_pct",
                 ("comet", "disagree_pct"): "comet_disagree_pct",
                 ("percent", "threshold"): "percent_threshold",
                 ("iqr", "max_iqr"): "iqr_max", ("iqr", "median_min"): "iqr_median_min"}


def _by_round(check: _Checker, value: Any) -> dict[str, dict[str, int]]:
    """``by_round: {2: {comet: {agree_pct: 75}}}``: thresholds that change from a round on."""
    rounds = check.mapping(value, "consensus.by_round", set(value) if isinstance(value, dict)
                           else set())
    out: dict[str, dict[str, int]] = {}
    for number, raw in rounds.items():
        path = f"consensus.by_round.{number}"
        if isinstance(number, bool) or not isinstance(number, int) or number < 2:
            check.fail(path, "must be a round number of 2 or more (round 1 uses the thresholds "
                             "above)")
            continue
        doc = check.mapping(raw, path, {"comet", "percent", "iqr"})
        values: dict[str, int] = {}
        for (block, key), name in BY_ROUND_KEYS.items():
            inner = check.mapping(doc.get(block, {}), f"{path}.{block}",
                                  {k for b, k in BY_ROUND_KEYS if b == block})
            if key in inner:
                found = check.integer(inner, key, f"{path}.{block}", None, 0, 100)
                if found is not None:
                    values[name] = found
        if not values and doc is not None:
            check.fail(path, "names no threshold (comet, percent or iqr)")
        out[str(number)] = values
    return out


def _groups(check: _Checker, top: dict[str, Any]) -> tuple[GroupDef, ...]:
    groups: list[GroupDef] = []
    seen_keys: set[str] = set()
    seen_names: set[str] = set()
    for i, raw in enumerate(check.sequence(top, "groups", "")):
        path = f"groups[{i}]"
        doc = check.mapping(raw, path, {"key", "name", "description"})
        group = GroupDef(
            key=check.text(doc, "key", path, limit=64, pattern=KEY_RE),
            name=check.text(doc, "name", path, limit=200),
            description=check.text(doc, "description", path, required=False),
        )
        if group.key and group.key.casefold() in seen_keys:
            check.fail(f"{path}.key", f"{group.key!r} is used by an earlier group")
        if group.name and group.name.casefold() in seen_names:
            check.fail(f"{path}.name", f"{group.name!r} is used by an earlier group")
        seen_keys.add(group.key.casefold())
        seen_names.add(group.name.casefold())
        groups.append(group)
    return tuple(groups)


def _references(check: _Checker, doc: dict[str, Any], path: str) -> tuple[ReferenceDef, ...]:
    """An optional list of ``{text, doi, pmid}``; the identifiers are checked for form."""
    value = doc.get("references")
    where = f"{path}.references"
    if value is None:
        return ()
    if not isinstance(value, list):
        check.fail(where, f"must be a list, got {_kind(value)}")
        return ()
    if len(value) > MAX_REFERENCES:
        check.fail(where, f"has {len(value)} entries; at most {MAX_REFERENCES} are allowed")
    out = []
    for k, raw in enumerate(value):
        ref_path = f"{where}[{k}]"
        ref = check.mapping(raw, ref_path, {"text", "doi", "pmid"})
        if not ref:
            continue
        text = check.text(ref, "text", ref_path, limit=1000)
        doi = check.text(ref, "doi", ref_path, required=False, limit=300)
        if doi and not DOI_RE.match(doi):
            check.fail(f"{ref_path}.doi", f"{doi!r} is not a DOI (10.NNNN/suffix, without "
                                          "https://doi.org/)")
        pmid = check.text(ref, "pmid", ref_path, required=False, limit=20)
        if pmid and not PMID_RE.match(pmid):
            check.fail(f"{ref_path}.pmid", f"{pmid!r} is not a PubMed id (digits only)")
        if not doi and not pmid:
            check.fail(ref_path, "needs a doi (10.NNNN/...) or a pmid (digits)")
        out.append(ReferenceDef(text, doi, pmid))
    return tuple(out)


def _section_scale(check: _Checker, doc: dict[str, Any], path: str,
                   consensus: dict[str, Any]) -> str:
    """An optional scale key for one section, checked against the consensus settings."""
    value = doc.get("scale")
    if value is None:
        return ""
    where = f"{path}.scale"
    if not isinstance(value, str) or value not in SCALES:
        check.fail(where, f"{value!r} is not one of: {', '.join(SCALES)}")
        return ""
    scale = SCALES[value]
    rule = consensus["primary_rule"]
    if rule in ENGINE_RULES and not ENGINE_RULES[rule].applies_to(scale):
        check.fail(where, f"the primary rule {rule} is not defined on the {scale.name} scale")
    median_min = consensus["iqr_median_min"]
    if median_min is not None and not scale.low <= median_min <= scale.high:
        check.fail(where, f"consensus.iqr.median_min ({median_min}) is not a point of the "
                          f"{scale.name} scale ({scale.low}-{scale.high})")
    return value


def _sections(check: _Checker, top: dict[str, Any],
              consensus: dict[str, Any]) -> tuple[SectionDef, ...]:
    sections: list[SectionDef] = []
    section_keys: set[str] = set()
    item_keys: set[str] = set()
    for i, raw in enumerate(check.sequence(top, "sections", "")):
        path = f"sections[{i}]"
        doc = check.mapping(raw, path, {"key", "title", "description", "scale", "evidence",
                                        "references", "items"})
        key = check.text(doc, "key", path, required=False, limit=64, pattern=KEY_RE)
        key = key or f"section-{i + 1}"
        if key in section_keys:
            check.fail(f"{path}.key", f"{key!r} is used by an earlier section")
        section_keys.add(key)
        items = []
        for j, raw_item in enumerate(check.sequence(doc, "items", path)):
            item_path = f"{path}.items[{j}]"
            item_doc = check.mapping(raw_item, item_path, {"key", "text", "plain_text",
                                                           "rationale", "references"})
            item = ItemDef(
                key=check.text(item_doc, "key", item_path, limit=64, pattern=KEY_RE),
                text=check.text(item_doc, "text", item_path),
                rationale=check.text(item_doc, "rationale", item_path),
                plain_text=check.text(item_doc, "plain_text", item_path, required=False),
                references=_references(check, item_doc, item_path),
            )
            if item.key and item.key in item_keys:
                check.fail(f"{item_path}.key", f"{item.key!r} is used by an earlier item")
            item_keys.add(item.key)
            items.append(item)
        sections.append(SectionDef(
            key=key,
            title=check.text(doc, "title", path, limit=300),
            description=check.text(doc, "description", path, required=False),
            items=tuple(items),
            scale_key=_section_scale(check, doc, path, consensus),
            evidence=check.text(doc, "evidence", path, required=False),
            references=_references(check, doc, path),
        ))
    return tuple(sections)


def dump_survey(definition: SurveyDefinition) -> str:
    """Write a definition in the survey file format."""
    return yaml.safe_dump(survey_document(definition), sort_keys=False, allow_unicode=True,
                          width=100)


def _item_document(item: ItemDef) -> dict[str, Any]:
    doc = _without_empty({"key": item.key, "text": item.text, "rationale": item.rationale,
                          "plain_text": item.plain_text}, keep=("key", "text", "rationale"))
    if item.references:
        doc["references"] = [r.as_dict() for r in item.references]
    return doc


def survey_document(definition: SurveyDefinition) -> dict[str, Any]:
    """A definition as the plain mapping a survey file holds."""
    c = definition.consensus
    doc: dict[str, Any] = {
        "slug": definition.slug,
        "title": definition.title,
        **({"short_name": definition.short_name} if definition.short_name else {}),
        **({"sender_name": definition.sender_name} if definition.sender_name else {}),
        "description": definition.description,
        "method": definition.method,
        "plain_language": definition.plain_language,
        "scale": {"key": definition.scale_key, "unable_to_score": definition.allow_uts},
        "consensus": {
            "primary_rule": c["primary_rule"],
            "comet": {"agree_pct": c["comet_agree_pct"], "disagree_pct": c["comet_disagree_pct"]},
            "percent": {"threshold": c["percent_threshold"]},
            "iqr": {"max_iqr": c["iqr_max"]}
            | ({"median_min": c["iqr_median_min"]} if c["iqr_median_min"] is not None else {}),
            "uts": c["uts_rule"],
            "percentile_method": c["percentile_method"],
            "group_rule": c["group_rule"],
            "min_group_size": c["min_group_size"],
            "stability_pp": c["stability_pp"],
            "scheibe_threshold": c["scheibe_threshold"],
            "wilcoxon": {"zero_method": c["wilcoxon_zero_method"],
                         "correction": c["wilcoxon_correction"]},
        } | ({"by_round": {int(n): _by_round_block(v)
                           for n, v in c["round_thresholds"].items()}}
             if c.get("round_thresholds") else {}),
        "feedback": {"by_group": definition.feedback_by_group,
                     "min_group_size": definition.min_group_size,
                     "ask_reason": definition.ask_reason_on_band_change},
        "privacy": {"erasure": definition.erasure}
        | ({"retention_days": definition.retention_days}
           if definition.retention_days is not None else {}),
        "groups": [_without_empty(g.__dict__) for g in definition.groups],
        "sections": [
            _without_empty({
                "key": s.key,
                "title": s.title,
                "description": s.description,
                "scale": s.scale_key,
                "evidence": s.evidence,
                "references": [r.as_dict() for r in s.references],
                "items": [_item_document(item) for item in s.items],
            }, keep=("key", "items"))  # a draft's new section has no statements yet
            for s in definition.sections
        ],
    }
    return doc


def _by_round_block(values: dict[str, int]) -> dict[str, dict[str, int]]:
    """The survey file's nested form of one round's thresholds."""
    out: dict[str, dict[str, int]] = {}
    for (block, key), name in BY_ROUND_KEYS.items():
        if name in values:
            out.setdefault(block, {})[key] = values[name]
    return out


def _without_empty(values: dict[str, Any], keep: tuple[str, ...] = ("key",)) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in ("", None, []) or k in keep}
