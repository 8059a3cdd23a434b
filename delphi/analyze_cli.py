"""Placeholder replaced by the statistics engine's analyze command."""

import click


@click.command("analyze")
def analyze_command() -> None:
    """Analyse ratings."""
