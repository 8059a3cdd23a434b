"""``delphi api-token create|list|revoke --as EMAIL``: personal API tokens from the shell."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..models import DomainError
from ..uow import unit_of_work
from . import tokens

SCOPES = {"read": "read", "write": "read write"}


@click.group("api-token")
def api_token_command() -> None:
    """Create, list and revoke personal API tokens (for the JSON API under /api/v1)."""


def _facilitator(as_email: str | None):
    from ..cli import _actor

    return _actor(as_email, None)


as_option = click.option("--as", "as_email", metavar="EMAIL",
                         help="The facilitator whose token it is (and who is audited).")


@api_token_command.command("create")
@click.option("--name", required=True, help="What uses the token, e.g. 'R on my laptop'.")
@click.option("--scope", type=click.Choice(sorted(SCOPES)), default="read", show_default=True,
              help="read: list and download; write: also change studies.")
@click.option("--days", type=int, default=None, help="Days until it expires (1-366; "
              "default DELPHI_API_TOKEN_DAYS).")
@as_option
@with_appcontext
def create_command(name: str, scope: str, days: int | None, as_email: str | None) -> None:
    """Create a token and print it once: it is not stored and cannot be shown again."""
    facilitator = _facilitator(as_email)
    try:
        with unit_of_work():
            token, secret = tokens.create_token(
                facilitator, name, SCOPES[scope],
                days if days is not None else int(current_app.config["API_TOKEN_DAYS"]))
    except DomainError as exc:
        raise click.ClickException(exc.render()) from None
    click.echo(f"token {token.id} ({token.scopes}), expires {token.expires_at:%Y-%m-%d %H:%M} "
               "UTC; it is shown only now:", err=True)
    click.echo(secret)


@api_token_command.command("list")
@as_option
@with_appcontext
def list_command(as_email: str | None) -> None:
    """List the facilitator's tokens (never their secrets)."""
    facilitator = _facilitator(as_email)
    for t in tokens.tokens_of(facilitator):
        state = "revoked" if t.revoked_at else "active"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        click.echo(f"{t.id}\t{t.prefix}...\t{t.scopes}\t{state}\texpires "
                   f"{t.expires_at:%Y-%m-%d}\tlast used {used}\t{t.name}")


@api_token_command.command("revoke")
@click.argument("token_id", type=int)
@as_option
@with_appcontext
def revoke_command(token_id: int, as_email: str | None) -> None:
    """Revoke a token: it stops working at once."""
    facilitator = _facilitator(as_email)
    try:
        with unit_of_work():
            token = tokens.revoke_token(facilitator, token_id, facilitator)
    except DomainError as exc:
        raise click.ClickException(exc.render()) from None
    click.echo(f"token {token.id} ({token.name}) is revoked")
