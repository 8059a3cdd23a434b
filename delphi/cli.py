"""The ``delphi`` command: Flask's commands plus the platform's own, thin over operations."""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade
from flask_migrate.cli import db as migrate_commands
from werkzeug.serving import run_simple

from . import mail
from .analyze_cli import analyze_command
from .api.cli import api_token_command
from .auth import links
from .auth import operations as accounts
from .config import DEMO_SETTINGS_FILE, ConfigError, instance_path, read_demo_settings
from .exports.cli import export_command
from .extensions import db
from .models import DomainError, Facilitator, Study
from .roles import ROLE_VALUES
from .rounds import operations as round_ops
from .studies import operations as ops
from .studies import privacy
from .surveys import SurveyError, dump_survey, load_survey_file
from .uow import unit_of_work

if TYPE_CHECKING:
    from .audit import Actor

SHIPPED_SURVEYS = Path(__file__).resolve().parent / "surveys"
DEMO_EMAIL = "demo@example.org"


def _cli_app() -> Flask:
    from . import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class DelphiGroup(FlaskGroup):
    """Flask's command group whose commands are all registered on the group itself.

    Flask's own group builds the application to list the commands it adds; without the
    production settings that failed with a traceback and hid most commands.  Here
    ``--help`` never builds the application, and a command builds it only when it runs
    (``with_appcontext``), so a missing setting is one clear line.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return click.Group.list_commands(self, ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_plugin_commands()
        return click.Group.get_command(self, ctx, cmd_name)


@click.group(cls=DelphiGroup, create_app=_cli_app, add_version_option=True,
             load_dotenv=False, set_debug_flag=False)
def main() -> None:
    """Run Delphi consensus studies.

    Settings come from DELPHI_* environment variables (see docs/settings.md).
    Try it with `delphi demo`.
    """


def init_app(app: Flask) -> None:
    """Bind the commands that work on a study's database to ``app.cli``."""
    for command in APP_COMMANDS:
        app.cli.add_command(command)


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def _study_or_fail(slug: str):
    study = ops.find_study(slug)
    if study is None:
        _fail(f"there is no study with the slug {slug!r}")
    return study


AS_HELP = ("The facilitator doing this, for the audit log (an enabled account on the "
           "study's committee). Required, except in demo mode.")
as_option = click.option("--as", "as_email", metavar="EMAIL", help=AS_HELP)


def _actor(as_email: str | None, study: Study | None) -> Facilitator:
    """The facilitator a command acts as (``--as``): named, enabled, on the committee.

    ``--as`` attributes an action; it does not authenticate anyone (whoever runs the
    command can already reach the database). Demo mode acts as the demo facilitator.
    """
    if not as_email:
        if not current_app.config.get("DEMO"):
            _fail("--as EMAIL is required: name the facilitator who does this; the audit "
                  "log records them")
        as_email = DEMO_EMAIL
    try:
        return privacy.check_actor(accounts.find_facilitator(as_email), as_email, study)
    except DomainError as exc:
        _fail(exc.render())
        raise  # unreachable: _fail raises


def _commit_or_fail(action: Any) -> Any:
    """Run a use case in one unit of work (commit once, or nothing at all) and turn a
    refusal into a clean message and a non-zero exit."""
    try:
        with unit_of_work():
            return action()
    except DomainError as exc:
        _fail(exc.render())
    except SurveyError as exc:
        _fail(str(exc))


@click.command("create-facilitator")
@click.argument("email")
@click.option("--name", default="", help="The facilitator's name, as shown to colleagues.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
@click.option("--as", "as_email", metavar="EMAIL",
              help="The facilitator creating the account, for the audit log; required once "
                   "an account exists (the first one needs none), except in demo mode.")
@with_appcontext
def create_facilitator_command(email: str, name: str, password_stdin: bool,
                               as_email: str | None) -> None:
    """Create a facilitator account (the password is asked for, never an argument)."""
    import sqlalchemy as sa

    first = db.session.scalar(sa.select(Facilitator.id).limit(1)) is None
    actor: Any = "cli:first-account" if first and not as_email else _actor(as_email, None)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _commit_or_fail(lambda: accounts.create_facilitator(email, password, name, actor))
    click.echo(f"Created facilitator {email.strip().lower()}.")


@click.command("add-facilitator")
@click.argument("study")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLE_VALUES), default="editor", show_default=True,
              help="The role in the study's team (docs/accounts.md).")
