"""The shape of the code: features import shared modules, never each other; one item label."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import event

from delphi.extensions import db
from delphi.models import Item, item_label

PACKAGE = Path(__file__).resolve().parent.parent / "delphi"
FEATURES = ("auth", "builder", "decisions", "exports", "panel", "rounds", "studies")
# Known and named, to be removed: the study page draws the exports' item flow diagram
# (it needs the exports' final statuses of the statements).
# Editing a panellist re-sends their link to the open round through the rounds' use case.
KNOWN = {("studies/views.py", "exports")}


def _imported_features(path: Path) -> set[str]:
    """The feature packages a module imports, relative (``..rounds``) or absolute."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("delphi."):
                names = [node.module.split(".")[1]]
            elif node.level == 2:
                names = [node.module.split(".")[0]] if node.module else \
                    [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("delphi.")]
        found.update(n for n in names if n in FEATURES)
    return found


def test_no_feature_imports_another_feature():
    crossings = []
    for feature in FEATURES:
        for path in sorted((PACKAGE / feature).rglob("*.py")):
            where = path.relative_to(PACKAGE).as_posix()
            for other in sorted(_imported_features(path) - {feature}):
                if (where, other) not in KNOWN:
                    crossings.append(f"{where} imports {other}")
    assert crossings == []


def test_the_import_check_sees_relative_and_absolute_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from ..rounds.operations import x\nfrom .. import panel\n"
                      "import delphi.studies.views\nfrom ..results import tables\n")
    assert _imported_features(module) == {"rounds", "panel", "studies"}


def test_one_item_label_everywhere():
    assert item_label("a-02", 1) == "a-02"
    assert item_label("a-02", 2) == "a-02.v2"
    assert Item(key="a-02", version=2).label == "a-02.v2"


def test_the_records_are_read_with_the_table_in_one_ratings_query(app, factory):
    from delphi.results import tables

    from .flows import close, launch

    study = factory.study()
    factory.panel(study)
    launch(study)
    close(study)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if "FROM rating" in statement.replace("\n", " "):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        records = tables.study_records(study, 1)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert records and all(r[0] == 1 and r[4] is None for r in records)
