"""Every per-process cache in the package, stated and checked.

A cache here may hold only a value that is the same for everyone: no panellist, account,
study or language can reach it with an argument, so none can see another's entry. Each
states its key, bound and invalidation where it lives. A new cache fails the first test
until it is added to ``CACHES`` after the same review.
"""

from __future__ import annotations

import ast
from pathlib import Path

from delphi import passwords, timezones
from delphi.models import accounts

PACKAGE = Path(__file__).resolve().parent.parent / "delphi"
CACHES = {
    ("models/accounts.py", "_dummy_hash"): accounts._dummy_hash,
    ("passwords.py", "common_passwords"): passwords.common_passwords,
    ("timezones.py", "zone_names"): timezones.zone_names,
}


def _is_cache(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name in ("cache", "lru_cache", "cached_property")


def _cached_functions() -> dict[tuple[str, str], ast.FunctionDef]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and any(_is_cache(d) for d in node.decorator_list):
                found[(path.relative_to(PACKAGE).as_posix(), node.name)] = node
    return found


def test_every_cache_is_known_takes_no_key_and_states_its_key_bound_and_invalidation():
    found = _cached_functions()
    assert set(found) == set(CACHES)
    for where, node in found.items():
        assert not node.args.args and not node.args.kwonlyargs \
            and node.args.vararg is None and node.args.kwarg is None, where
        doc = (ast.get_docstring(node) or "").lower()
        for word in ("key:", "bound:", "invalidation:"):
            assert word in doc, (where, word)


def test_the_cached_values_are_one_value_whoever_asks_and_in_whatever_language():
    for function in CACHES.values():
        function.cache_clear()
    # Two accounts choosing passwords, two studies in two zones (one French-speaking panel,
    # one English): the caches hold one entry each, the same object, with nothing of theirs.
    assert passwords.password_problem("correct horse battery staple", "anne@example.org") is None
    first_list = passwords.common_passwords()
    assert passwords.password_problem("password1234", "jean@example.fr") is not None
    assert passwords.common_passwords() is first_list
    size = len(first_list)
    assert passwords.password_problem("another fine passphrase", "marie@example.fr") is None
    assert len(passwords.common_passwords()) == size
    assert {"anne@example.org", "jean@example.fr", "correct horse battery staple",
            "another fine passphrase"}.isdisjoint(first_list)
    assert timezones.check_zone("Europe/Paris") == "Europe/Paris"
    names = timezones.zone_names()
    assert timezones.check_zone("America/New_York") == "America/New_York"
    assert timezones.zone_names() is names
    for function in CACHES.values():
        function()
        assert function.cache_info().currsize == 1