@as_option
@with_appcontext
def add_facilitator_command(study: str, email: str, role: str, as_email: str | None) -> None:
    """Give an existing facilitator access to STUDY."""
    target = _study_or_fail(study)
    who = _actor(as_email, target)
    facilitator = accounts.find_facilitator(email)
    if facilitator is None:
        _fail(f"there is no facilitator with the email {email}; create one first")
    _commit_or_fail(lambda: ops.add_facilitator_to_study(target, facilitator, who, role=role))
    click.echo(f"{facilitator.email} is now {role} of {target.slug}.")


@click.command("make-admin")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Take the site-admin flag away instead.")
@click.option("--as", "as_email", metavar="EMAIL",
              help="The facilitator doing this, for the audit log; required once a site "
                   "admin exists (the first one needs none), except in demo mode.")
@with_appcontext
def make_admin_command(email: str, revoke: bool, as_email: str | None) -> None:
    """Make the account EMAIL a site admin: it can create, disable and re-enable accounts
    in the browser (Accounts page)."""
    import sqlalchemy as sa

    from .auth import accounts as account_admin

    first = db.session.scalar(sa.select(Facilitator.id).where(Facilitator.is_admin)
                              .limit(1)) is None
    actor: Any = "cli:first-admin" if first and not as_email and not revoke \
        else _actor(as_email, None)
    facilitator = accounts.find_facilitator(email)
    if facilitator is None:
        _fail(f"there is no facilitator with the email {email}; create one first")
    _commit_or_fail(lambda: account_admin.make_admin(facilitator, actor, admin=not revoke))
    click.echo(f"{facilitator.email} is {'no longer ' if revoke else ''}a site admin.")


@click.command("import-survey")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--owner", metavar="EMAIL",
              help="Facilitator who gets access to the study (default: the one of --as).")
@click.option("--update", is_flag=True,
              help="Replace the definition of an existing draft study with the same slug.")
@as_option
@with_appcontext
def import_survey_command(file: Path, owner: str | None, update: bool,
                          as_email: str | None) -> None:
    """Create a study from a survey definition FILE (YAML; see docs/survey-format.md)."""
    try:
        definition = load_survey_file(file)
    except SurveyError as exc:
        _fail("the survey file is not valid:\n" + str(exc))
    existing = ops.find_study(definition.slug)
    who = _actor(as_email, existing if existing is not None and update else None)
    facilitator = who
    if owner:
        named = accounts.find_facilitator(owner)
        if named is None:
            _fail(f"there is no facilitator with the email {owner}")
        facilitator = named
    if existing is not None and update:
        study = _commit_or_fail(lambda: ops.update_survey(existing, definition, who))
        click.echo(f"Updated study {study.slug}: {len(study.items)} statements.")
        return
    study = _commit_or_fail(lambda: ops.import_survey(definition, who, facilitator))
    click.echo(f"Imported study {study.slug}: {len(study.sections)} sections, "
               f"{len(study.items)} statements, {len(study.groups)} groups.")


@click.command("export-survey")
@click.argument("study")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output.")
@with_appcontext
def export_survey_command(study: str, out: Path | None) -> None:
    """Write STUDY's current definition in the survey file format."""
    text = dump_survey(ops.study_definition(_study_or_fail(study)))
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}.")


@click.command("import-panel")
@click.argument("study")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@as_option
@with_appcontext
def import_panel_command(study: str, file: Path, as_email: str | None) -> None:
    """Add the panellists listed in a CSV FILE (name,email,group[,extra columns]) to STUDY."""
    target = _study_or_fail(study)
    who = _actor(as_email, target)
    try:
        with unit_of_work():
            added = ops.import_panel(target, file.read_bytes(), who)
    except ops.PanelImportError as exc:
        lines = "\n".join(f"  {file}: {e}" for e in exc.errors)
        _fail(f"nothing was imported; fix these rows:\n{lines}")
    except DomainError as exc:
        _fail(exc.render())
    click.echo(f"Added {len(added)} panellists to {target.slug}.")


