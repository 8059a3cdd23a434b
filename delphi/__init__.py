"""delphi: run Delphi consensus studies.

Importing the package loads nothing heavy: the statistics engine
(``delphi.consensus``) stays free of Flask and SQLAlchemy even when imported
through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, commands; no side effects."""
    from .app import build_app

    return build_app(test_config)
