"""The statistics core and the analyze command import neither Flask nor SQLAlchemy."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("flask", "flask_sqlalchemy", "flask_migrate", "flask_wtf", "flask_login",
             "sqlalchemy", "werkzeug")
SOURCES = [*sorted((ROOT / "delphi" / "consensus").glob("*.py")),
           ROOT / "delphi" / "analyze_cli.py"]

# delphi/__init__.py imports Flask only inside create_app(), so importing the real
# package and the core must leave Flask and SQLAlchemy unloaded.
PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import delphi.consensus, delphi.analyze_cli
import delphi.consensus.analyze, delphi.consensus.multiscale  # the engine itself (lazy above)
print(",".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _imported_names(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_sources_import_no_web_or_database_library():
    for path in SOURCES:
        for name in _imported_names(path):
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
            assert not name.startswith("delphi."), f"{path.name} imports {name}: use the core only"


def test_importing_the_core_loads_neither_flask_nor_sqlalchemy():
    loaded = subprocess.run(  # noqa: S603 - this interpreter on a fixed probe, no user input
        [sys.executable, "-c", PROBE, str(ROOT)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout.strip().split(",")
    assert not set(loaded) & set(FORBIDDEN), loaded
    assert "numpy" in loaded and "scipy" in loaded


def test_the_engine_package_loads_scipy_only_when_a_statistic_is_asked_for():
    """The models import ``delphi.consensus.scales``; that must not cost a scipy import
    (it made every command, ``delphi --help`` included, take seconds)."""
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import delphi.consensus as c; "
             "import delphi.consensus.scales; a = 'scipy' in sys.modules; c.analyze; "
             "print(a, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, str(ROOT)], capture_output=True,  # noqa: S603
                         text=True, check=True, cwd=ROOT).stdout.split()
    assert out == ["False", "True"]


def test_analyze_is_the_function_whatever_was_imported_first():
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import delphi.consensus.analyze; "
             "from delphi.consensus import analyze; print(callable(analyze), "
             "type(analyze).__name__)")
    out = subprocess.run([sys.executable, "-c", probe, str(ROOT)], capture_output=True,  # noqa: S603
                         text=True, check=True, cwd=ROOT).stdout.split()
    assert out == ["True", "function"]