@main.command("demo", with_appcontext=False)
@click.option("--port", default=5000, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (keep 127.0.0.1 unless you know why).")
def demo_command(port: int, host: str) -> None:
    """Start the platform on a local SQLite database with the IMPACT example study.

    It stays in the foreground; Ctrl+C stops it.  The secret key and the password are
    kept in the instance folder (demo.cfg), so logins survive a restart, and the other
    commands (delphi export, delphi launch-round, ...) then work on the demo database.
    """
    settings = _keep_demo_settings(Path(_demo_instance_path()),
                                   os.environ.get("DELPHI_BASE_URL") or f"http://{host}:{port}")
    os.environ["DELPHI_DEMO"] = "true"
    os.environ.setdefault("DELPHI_SECRET_KEY", settings["SECRET_KEY"])
    os.environ.setdefault("DELPHI_BASE_URL", settings["BASE_URL"])
    app = _cli_app()
    with app.app_context():
        upgrade()
        _prepare_demo(settings["DEMO_PASSWORD"])
        database = db.engine.url.render_as_string(hide_password=True)
    click.echo(
        f"\n  delphi demo is running at http://{host}:{port}/\n"
        f"  Log in as {DEMO_EMAIL} with the password {settings['DEMO_PASSWORD']}\n"
        f"  Database: {database}\n"
        f"  Key and password are kept in {Path(app.instance_path) / DEMO_SETTINGS_FILE};\n"
        "  other delphi commands (export, launch-round, ...) use this demo database.\n"
        "  No SMTP server is set, so emails stay in the outbox page of the study.\n"
        "  Stop with Ctrl+C.\n"
    )
    threading.Thread(target=_demo_jobs, args=(app,), daemon=True).start()
    # app.run() refuses to serve from inside a flask CLI command; serve directly.
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _demo_instance_path() -> str:
    """The instance folder the application will use (DELPHI_INSTANCE_PATH or Flask's)."""
    return instance_path() or Flask("delphi", instance_relative_config=True).instance_path


def _keep_demo_settings(folder: Path, base_url: str) -> dict[str, Any]:
    """Read the demo's key and password from ``folder``, or make them; save the address."""
    settings = read_demo_settings(str(folder)) or {}
    settings = {
        "DEMO": True,
        "SECRET_KEY": settings.get("SECRET_KEY") or secrets.token_hex(32),
        "BASE_URL": base_url,
        "DEMO_PASSWORD": settings.get("DEMO_PASSWORD") or secrets.token_urlsafe(12),
    }
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DEMO_SETTINGS_FILE
    lines = [
        "# Written by `delphi demo` at every start. It keeps the demo's secret key and",
        "# password across restarts, and lets other delphi commands find the demo database",
        "# (instance/delphi.sqlite) while DELPHI_DATABASE_URL is not set. Delete this file",
        "# and delphi.sqlite to start the demo afresh. Never used by a real deployment.",
        *(f"{name} = {value!r}" for name, value in settings.items()),
    ]
    # Written private from the start: the file holds a key and a password.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return settings


def _demo_jobs(app: Flask) -> None:
    """Close rounds at their deadline while the demo runs (a mail worker does it in production)."""
    while True:
        time.sleep(30)
        with app.app_context():
            try:
                mail.beat()  # the demo's worker, as far as /healthz is concerned
                periodic_jobs()
            except Exception:  # keep the demo alive; the error is logged
                app.logger.exception("periodic jobs failed")


def _prepare_demo(password: str) -> None:
    """Load the IMPACT study and the demo facilitator, whose password is ``password``."""
    with unit_of_work():
        _load_demo(password)
    current_app.logger.info("demo ready")


def _load_demo(password: str) -> None:
    facilitator = accounts.find_facilitator(DEMO_EMAIL)
    if facilitator is None:
        facilitator = accounts.create_facilitator(DEMO_EMAIL, password, "Demo facilitator")
    elif not facilitator.check_password(password):
        facilitator.set_password(password)  # ends its sessions: only when it changed
    definition = load_survey_file(SHIPPED_SURVEYS / "impact-paediatric-car-t.yaml")
    study = ops.find_study(definition.slug)
    if study is None:
        study = ops.import_survey(definition, "demo", facilitator)
        demo_panel = SHIPPED_SURVEYS / "impact-demo-panel.csv"
        if demo_panel.exists():
            ops.import_panel(study, demo_panel.read_bytes(), "demo")
    elif not facilitator.can_access(study):
        ops.add_facilitator_to_study(study, facilitator, "demo", role="owner")


def _parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{value!r} is not an ISO-8601 date and time, e.g. 2026-12-01T17:00Z")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command("launch-round")
@click.argument("study")
@click.option("--closes-at", metavar="ISO-8601",
              help="When the round closes by itself, e.g. 2026-12-01T17:00Z (UTC if no zone).")
@as_option
@with_appcontext
def launch_round_command(study: str, closes_at: str | None, as_email: str | None) -> None:
    """Open STUDY's next round: freeze its statements and queue one invitation per panellist."""
    target = _study_or_fail(study)
    who = _actor(as_email, target)
    when = _parse_when(closes_at)
    rnd = _commit_or_fail(lambda: round_ops.launch_round(target, who, when))
    click.echo(f"Round {rnd.number} of {target.slug} is open: {len(rnd.round_items)} statements, "
               f"{len(rnd.invitations)} invitations queued. Deliver them with `delphi send-mail`.")


@click.command("close-round")
@click.argument("study")
@as_option
@with_appcontext
def close_round_command(study: str, as_email: str | None) -> None:
    """Close STUDY's open round and compute its statistics."""
    target = _study_or_fail(study)
    who = _actor(as_email, target)
    rnd = _commit_or_fail(lambda: round_ops.close_round(target, who))
    click.echo(f"Round {rnd.number} of {target.slug} is closed; its results are stored.")


@click.command("remind")
@click.argument("study")
@as_option
@with_appcontext
def remind_command(study: str, as_email: str | None) -> None:
    """Queue a reminder to every panellist of the open round who has not submitted."""
    target = _study_or_fail(study)
    who = _actor(as_email, target)
    count = _commit_or_fail(lambda: round_ops.remind(target, who))
    click.echo(f"{count} reminders queued.")


def _panellist_or_fail(study: Study, ident: str):
    panellist = privacy.find_panellist(study, ident)
    if panellist is None:
        _fail(f"{study.slug} has no panellist {ident!r} (give a pseudonym such as P0001, or "
              "an email address)")
    return panellist


@click.command("export-panellist")
@click.argument("study")
@click.argument("panellist")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output.")
@as_option
@with_appcontext
def export_panellist_command(study: str, panellist: str, out: Path | None,
                             as_email: str | None) -> None:
    """Write everything held about one PANELLIST of STUDY as JSON (pseudonym or email).

    Identity, invitations, consent, answers, comments, suggestions and emails: the copy
    a panellist may ask for (GDPR article 15). The audit log records who took it.
    """
    import json

    target = _study_or_fail(study)
    who = _actor(as_email, target)
    person = _panellist_or_fail(target, panellist)
    data = _commit_or_fail(lambda: privacy.export_panellist(person, who))
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    click.echo(f"Wrote {out}.", err=True)


@click.command("erase-panellist")
@click.argument("study")
@click.argument("panellist")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@as_option
@with_appcontext
def erase_panellist_command(study: str, panellist: str, yes: bool,
                            as_email: str | None) -> None:
    """Erase one PANELLIST's personal data from STUDY for good (pseudonym or email).

    Name, email and attributes are removed and their links stop working; their answers
    are kept under the pseudonym or deleted, as the study's `privacy.erasure` setting
    says (see docs/personal-data.md). This cannot be undone.
    """
    target = _study_or_fail(study)
    who = _actor(as_email, target)
    person = _panellist_or_fail(target, panellist)
    if person.is_erased:
        _fail(f"{person.pseudonym}'s personal data was erased already")
    answers = ("their answers are DELETED and the stored results recomputed"
               if target.erasure == "delete-answers"
               else "their answers stay under the pseudonym")
    if not yes:
        click.confirm(f"Erase the personal data of {person.pseudonym} from {target.slug} "
                      f"for good ({answers})?", abort=True)
    done = _commit_or_fail(lambda: privacy.erase_panellist(person, who))
    click.echo(f"Erased the personal data of {done['panellist']} from {target.slug}; "
               f"{answers}.")


@click.command("archive-study")
@click.argument("study")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@as_option
@with_appcontext
def archive_study_command(study: str, yes: bool, as_email: str | None) -> None:
    """Archive a finished STUDY; `purge-expired` deletes it after its retention date.

    Take the final export first (`delphi export STUDY --what raw --format json`).
    """
    target = _study_or_fail(study)
    who = _actor(as_email, target)
    if not yes:
        click.confirm(f"Archive {target.slug}? Have you taken the final export "
                      f"(delphi export {target.slug} --what raw --format json)?", abort=True)
    _commit_or_fail(lambda: privacy.archive_study(target, who))
    until = target.retention_until
    click.echo(f"{target.slug} is archived; " + (
        f"it will be deleted after {until:%Y-%m-%d}." if until else
        "it has no retention date (privacy.retention_days), so it is kept."))


@click.command("purge-expired")
@as_option
@with_appcontext
def purge_expired_command(as_email: str | None) -> None:
    """Delete every archived study whose retention date has passed, and password resets
    and team invitations whose link expired over 30 days ago (send-mail --loop does
    this too)."""
    who = _actor(as_email, None)
    deleted = purge_expired(who)
    click.echo(f"{len(deleted)} expired studies deleted"
               + (f": {', '.join(deleted)}." if deleted else "."))
    with unit_of_work():
        resets, invitations = links.purge_spent_links()
    click.echo(f"{resets} password resets and {invitations} team invitations deleted "
               f"({links.SPENT_LINK_DAYS} days after their link expired).")


def purge_expired(actor: Actor) -> list[str]:
    """Delete the archived studies past their retention date, each in its own transaction."""
    deleted = []
    for study_id in [s.id for s in privacy.expired_studies()]:
        try:
            with unit_of_work():
                slug = _delete_if_expired(study_id, actor)
        except Exception:
            current_app.logger.exception("deleting expired study id %s failed", study_id)
            continue
        if slug is None:
            continue
        deleted.append(slug)
        current_app.logger.info("deleted study %s after its retention date", slug)
    return deleted


def _delete_if_expired(study_id: int, actor: Actor) -> str | None:
    """Delete the study if it is (still) past its retention date; its slug, or None."""
    study = db.session.get(Study, study_id)
    if study is None or study not in privacy.expired_studies():
        return None
    slug = study.slug
    privacy.delete_study(study, actor)
    return slug


def periodic_jobs(purge: bool = True) -> None:
    """Close the rounds whose deadline has passed, each in its own transaction: one that
    fails (or that another worker closes first) does not keep the others open; then
    (``purge``) delete the archived studies past their retention date."""
    now = mail.utcnow()
    for round_id in round_ops.due_round_ids(now):
        try:
            with unit_of_work():
                rnd = round_ops.close_due_round(round_id, now)
        except Exception:
            current_app.logger.exception("closing round id %s at its deadline failed", round_id)
            continue
        if rnd is not None:
            current_app.logger.info("closed round %s of %s at its deadline", rnd.number,
                                    rnd.study.slug)
    try:
        round_ops.due_reminders(now)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("queueing the scheduled reminders failed")
    try:
        from . import webhooks

        webhooks.deliver_due()
    except Exception:
        db.session.rollback()
        current_app.logger.exception("delivering webhooks failed")
    if purge:
        purge_expired("system:retention")
        try:
            with unit_of_work():
                links.purge_spent_links()
        except Exception:
            current_app.logger.exception("deleting spent resets and invitations failed")


@click.command("send-mail")
@click.option("--loop", is_flag=True, help="Keep running, delivering new mail as it comes.")
@click.option("--interval", default=5.0, show_default=True,
              help="Seconds between passes with --loop.")
@with_appcontext
def send_mail_command(loop: bool, interval: float) -> None:
    """Deliver the outbox over SMTP (and post due webhooks, close rounds whose deadline
    passed, delete archived studies past their retention date)."""
    if not mail.smtp_configured():
        click.echo("DELPHI_SMTP_HOST is not set: messages stay in the outbox.", err=True)
    try:
        ok = mail.run_worker(once=not loop, interval=interval, jobs=periodic_jobs)
    except KeyboardInterrupt:
        click.echo("stopped")
        return
    if not ok:
        _fail("the mail pass failed; the log says why")


@click.command("close-due-rounds")
@with_appcontext
def close_due_rounds_command() -> None:
    """Close every open round whose deadline has passed (send-mail --loop does this too)."""
    periodic_jobs(purge=False)


@click.command("rebuild-pages")
@with_appcontext
def rebuild_pages_command() -> None:
    """Render again the stored statements and feedback of every open round.

    Run it after an upgrade that changed the voting page's templates: until then the
    pages of rounds launched before are rendered afresh on every view (correct, slower).
    """
    import sqlalchemy as sa

    from .models import Round, RoundState
    from .results.blocks import store_round_blocks
    from .uow import unit_of_work

    with unit_of_work():
        rounds = db.session.scalars(sa.select(Round).where(Round.state == RoundState.OPEN)
                                    .order_by(Round.id)).all()
        counts = [store_round_blocks(rnd) for rnd in rounds]
    click.echo(f"{sum(counts)} statements of {len(rounds)} open rounds rendered and stored.")


APP_COMMANDS = [
    launch_round_command,
    close_round_command,
    remind_command,
    send_mail_command,
    close_due_rounds_command,
    create_facilitator_command,
    add_facilitator_command,
    make_admin_command,
    import_survey_command,
    export_survey_command,
    import_panel_command,
    export_command,
    export_panellist_command,
    erase_panellist_command,
    archive_study_command,
    purge_expired_command,
    rebuild_pages_command,
    api_token_command,
]
main.add_command(analyze_command)
for _command in APP_COMMANDS:
    main.add_command(_command)
main.add_command(migrate_commands, "db")
