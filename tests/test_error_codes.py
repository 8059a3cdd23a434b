"""Every refusal has a stable dotted code and a template; docs/errors.md lists them all.

The table in docs/errors.md is generated from the source by this test
(``DELPHI_UPDATE_GOLDEN=1 python -m pytest tests/test_error_codes.py`` rewrites it), so the
list of codes cannot drift from the code.
"""

from __future__ import annotations

import ast
import os
import re
import string
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "delphi"
DOC = ROOT / "docs" / "errors.md"
START, END = "<!-- codes: start -->", "<!-- codes: end -->"
# DomainError and the subclasses that are raised with a code and a template.
RAISED = {"DomainError", "IllegalTransition", "RoundClosed"}
CODE = re.compile(r"^[a-z_]+\.[a-z_]+$")


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def refusals() -> tuple[list[tuple[str, str, tuple[str, ...], str]], list[str]]:
    """(code, template, parameters, module) of every refusal, and the calls that lack one."""
    found, bad = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            in_subclass = name == "__init__" and len(node.args) >= 2 and \
                _literal(node.args[0]) is not None and CODE.match(_literal(node.args[0]) or "")
            if name not in RAISED and not in_subclass:
                continue
            code = _literal(node.args[0]) if node.args else None
            template = _literal(node.args[1]) if len(node.args) > 1 else None
            if code is None or template is None or not CODE.match(code):
                bad.append(f"{where}:{node.lineno}")
                continue
            given = tuple(sorted(k.arg for k in node.keywords if k.arg))
            wanted = {f for _, f, _, _ in string.Formatter().parse(template) if f}
            if {w.split("!")[0] for w in wanted} != set(given):
                bad.append(f"{where}:{node.lineno} placeholders {sorted(wanted)} vs {given}")
            found.append((code, template, given, where))
    return found, bad


def table() -> str:
    rows = {}
    for code, template, params, where in refusals()[0]:
        entry = rows.setdefault((code, template), [params, set()])
        entry[1].add(where.removeprefix("delphi/"))
    lines = ["| Code | Message (English template) | Parameters | Raised in |",
             "|---|---|---|---|"]
    for (code, template), (params, modules) in sorted(rows.items()):
        shown = template.replace("|", "\\|")
        lines.append(f"| `{code}` | {shown} | {', '.join(params) or '–'} | "
                     f"{', '.join(sorted(modules))} |")
    return "\n".join(lines)


def test_every_refusal_has_a_dotted_code_and_a_template_with_its_parameters():
    found, bad = refusals()
    assert bad == []
    assert len(found) >= 60
    templates: dict[str, set[str]] = {}
    for code, template, _, _ in found:
        templates.setdefault(code, set()).add(template)
    assert {c: t for c, t in templates.items() if len(t) > 1} == {}, "one message per code"


def test_the_scan_finds_a_refusal_without_a_code(tmp_path, monkeypatch):
    module = tmp_path / "delphi" / "m.py"
    module.parent.mkdir()
    module.write_text('raise DomainError("no code here")\n'
                      'raise DomainError("a.b", "{x} and {y}", x=1)\n')
    monkeypatch.setitem(globals(), "PACKAGE", tmp_path / "delphi")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    found, bad = refusals()
    assert bad == ["delphi/m.py:1", "delphi/m.py:2 placeholders ['x', 'y'] vs ('x',)"]


def test_docs_list_every_code():
    text = DOC.read_text(encoding="utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    current = f"{before}{START}\n{table()}\n{END}{after}"
    if os.environ.get("DELPHI_UPDATE_GOLDEN"):
        DOC.write_text(current, encoding="utf-8")
        text = current
    assert text == current, "docs/errors.md is out of date: run with DELPHI_UPDATE_GOLDEN=1"
